import { can } from '../api';
import type { RegisteredRepository, Repository } from '../api.gen';
import { drafts, type Ctx } from '../ctx';
import { h } from '../dom';
import { formatTime } from '../format';
import type { Key } from '../i18n';
import { PROVIDERS, deliveryTone, repositoryRequest, type RepoForm } from '../repositories';
import { empty, errorBox, table } from '../ui';

/** A secret just created, shown until the admin dismisses it (the page is rebuilt every poll). */
let revealed: RegisteredRepository | null = null;
/** The last failure of a form, by where it belongs: `add` or a repository id. */
let failure: { at: string; error: unknown } | null = null;
/** A field the form itself refused. */
let invalid: { field: keyof RepoForm; error: Key } | null = null;

const FIELDS: [keyof RepoForm, Key, string][] = [
  ['fullName', 'repos.full_name', 'acme/shop'],
  ['cloneUrl', 'repos.clone_url', 'https://github.com/acme/shop.git'],
  ['host', 'repos.host', 'github.example.com'],
  ['triggers', 'repos.triggers', 'refs/tags/v*'],
  ['username', 'repos.username', 'x-access-token'],
];

const draft = (field: keyof RepoForm): string => drafts.get(`repo-${field}`) ?? (field === 'provider' ? 'github' : '');

function form(): RepoForm {
  return {
    fullName: draft('fullName'),
    provider: draft('provider'),
    cloneUrl: draft('cloneUrl'),
    host: draft('host'),
    triggers: draft('triggers'),
    token: draft('token'),
    username: draft('username'),
  };
}

async function act(ctx: Ctx, at: string, run: () => Promise<RegisteredRepository>): Promise<void> {
  try {
    revealed = await run();
    failure = null;
  } catch (e) {
    failure = { at, error: e };
  }
  ctx.refresh();
}

function failureAt(ctx: Ctx, at: string): HTMLElement | null {
  return failure?.at === at ? errorBox(ctx.t, failure.error, `repo-error-${at.replace(/\W/g, '_')}`) : null;
}

/** The secret and the provider's settings, once. */
function secretPanel(ctx: Ctx, r: RegisteredRepository): HTMLElement {
  const { t } = ctx;
  return h(
    'section',
    { class: 'panel notice', role: 'status', 'aria-labelledby': 'secret-title' },
    h('h2', { id: 'secret-title' }, t('repos.secret_title', { repo: r.full_name })),
    h('p', null, t('repos.secret_once')),
    h('p', null, h('code', { class: 'mono', id: 'webhook-secret' }, r.webhook_secret)),
    h('p', null, t('repos.setup_at'), ' ', h('span', { class: 'mono' }, r.setup.location)),
    table(t, ['repos.field', 'repos.value'], r.setup.fields.map((f) => [f.field, h('span', { class: 'mono' }, f.value)])),
    h('button', { class: 'btn', onclick: () => { revealed = null; ctx.refresh(); } }, t('repos.secret_done')),
  );
}

