// The plan review: why each app is in the plan or left out, which version each host reports, and
// what a confirmation starts. Words come from `t`, so the page and the tests share them.

import type { Agent, AppReason, Plan, PlanReview, SkipReason } from './api.gen';
import type { T } from './ctx';
import { stageCounts } from './plan';

export function skipText(t: T, reason: SkipReason): string {
  switch (reason) {
    case 'not_affected':
      return t('skip.not_affected');
    case 'up_to_date':
      return t('skip.up_to_date');
    case 'no_targets':
      return t('skip.no_targets');
    case 'dropped':
      return t('skip.dropped');
  }
}

/**
 * Why an app is in the plan or out, in a sentence: "changed (3 paths)", "follows db, which
 * changed", "changed, but already runs this version". `skipped` is the current plan's word on
 * the app (null while it is in the plan), since a person may have dropped it after planning.
 */
export function reasonText(t: T, r: AppReason | undefined, skipped: SkipReason | null): string {
  if (!r) return skipped ? skipText(t, skipped) : t('review.no_reason');
  let why: string;
  switch (r.why.code) {
    case 'first_deployment':
      why = t('review.first_deployment');
      break;
    case 'changed':
      why = r.matched_paths === 1 ? t('review.changed_one') : t('review.changed', { n: r.matched_paths });
      break;
    case 'follows':
      why = t('review.follows', { dependency: r.why.dependency });
      break;
    case 'unchanged':
      return skipText(t, skipped ?? 'not_affected');
  }
  return skipped ? t('review.but', { why, skipped: skipText(t, skipped) }) : why;
}

/** The review's reasons by app name. */
export function reasonsByApp(review: PlanReview | null | undefined): Map<string, AppReason> {
  return new Map((review?.apps ?? []).map((r) => [r.app, r]));
}

/** What one host runs of an app: a version, nothing (it reports, without the app), or unknown. */
export type HostVersion = { kind: 'version'; version: string } | { kind: 'none' } | { kind: 'unknown' };

/** Each reporting host's apps and their versions, from the agents' last inventories. */
export type Reported = Map<string, Map<string, string | null>>;

export function reportedVersions(agents: Agent[]): Reported {
  return new Map(agents.map((a) => [a.host, new Map((a.apps ?? []).map((x) => [x.app, x.version]))]));
}

export function hostVersion(reported: Reported, host: string, app: string): HostVersion {
  const apps = reported.get(host);
  if (!apps) return { kind: 'unknown' };
  const version = apps.get(app);
  return version ? { kind: 'version', version } : { kind: 'none' };
}

export function hostVersionText(t: T, v: HostVersion): string {
  if (v.kind === 'version') return v.version;
  return v.kind === 'none' ? t('review.host_none') : t('review.host_unknown');
}

/** What pressing Confirm starts, counted for the one-screen summary. */
export interface ConfirmSummary {
  stages: { stage: number; apps: string[] }[];
  apps: number;
  batches: number;
  targets: number;
  gates: string[];
  /** Apps left out, grouped by why, in the order of SKIP_ORDER. */
  skipped: { reason: SkipReason; apps: string[] }[];
  /** Lines of difference from the planner's proposal; null when no review was recorded. */
  adjustments: number | null;
}

const SKIP_ORDER: SkipReason[] = ['dropped', 'up_to_date', 'no_targets', 'not_affected'];

export function confirmSummary(plan: Plan, review: PlanReview | null | undefined): ConfirmSummary {
  const summary: ConfirmSummary = { stages: [], apps: 0, batches: 0, targets: 0, gates: [], skipped: [], adjustments: review ? review.adjustments.length : null };
  plan.stages.forEach((stage, i) => {
    const counts = stageCounts(stage);
    summary.stages.push({ stage: i + 1, apps: stage.apps.map((a) => a.app) });
    summary.apps += counts.apps;
    summary.batches += counts.batches;
    summary.targets += counts.targets;
    for (const a of stage.apps) for (const b of a.batches) if (b.pause.type === 'gate') summary.gates.push(b.pause.gate);
  });
  for (const reason of SKIP_ORDER) {
    const apps = (plan.skipped ?? []).filter((s) => s.reason === reason).map((s) => s.app);
    if (apps.length > 0) summary.skipped.push({ reason, apps });
  }
  return summary;
}

/** Names shown in one line of the summary; the rest are counted. */
const NAMES_SHOWN = 10;

/** "a, b, c" or, past `shown` names, "a, b, c and 7 more". */
export function someNames(t: T, names: string[], shown = NAMES_SHOWN): string {
  const listed = names.slice(0, shown).join(', ');
  return names.length > shown ? t('list.and_more', { list: listed, n: names.length - shown }) : listed;
}
