import type { Ctx } from '../ctx';
import { h } from '../dom';
import { coverageTone, formatCoverage } from '../format';
import { appHistoryHref } from '../history';
import { empty, table } from '../ui';

export async function appsPage(ctx: Ctx): Promise<HTMLElement> {
  const { api, t } = ctx;
  const apps = await api.apps();
  return h(
    'div',
    { class: 'stack' },
    h('h1', null, t('nav.apps')),
    apps.items.length === 0 ? empty(t, 'apps.none') : null,
    apps.items.map((app) =>
      h(
        'section',
        { class: 'panel', 'aria-label': app.name, 'data-app': app.name },
        h('h2', null, h('a', { href: appHistoryHref(app.name), title: t('apps.history_of', { app: app.name }) }, app.name)),
        table(
          t,
          ['col.environment', 'col.desired_version', 'col.coverage', 'col.drifted', 'col.unreported'],
          app.environments.map((e) => {
            const pct = formatCoverage(e.coverage);
            return [
              h(
                'span',
                null,
                e.environment,
                h('a', { class: 'muted small-link', href: appHistoryHref(app.name, e.environment), 'aria-label': t('apps.history_in', { app: app.name, env: e.environment }) }, t('apps.history')),
              ),
              e.desired_version
                ? h(
                    'span',
                    null,
                    h('span', { class: 'mono' }, e.desired_version),
                    e.desired_deployment
                      ? h('a', { class: 'muted small-link', href: `#/deployments/${encodeURIComponent(e.desired_deployment)}` }, t('apps.deployment_link'))
                      : null,
                  )
                : h('span', { class: 'muted' }, t('apps.no_desired')),
              h(
                'div',
                { class: 'coverage', 'data-env': e.environment },
                h(
                  'div',
                  {
                    class: `meter tone-${coverageTone(e.coverage)}`,
                    role: 'meter',
                    'aria-valuemin': 0,
                    'aria-valuemax': 100,
                    'aria-valuenow': Math.round((e.coverage ?? 0) * 100),
                    'aria-label': t('apps.coverage_of', { env: e.environment }),
                  },
                  h('span', { style: `width:${Math.round((e.coverage ?? 0) * 100)}%` }),
                ),
                h('span', { class: 'coverage-pct' }, pct),
                h('span', { class: 'muted' }, t('apps.covered', { covered: e.covered, targets: e.targets })),
              ),
              e.drifted.length === 0
                ? h('span', { class: 'muted' }, t('apps.no_drift'))
                : h(
                    'ul',
                    { class: 'plain' },
                    e.drifted.map((d) => h('li', { class: 'mono' }, `${d.target} → ${d.version}`)),
                  ),
              e.unreported.length === 0
                ? h('span', { class: 'muted' }, '—')
                : h('span', { class: 'mono' }, e.unreported.join(', ')),
            ];
          }),
        ),
      ),
    ),
  );
}
