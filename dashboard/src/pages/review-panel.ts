// The plan review of a deployment: what ran before and the commits since, what people changed in
// the planner's proposal, then every stage, app and batch in run order with the hosts each batch
// changes and why each app is in the plan or left out. Long lists are drawn a window at a time.

import type { AppPlan, AppReason, BatchPlan, CommitSummary, DeploymentDetail, PlanReview } from '../api.gen';
import type { Ctx } from '../ctx';
import { h } from '../dom';
import { formatTime, shortCommit } from '../format';
import { appHistoryHref } from '../history';
import { isLargePlan, stageCounts } from '../plan';
import { hostVersion, hostVersionText, reasonText, reasonsByApp, type Reported } from '../review';
import { PAGE, disclosure, windowedList } from '../windowed';

/** Apps per window in a large plan's review: each lists the hosts of its batches. */
const APPS_PER_WINDOW = 20;

/**
 * The review panel. `reported` holds the versions hosts report, read while the deployment is
 * planned; null afterwards, when what a host reports no longer tells what it ran before.
 */
export function reviewPanel(ctx: Ctx, d: DeploymentDetail, reported: Reported | null): HTMLElement {
  const { t } = ctx;
  const body = (): HTMLElement => h('div', { class: 'stack review-body' }, ...reviewBody(ctx, d, reported));
  return h(
    'section',
    { class: 'panel review', id: 'plan-review', 'aria-labelledby': 'review-title' },
    h('h2', { id: 'review-title' }, t('review.title')),
    d.status === 'planned' ? body() : h('div', { class: 'fold' }, ...disclosure('review', t('review.show'), body)),
  );
}

function reviewBody(ctx: Ctx, d: DeploymentDetail, reported: Reported | null): (HTMLElement | null)[] {
  const { t } = ctx;
  const review = d.review ?? null;
  const reasons = reasonsByApp(review);
  return [
    review ? changeLine(ctx, d, review) : h('p', { class: 'muted' }, t('review.none')),
    review ? commits(ctx, review) : null,
    review ? adjustments(ctx, review) : null,
    h('h3', null, t('review.order')),
    h('p', { class: 'muted small' }, t('review.order_help')),
    h(
      'ol',
      { class: 'review-stages', 'aria-label': t('plan.stages') },
      d.plan.stages.map((_, i) => reviewStage(ctx, d, i + 1, reasons, reported)),
    ),
    skippedApps(ctx, d, reasons),
  ];
}

/** "From v1.0.0 (1a2b3c4d) to v1.0.1 · 3 commits · 2 changed paths", or a first deployment. */
function changeLine(ctx: Ctx, d: DeploymentDetail, review: PlanReview): HTMLElement {
  const { t } = ctx;
  const total = review.commits.length + review.more_commits;
  return h(
    'p',
    { class: 'review-change' },
    review.running
      ? h('span', null, t('review.from_to', { from: review.running.version, commit: shortCommit(review.running.commit), to: d.version }))
      : h('span', null, t('review.first', { env: d.environment })),
    review.running ? [' · ', h('span', { class: 'commit-count' }, t('review.commit_count', { n: total }))] : null,
    ' · ',
    h(
      'span',
      { class: 'changed-paths' },
      review.changed_paths == null ? t('review.paths_unknown') : t('review.changed_paths', { n: review.changed_paths }),
    ),
  );
}

function commits(ctx: Ctx, review: PlanReview): HTMLElement | null {
  const { t } = ctx;
  if (!review.running) return null;
  if (review.commits.length === 0) return h('p', { class: 'muted' }, t('review.no_commits'));
  const total = review.commits.length + review.more_commits;
  const list = (): HTMLElement =>
    h(
      'div',
      null,
      h('ol', { class: 'commits' }, review.commits.map(commitLine)),
      review.more_commits > 0 ? h('p', { class: 'muted small' }, t('review.more_commits', { n: review.more_commits })) : null,
    );
  return h('div', { class: 'fold' }, ...disclosure('review-commits', t('review.commits', { from: review.running.version, n: total }), list));
}

function commitLine(c: CommitSummary): HTMLElement {
  return h(
    'li',
    { class: 'commit', 'data-commit': c.id },
    h('span', { class: 'subject' }, c.subject),
    ' ',
    h('span', { class: 'muted small' }, c.author, ' · ', h('code', null, shortCommit(c.id)), ' · ', formatTime(c.at)),
  );
}

function adjustments(ctx: Ctx, review: PlanReview): HTMLElement {
  const { t } = ctx;
  return h(
    'div',
    { class: 'adjustments' },
    h('h3', null, t('review.adjustments')),
    review.adjustments.length === 0
      ? h('p', { class: 'muted', 'data-adjusted': 'false' }, t('review.not_adjusted'))
      : h('ul', { class: 'plain', 'data-adjusted': 'true' }, review.adjustments.map((line) => h('li', { class: 'adjustment' }, line))),
  );
}

