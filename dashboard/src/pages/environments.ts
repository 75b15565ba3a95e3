import type { EnvironmentOfRepository, EnvironmentView, FreezeBlock, OnRunning, Promotion, WindowView } from '../api.gen';
import type { Ctx, T } from '../ctx';
import { h } from '../dom';
import { formatTime } from '../format';
import type { Key } from '../i18n';
import { empty, holdReasons, table } from '../ui';

const BLOCKS: Record<FreezeBlock, Key> = { start: 'env.block_start', batches: 'env.block_batches' };
const RUNNING: Record<OnRunning, Key> = { finish: 'env.running_finish', pause: 'env.running_pause', abort: 'env.running_abort' };

export async function environmentsPage(ctx: Ctx): Promise<HTMLElement> {
  const { api, t } = ctx;
  const envs = await api.environments();
  return h(
    'div',
    { class: 'stack' },
    h('h1', null, t('nav.environments')),
    h('p', { class: 'muted intro' }, t('env.help')),
    envs.items.length === 0 ? empty(t, 'env.none') : null,
    envs.items.map((e) => environment(t, e)),
  );
}

function environment(t: T, e: EnvironmentView): HTMLElement {
  const id = `env-${e.name.replace(/[^\w-]/g, '_')}`;
  return h(
    'section',
    { class: 'panel environment stack', 'aria-labelledby': id, 'data-env': e.name, 'data-frozen': String(e.frozen) },
    h(
      'div',
      { class: 'env-head' },
      h('h2', { id }, e.name),
      e.frozen
        ? [
            h('span', { class: 'badge tone-bad' }, t('env.frozen')),
            h('span', { class: 'opens' }, e.opens_at ? t('env.opens_at', { at: formatTime(e.opens_at) }) : t('env.opens_unknown')),
          ]
        : h('span', { class: 'badge tone-ok' }, t('env.open')),
    ),
    h('h3', null, t('env.promotion')),
    e.repositories.length === 0
      ? empty(t, 'env.no_repositories')
      : table(t, ['col.repository', 'col.promotion', 'col.starts', 'col.declared_in'], e.repositories.map((r) => repositoryRow(t, r))),
    h('h3', null, t('env.windows')),
    e.windows.length === 0
      ? empty(t, 'env.no_windows')
      : table(t, ['col.window', 'col.reason', 'col.when', 'col.apps', 'col.blocks', 'col.running'], e.windows.map((w) => windowRow(t, w))),
    h('h3', null, t('env.waiting')),
    e.waiting.length === 0
      ? empty(t, 'env.none_waiting')
      : h(
          'ul',
          { class: 'plain waiting' },
          e.waiting.map((w) =>
            h(
              'li',
              { 'data-deployment': w.id },
              h('a', { href: `#/deployments/${encodeURIComponent(w.id)}`, class: 'mono' }, w.id),
              ' ',
              h('span', { class: 'mono muted' }, `${w.repository}@${w.version}`),
              holdReasons(t, w.hold),
            ),
          ),
        ),
  );
}

function repositoryRow(t: T, r: EnvironmentOfRepository): (Node | string)[] {
  return [
    h('strong', { class: 'mono' }, r.repository),
    h('span', { class: 'promotion' }, promotionText(t, r.promotion)),
    r.auto_confirm ? t('env.auto_confirm') : t('env.confirmed'),
    h('span', { class: 'mono' }, r.version),
  ];
}

/** "after staging, soak 1h", or that any version goes. */
function promotionText(t: T, p: Promotion | null | undefined): string {
  const envs = p?.after.join(', ') ?? '';
  if (envs !== '' && p?.soak) return t('env.after_soak', { envs, d: p.soak });
  if (envs !== '') return t('env.after', { envs });
  return t('env.no_promotion');
}

function windowRow(t: T, w: WindowView): (Node | string)[] {
  return [
    h(
      'span',
      { 'data-window': w.name },
      h('strong', null, w.name),
      h('br'),
      h('span', { class: 'muted small' }, w.source === 'api' ? t('env.source_api') : t('env.source_repo', { repo: w.source })),
    ),
    h('span', { class: 'reason' }, w.reason),
    h(
      'span',
      { class: 'when' },
      w.active_until ? [h('span', { class: 'badge tone-warn' }, t('env.in_force')), ' ', t('env.until', { at: formatTime(w.active_until) })] : null,
      w.active_until && w.next_start ? h('br') : null,
      w.next_start ? t('env.next_start', { at: formatTime(w.next_start) }) : null,
      w.active_until || w.next_start ? null : h('span', { class: 'muted' }, t('env.no_start')),
    ),
    w.apps.length === 0 ? t('env.every_app') : h('span', { class: 'mono' }, w.apps.join(', ')),
    h('ul', { class: 'plain' }, w.blocks.map((b) => h('li', null, t(BLOCKS[b])))),
    t(RUNNING[w.running]),
  ];
}
