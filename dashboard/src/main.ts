// The dashboard: sign-in, layout, hash routing and polling.

import './style.css';
import { Api, ApiError, loadApiBase } from './api';
import { drafts, type Ctx } from './ctx';
import { h, mount } from './dom';
import { LOCALES, getLocale, setLocale, translate, type Key, type Locale } from './i18n';
import { agentsPage } from './pages/agents';
import { repositoriesPage } from './pages/repositories';
import { appsPage } from './pages/apps';
import { deploymentPage } from './pages/deployment';
import { environmentsPage } from './pages/environments';
import { appHistoryPage, hostHistoryPage } from './pages/history';
import { overview } from './pages/overview';
import { versionsPage } from './pages/versions';
import { isLive } from './progress';
import type { Role } from './api.gen';
import { errorBox } from './ui';

const TOKEN_KEY = 'boreas.token';
const ROLE_KEY = 'boreas.role';
/** Live deployments refresh this often. */
const POLL_MS = 2000;
/** Other pages refresh this often. */
const SLOW_POLL_MS = 10000;

const root = document.getElementById('app') as HTMLElement;
let apiBase = '';
let session: { api: Api; role: Role } | null = null;
let timer: number | undefined;
let loadError: unknown = null;
let generation = 0;
let shown = '';

const t = (key: Key, vars?: Record<string, string | number>) => translate(getLocale(), key, vars);

