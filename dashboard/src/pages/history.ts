// History: an app's runs, in one environment or all, and a host's last deployments; a page of
// the api's list at a time, older pages through its next_cursor.

import type { Ctx } from '../ctx';
import { h } from '../dom';
import { appHistoryHref, appRunRow, hostRunRow, type AppRunRow } from '../history';
import type { Key } from '../i18n';
import { badge, empty, table } from '../ui';

/** Rows per page. */
const HISTORY_PAGE = 20;

/** The cursors of the pages from the newest to the shown one, by list: the page is rebuilt on
 * every poll and must stay on the page it shows. */
const cursors = new Map<string, (string | null)[]>();

function stackOf(key: string): (string | null)[] {
  let stack = cursors.get(key);
  if (!stack) {
    stack = [null];
    cursors.set(key, stack);
  }
  return stack;
}

function pager(ctx: Ctx, stack: (string | null)[], next: string | null): HTMLElement {
  const { t } = ctx;
  return h(
    'div',
    { class: 'row pager' },
    h(
      'button',
      { type: 'button', class: 'btn small', id: 'history-newer', disabled: stack.length === 1, onclick: () => { stack.pop(); ctx.refresh(); } },
      t('history.newer'),
    ),
    h('span', { class: 'muted small' }, t('history.page', { n: stack.length })),
    h(
      'button',
      { type: 'button', class: 'btn small', id: 'history-older', disabled: next === null, onclick: () => { if (next) stack.push(next); ctx.refresh(); } },
      t('history.older'),
    ),
  );
}

function deploymentLink(id: string): HTMLElement {
  return h('a', { class: 'mono', href: `#/deployments/${encodeURIComponent(id)}` }, id);
}

function appRunCells(ctx: Ctx, r: AppRunRow, withEnv: boolean): (Node | string)[] {
  const { t } = ctx;
  return [
    h('span', null, h('span', { class: 'mono' }, r.version), r.revert ? [' ', h('span', { class: 'badge tone-warn', 'data-revert': 'true' }, t('history.revert'))] : null),
    ...(withEnv ? [r.environment] : []),
    h('span', null, badge(t, r.outcome), r.failedTarget ? h('span', { class: 'muted small' }, ` ${t('history.failed_on', { target: r.failedTarget })}`) : null),
    r.appStatus ? badge(t, r.appStatus) : h('span', { class: 'muted' }, t('history.not_started')),
    r.when,
    r.duration,
    r.confirmedBy,
    r.gates.length === 0 ? '—' : h('ul', { class: 'plain' }, r.gates.map((g) => h('li', { class: 'run-gate' }, g))),
    String(r.targets),
    deploymentLink(r.deployment),
  ];
}

export async function appHistoryPage(ctx: Ctx, app: string, env: string | null): Promise<HTMLElement> {
  const { api, t } = ctx;
  const stack = stackOf(`app\u0000${app}\u0000${env ?? ''}`);
  const [runs, view] = await Promise.all([
    api.appHistory(app, env, HISTORY_PAGE, stack[stack.length - 1]),
    // Only for the environment links: without them the runs are still shown.
    api.app(app).catch(() => null),
  ]);
  const envs = [...new Set([...(view?.environments.map((e) => e.environment) ?? []), ...(env ? [env] : [])])];
  const rows = runs.items.map((r) => appRunRow(t, r));
  const head: Key[] = ['col.version', ...(env ? [] : ['col.environment' as const]), 'col.outcome', 'col.app_status', 'col.started', 'col.duration', 'col.confirmed_by', 'col.gates', 'col.targets', 'col.deployment'];
  return h(
    'div',
    { class: 'stack' },
    h('header', { class: 'page-head' }, h('p', { class: 'muted' }, h('a', { href: '#/apps' }, t('nav.apps')), ' / ', app), h('h1', null, t('history.app_title', { app }))),
    h(
      'nav',
      { class: 'row tabs', 'aria-label': t('history.environments') },
      [null, ...envs].map((e) =>
        h('a', { class: 'btn small', href: appHistoryHref(app, e), 'aria-current': e === env ? 'page' : undefined }, e ?? t('history.all_environments')),
      ),
    ),
    h(
      'section',
      { class: 'panel history', id: 'app-history', 'aria-labelledby': 'history-title' },
      h('h2', { id: 'history-title' }, env ? t('history.in_env', { env }) : t('history.all_environments')),
      rows.length === 0
        ? empty(t, 'history.none')
        : table(
            t,
            head,
            rows.map((r) => appRunCells(ctx, r, env === null)),
            rows.map((r) => ({ 'data-deployment': r.deployment, 'data-version': r.version, 'data-env': r.environment })),
          ),
      pager(ctx, stack, runs.next_cursor),
    ),
  );
}

export async function hostHistoryPage(ctx: Ctx, env: string, host: string): Promise<HTMLElement> {
  const { api, t } = ctx;
  const stack = stackOf(`host\u0000${env}\u0000${host}`);
  const runs = await api.hostHistory(env, host, HISTORY_PAGE, stack[stack.length - 1]);
  const rows = runs.items.map(hostRunRow);
  return h(
    'div',
    { class: 'stack' },
    h(
      'header',
      { class: 'page-head' },
      h('p', { class: 'muted' }, h('a', { href: '#/agents' }, t('nav.agents')), ' / ', host),
      h('h1', null, t('history.host_title', { host })),
      h('p', { class: 'muted' }, t('history.host_env', { env })),
    ),
    h(
      'section',
      { class: 'panel history', id: 'host-history', 'aria-labelledby': 'history-title' },
      h('h2', { id: 'history-title' }, t('history.last_deployments')),
      rows.length === 0
        ? empty(t, 'history.host_none')
        : table(
            t,
            ['col.ended', 'col.app', 'col.version', 'col.outcome', 'col.host_status', 'col.deployment'],
            rows.map((r) => [
              r.ended,
              h('a', { href: appHistoryHref(r.app, env) }, r.app),
              h('span', { class: 'mono' }, r.version),
              badge(t, r.outcome),
              r.status ? badge(t, r.status) : h('span', { class: 'muted' }, t('history.not_started')),
              deploymentLink(r.deployment),
            ]),
            rows.map((r) => ({ 'data-deployment': r.deployment, 'data-app': r.app, 'data-version': r.version })),
          ),
      pager(ctx, stack, runs.next_cursor),
    ),
  );
}