function addForm(ctx: Ctx): HTMLElement {
  const { t, api } = ctx;
  const input = (field: keyof RepoForm, label: Key, placeholder: string, type = 'text') =>
    h(
      'label',
      { class: 'field' },
      h('span', null, t(label)),
      h('input', {
        id: `repo-${field}`,
        type,
        value: draft(field),
        placeholder,
        autocomplete: 'off',
        'aria-invalid': invalid?.field === field ? 'true' : undefined,
        oninput: (ev: Event) => drafts.set(`repo-${field}`, (ev.target as HTMLInputElement).value),
      }),
      invalid?.field === field ? h('span', { class: 'error small', role: 'alert' }, t(invalid.error)) : null,
    );
  return h(
    'form',
    {
      class: 'panel stack',
      'aria-labelledby': 'add-title',
      onsubmit: (ev: Event) => {
        ev.preventDefault();
        const built = repositoryRequest(form());
        if ('error' in built) {
          invalid = built;
          ctx.refresh();
          return;
        }
        invalid = null;
        void act(ctx, 'add', async () => {
          const r = await api.addRepository(built.ok);
          for (const f of ['fullName', 'cloneUrl', 'host', 'triggers', 'token', 'username']) drafts.delete(`repo-${f}`);
          return r;
        });
      },
    },
    h('h2', { id: 'add-title' }, t('repos.add')),
    h('div', { class: 'row wrap' },
      FIELDS.slice(0, 2).map(([f, k, p]) => input(f, k, p)),
      h(
        'label',
        { class: 'field' },
        h('span', null, t('repos.provider')),
        h(
          'select',
          { id: 'repo-provider', onchange: (ev: Event) => drafts.set('repo-provider', (ev.target as HTMLSelectElement).value) },
          PROVIDERS.map((p) => h('option', { value: p, selected: draft('provider') === p }, p)),
        ),
      ),
    ),
    h('div', { class: 'row wrap' }, FIELDS.slice(2).map(([f, k, p]) => input(f, k, p)), input('token', 'repos.token', '', 'password')),
    h('p', { class: 'muted small' }, t('repos.add_hint')),
    h('div', { class: 'row' }, h('button', { class: 'btn primary', type: 'submit' }, t('repos.add_submit'))),
    failureAt(ctx, 'add'),
  );
}

function row(ctx: Ctx, r: Repository, admin: boolean): (Node | string)[] {
  const { t, api } = ctx;
  const d = r.last_delivery;
  const graceId = `grace-${r.id}`;
  return [
    h('span', null, h('strong', { class: 'mono' }, r.full_name), h('br'), h('span', { class: 'muted small' }, `${r.provider} · ${r.host}`)),
    h('span', { class: 'mono small url' }, r.webhook_url),
    h('span', { class: 'small' }, r.triggers.length === 0 ? t('repos.every_tag') : r.triggers.join(', ')),
    r.credential ? t(`repos.credential_${r.credential.kind}` as Key) : t('repos.anonymous'),
    d
      ? h(
          'span',
          { 'data-delivery': r.id },
          h('span', { class: `badge tone-${deliveryTone(d.status)}` }, `${d.status} ${d.outcome}`),
          ' ',
          h('span', { class: 'small' }, formatTime(d.at)),
          d.event ? h('span', { class: 'muted small' }, ` · ${d.event}`) : null,
          d.status >= 400 ? h('div', { class: 'small' }, d.message) : null,
        )
      : h('span', { class: 'muted' }, t('repos.no_delivery')),
    admin
      ? h(
          'span',
          { class: 'row' },
          h('input', {
            id: graceId,
            type: 'number',
            min: 0,
            max: 720,
            class: 'narrow',
            'aria-label': t('repos.grace_hours'),
            value: drafts.get(graceId) ?? '24',
            oninput: (ev: Event) => drafts.set(graceId, (ev.target as HTMLInputElement).value),
          }),
          h(
            'button',
            {
              class: 'btn small',
              onclick: () => {
                const hours = Number(drafts.get(graceId) ?? '24');
                void act(ctx, r.id, () => api.rotateSecret(r.id, Math.round(hours * 3600)));
              },
            },
            t('repos.rotate'),
          ),
          failureAt(ctx, r.id),
        )
      : '',
  ];
}

export async function repositoriesPage(ctx: Ctx): Promise<HTMLElement> {
  const { api, t, role } = ctx;
  const repos = await api.repositories();
  const admin = can(role, 'admin');
  const head: Key[] = ['repos.repository', 'repos.webhook_url', 'repos.triggers', 'repos.credential', 'repos.last_delivery'];
  if (admin) head.push('repos.rotate_title');
  return h(
    'div',
    { class: 'stack' },
    h('h1', null, t('nav.repositories')),
    revealed ? secretPanel(ctx, revealed) : null,
    h(
      'section',
      { class: 'panel', 'aria-label': t('nav.repositories') },
      repos.items.length === 0 ? empty(t, 'repos.none') : table(t, head, repos.items.map((r) => row(ctx, r, admin))),
    ),
    admin ? addForm(ctx) : null,
  );
}
