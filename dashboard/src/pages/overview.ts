import type { Ctx } from '../ctx';
import { h } from '../dom';
import { formatTime, shortCommit } from '../format';
import { needsAttention, versionState } from '../status';
import { badge, empty, section, table } from '../ui';

export async function overview(ctx: Ctx): Promise<HTMLElement> {
  const { api, t } = ctx;
  const [deployments, versions, agents] = await Promise.all([
    api.deployments(100),
    api.versions(20),
    api.agents(),
  ]);
  const open = deployments.items.filter((d) => needsAttention(d.status));
  const stale = agents.items.filter((a) => a.stale);
  const recent = versions.items.slice(0, 8);
  return h(
    'div',
    { class: 'stack' },
    h('h1', null, t('nav.overview')),
    section(
      t,
      'overview.attention',
      open.length === 0
        ? empty(t, 'overview.none_open')
        : table(
            t,
            ['col.deployment', 'col.repository', 'col.version', 'col.environment', 'col.status', 'col.created'],
            open.map((d) => [
              h('a', { href: `#/deployments/${encodeURIComponent(d.id)}` }, d.id),
              d.repository,
              d.version,
              d.environment,
              badge(t, d.status),
              formatTime(d.created_at),
            ]),
          ),
    ),
    h(
      'div',
      { class: 'two' },
      section(
        t,
        'overview.recent_versions',
        recent.length === 0
          ? empty(t, 'versions.none')
          : h(
              'ul',
              { class: 'plain' },
              recent.map((v) =>
                h(
                  'li',
                  null,
                  h('span', { class: 'mono' }, `${v.repository}@${v.name}`),
                  ' ',
                  badge(t, versionState(v)),
                  ' ',
                  h('span', { class: 'muted mono' }, shortCommit(v.commit)),
                ),
              ),
            ),
      ),
      section(
        t,
        'overview.stale_agents',
        stale.length === 0
          ? empty(t, 'overview.all_reporting')
          : h(
              'ul',
              { class: 'plain' },
              stale.map((a) =>
                h('li', null, h('strong', null, a.host), ` · ${a.environment} · `, t('agents.last_seen_at', { at: formatTime(a.last_seen) })),
              ),
            ),
      ),
    ),
    section(
      t,
      'overview.recent_deployments',
      deployments.items.length === 0
        ? empty(t, 'deployments.none')
        : table(
            t,
            ['col.deployment', 'col.version', 'col.environment', 'col.status', 'col.created'],
            deployments.items.slice(0, 15).map((d) => [
              h('a', { href: `#/deployments/${encodeURIComponent(d.id)}` }, d.id),
              `${d.repository}@${d.version}`,
              d.environment,
              badge(t, d.status),
              formatTime(d.created_at),
            ]),
          ),
    ),
  );
}