function reviewStage(ctx: Ctx, d: DeploymentDetail, n: number, reasons: Map<string, AppReason>, reported: Reported | null): HTMLElement {
  const { t } = ctx;
  const { apps, parallelism } = d.plan.stages[n - 1];
  const render = (a: AppPlan) => reviewApp(ctx, d, a, reasons.get(a.app), reported);
  let body: (HTMLElement | null)[];
  if (isLargePlan(d.plan)) {
    const id = `review-stage-${n}`;
    const counts = stageCounts(d.plan.stages[n - 1]);
    const [toggle, region] = disclosure(id, t('plan.stage_apps', { n }), () =>
      windowedList(t, { id: `${id}-apps`, items: apps, name: (a) => a.app, render, tag: 'ul', listClass: 'review-apps', filterLabel: t('list.find_app'), size: APPS_PER_WINDOW }),
    );
    body = [h('p', { class: 'muted small review-counts' }, t('plan.stage_counts', { ...counts })), h('div', { class: 'fold' }, toggle, region)];
  } else {
    body = [h('ul', { class: 'review-apps' }, apps.map(render))];
  }
  return h(
    'li',
    { class: 'review-stage', 'data-review-stage': n },
    h('div', { class: 'stage-head' }, h('h4', null, t('plan.stage_n', { n })), h('span', { class: 'muted small' }, t('plan.parallelism', { n: parallelism }))),
    ...body,
  );
}

function reviewApp(ctx: Ctx, d: DeploymentDetail, a: AppPlan, r: AppReason | undefined, reported: Reported | null): HTMLElement {
  const { t } = ctx;
  const safe = a.app.replace(/[^\w-]/g, '_');
  return h(
    'li',
    { class: 'review-app', 'data-app': a.app },
    h(
      'div',
      { class: 'app-head' },
      h('a', { href: appHistoryHref(a.app, d.environment), title: t('apps.history_in', { app: a.app, env: d.environment }) }, h('strong', null, a.app)),
      h('span', { class: `kind kind-${a.kind}` }, a.kind === 'k8s' ? t('kind.k8s') : t('kind.pm')),
      h('span', { class: 'reason' }, reasonText(t, r, null)),
    ),
    h(
      'dl',
      { class: 'facts' },
      h('dt', null, reported ? t('plan.current') : t('review.ran_before')),
      h('dd', { class: 'mono' }, a.current_version ?? t('review.host_unknown')),
      (a.depends_on ?? []).length > 0 ? [h('dt', null, t('plan.depends_on')), h('dd', null, (a.depends_on ?? []).join(', '))] : null,
    ),
    r && r.paths && r.paths.length > 0 ? matchedPaths(ctx, `review-paths-${safe}`, r.paths, r.matched_paths) : null,
    h('ol', { class: 'review-batches' }, a.batches.map((b) => reviewBatch(ctx, a, b, reported))),
  );
}

function matchedPaths(ctx: Ctx, id: string, paths: string[], matched: number): HTMLElement {
  const { t } = ctx;
  const list = (): HTMLElement =>
    h(
      'div',
      null,
      h('ul', { class: 'plain paths' }, paths.map((p) => h('li', null, h('code', null, p)))),
      matched > paths.length ? h('p', { class: 'muted small' }, t('review.more_paths', { n: matched - paths.length })) : null,
    );
  return h('div', { class: 'fold' }, ...disclosure(id, t('review.paths', { n: matched }), list));
}

function reviewBatch(ctx: Ctx, a: AppPlan, b: BatchPlan, reported: Reported | null): HTMLElement {
  const { t } = ctx;
  const host = (target: string): HTMLElement =>
    h(
      'li',
      { class: 'review-host', 'data-host': target },
      h('span', { class: 'mono' }, target),
      reported ? h('span', { class: 'muted small host-version' }, hostVersionText(t, hostVersion(reported, target, a.app))) : null,
    );
  return h(
    'li',
    { class: 'review-batch', 'data-batch': b.index },
    h(
      'div',
      { class: 'batch-head' },
      h('span', null, t('progress.batch_n', { n: b.index + 1 })),
      b.weight != null ? h('span', { class: 'muted small' }, t('review.weight', { n: b.weight })) : null,
      h('span', { class: 'muted small' }, t(a.kind === 'k8s' ? 'review.clusters' : 'review.hosts', { n: b.targets.length })),
    ),
    b.targets.length <= PAGE
      ? h('ul', { class: 'review-hosts' }, b.targets.map(host))
      : windowedList(t, { id: `review-hosts-${a.app.replace(/[^\w-]/g, '_')}-${b.index}`, items: b.targets, name: (x) => x, render: host, tag: 'ul', listClass: 'review-hosts', filterLabel: t('list.find_host') }),
    b.pause.type === 'gate'
      ? h('p', { class: 'gate-line' }, h('span', { class: 'pause-icon', 'aria-hidden': 'true' }), t('review.then_gate', { gate: b.pause.gate }))
      : b.pause.type === 'wait'
        ? h('p', { class: 'gate-line muted small' }, t('progress.wait', { s: b.pause.seconds }))
        : null,
  );
}

/** The apps left out, each with why: the review's reason, with the current plan's word on it
 * (a person may have dropped an app the planner proposed). */
function skippedApps(ctx: Ctx, d: DeploymentDetail, reasons: Map<string, AppReason>): HTMLElement | null {
  const { t } = ctx;
  const skipped = d.plan.skipped ?? [];
  if (skipped.length === 0) return null;
  return h(
    'div',
    { class: 'review-skipped' },
    h('h3', null, t('plan.skipped')),
    windowedList(t, {
      id: 'review-skipped',
      items: skipped,
      name: (s) => s.app,
      render: (s) =>
        h(
          'li',
          { class: 'skipped-app', 'data-app': s.app, 'data-reason': s.reason },
          h('a', { href: appHistoryHref(s.app, d.environment) }, h('strong', null, s.app)),
          ' — ',
          h('span', { class: 'reason' }, reasonText(t, reasons.get(s.app), s.reason)),
        ),
      tag: 'ul',
      listClass: 'plain',
      filterLabel: t('list.find_app'),
    }),
  );
}