/** The page, and what follows it: whole (a deployment id) and as its segments, each decoded. */
function route(): { page: string; arg: string; args: string[] } {
  const parts = location.hash.replace(/^#\/?/, '').split('/');
  const rest = parts.slice(1).filter((p) => p !== '');
  return { page: parts[0] || 'overview', arg: decodeURIComponent(parts.slice(1).join('/')), args: rest.map(decodeURIComponent) };
}

async function start(): Promise<void> {
  apiBase = await loadApiBase();
  const token = sessionStorage.getItem(TOKEN_KEY);
  const role = sessionStorage.getItem(ROLE_KEY) as Role | null;
  if (token && role) session = { api: new Api(apiBase, token), role };
  document.documentElement.lang = getLocale() === 'zh' ? 'zh-CN' : 'en';
  window.addEventListener('hashchange', () => {
    loadError = null;
    void render();
  });
  await render();
}

function signOut(): void {
  sessionStorage.removeItem(TOKEN_KEY);
  sessionStorage.removeItem(ROLE_KEY);
  session = null;
  drafts.clear();
  void render();
}

function signIn(error: unknown): HTMLElement {
  let busy = false;
  return h(
    'main',
    { class: 'signin', id: 'main' },
    h(
      'form',
      {
        class: 'panel signin-form',
        'aria-labelledby': 'signin-title',
        onsubmit: async (ev: Event) => {
          ev.preventDefault();
          if (busy) return;
          busy = true;
          const token = (document.getElementById('token') as HTMLInputElement).value.trim();
          const api = new Api(apiBase, token);
          try {
            const role = await api.role();
            sessionStorage.setItem(TOKEN_KEY, token);
            sessionStorage.setItem(ROLE_KEY, role);
            session = { api, role };
            loadError = null;
            await render();
          } catch (e) {
            mount(root, signIn(e));
          }
        },
      },
      h('div', { class: 'brand big' }, h('span', { class: 'logo', 'aria-hidden': 'true' }, '❄'), 'Boreas'),
      h('h1', { id: 'signin-title' }, t('signin.title')),
      h('p', { class: 'muted' }, t('signin.help')),
      h('label', { for: 'token' }, t('signin.token')),
      h('input', { id: 'token', type: 'password', required: true, autocomplete: 'off', spellcheck: 'false' }),
      error ? errorBox(t, error, 'signin-error') : null,
      h('button', { class: 'btn primary', type: 'submit' }, t('signin.submit')),
      h('p', { class: 'muted small' }, t('signin.api', { url: apiBase || location.origin })),
      localePicker(),
    ),
  );
}

function localePicker(): HTMLElement {
  return h(
    'div',
    { class: 'locale' },
    h('label', { for: 'locale' }, t('nav.language')),
    h(
      'select',
      {
        id: 'locale',
        onchange: (ev: Event) => {
          setLocale((ev.target as HTMLSelectElement).value as Locale);
          document.documentElement.lang = getLocale() === 'zh' ? 'zh-CN' : 'en';
          void render();
        },
      },
      LOCALES.map((l) => h('option', { value: l.id, selected: l.id === getLocale() }, l.name)),
    ),
  );
}

function layout(page: string, content: Node): HTMLElement {
  const link = (id: string, key: Key) =>
    h('a', { href: `#/${id}`, 'aria-current': page === id ? 'page' : undefined }, t(key));
  return h(
    'div',
    { class: 'shell' },
    h('a', { class: 'skip', href: '#main', onclick: (ev: Event) => { ev.preventDefault(); document.getElementById('main')?.focus(); } }, t('nav.skip')),
    h(
      'header',
      { class: 'topbar' },
      h('div', { class: 'brand' }, h('span', { class: 'logo', 'aria-hidden': 'true' }, '❄'), 'Boreas'),
      h(
        'nav',
        { 'aria-label': t('nav.main') },
        link('overview', 'nav.overview'),
        link('versions', 'nav.versions'),
        link('environments', 'nav.environments'),
        link('apps', 'nav.apps'),
        link('agents', 'nav.agents'),
        link('repositories', 'nav.repositories'),
      ),
      h(
        'div',
        { class: 'row' },
        h('span', { class: 'role', title: t('nav.role') }, t(`role.${session?.role ?? 'viewer'}` as Key)),
        localePicker(),
        h('button', { class: 'btn small', onclick: signOut }, t('nav.sign_out')),
      ),
    ),
    h('main', { id: 'main', tabindex: '-1' }, content),
  );
}

async function render(): Promise<void> {
  window.clearTimeout(timer);
  const mine = ++generation;
  if (!session) {
    shown = '';
    mount(root, signIn(loadError));
    return;
  }
  const { page, arg, args } = route();
  const ctx: Ctx = {
    api: session.api,
    role: session.role,
    t,
    refresh: () => void render(),
  };
  let content: HTMLElement;
  let poll = SLOW_POLL_MS;
  try {
    switch (page) {
      case 'versions':
        content = await versionsPage(ctx);
        break;
      case 'environments':
        content = await environmentsPage(ctx);
        break;
      case 'apps':
        content = args.length > 0 ? await appHistoryPage(ctx, args[0], args[1] ?? null) : await appsPage(ctx);
        break;
      case 'agents':
        content = args.length > 1 ? await hostHistoryPage(ctx, args[0], args[1]) : await agentsPage(ctx);
        break;
      case 'repositories':
        content = await repositoriesPage(ctx);
        break;
      case 'deployments':
        content = await deploymentPage(ctx, arg);
        poll = isLive(content.querySelector('[data-status]')?.getAttribute('data-status') ?? '') ? POLL_MS : SLOW_POLL_MS;
        break;
      default:
        content = await overview(ctx);
    }
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) {
      // The token was revoked or is wrong: back to the sign-in form, saying why.
      sessionStorage.removeItem(TOKEN_KEY);
      session = null;
      loadError = e;
      if (mine === generation) {
        shown = '';
        mount(root, signIn(e));
      }
      return;
    }
    content = h('div', { class: 'stack' }, errorBox(t, e, 'page-error'));
  }
  if (mine !== generation) return;
  const shell = layout(page, content);
  // An unchanged page is left alone, so a poll never disturbs focus, an open list or typing.
  if (shell.outerHTML !== shown) {
    shown = shell.outerHTML;
    mount(root, shell);
  }
  timer = window.setTimeout(() => void render(), poll);
}

void start();
