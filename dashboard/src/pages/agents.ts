import type { Ctx } from '../ctx';
import { h } from '../dom';
import { formatTime } from '../format';
import { hostHistoryHref } from '../history';
import { badge, empty, table } from '../ui';

export async function agentsPage(ctx: Ctx): Promise<HTMLElement> {
  const { api, t } = ctx;
  const agents = await api.agents();
  return h(
    'div',
    { class: 'stack' },
    h('h1', null, t('nav.agents')),
    h(
      'section',
      { class: 'panel', 'aria-label': t('nav.agents') },
      agents.items.length === 0
        ? empty(t, 'agents.none')
        : table(
            t,
            ['col.host', 'col.environment', 'col.group', 'col.last_seen', 'col.runs'],
            agents.items.map((a) => [
              h('a', { class: 'mono host-link', href: hostHistoryHref(a.environment, a.host), title: t('agents.history_of', { host: a.host }) }, h('strong', null, a.host)),
              a.environment,
              a.group,
              h(
                'span',
                null,
                formatTime(a.last_seen),
                ' ',
                a.unreachable
                  ? h('span', { class: 'badge tone-bad' }, t('agents.unreachable'))
                  : a.stale
                    ? h('span', { class: 'badge tone-bad' }, t('agents.stale'))
                    : h('span', { class: 'badge tone-ok' }, t('agents.reporting')),
              ),
              (a.apps ?? []).length === 0
                ? h('span', { class: 'muted' }, t('agents.nothing'))
                : h(
                    'ul',
                    { class: 'plain' },
                    a.apps.map((x) =>
                      h(
                        'li',
                        null,
                        h('span', { class: 'mono' }, `${x.app}@${x.version ?? '—'}`),
                        ' ',
                        badge(t, x.healthy ? 'healthy' : 'unhealthy'),
                      ),
                    ),
                  ),
            ]),
          ),
    ),
  );
}
