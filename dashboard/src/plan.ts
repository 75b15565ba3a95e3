// Plan editor logic: the plan as columns, and the adjustments each edit sends to the api.
// Stage numbers count from 1 as the api and people count them; the api validates every rule.

import type { Adjustment, AppPlan, BatchSize, Plan } from './api.gen';

export interface Card {
  app: string;
  kind: AppPlan['kind'];
  stage: number;
  targets: number;
  batches: string[];
  pause: string;
  dependsOn: string[];
  currentVersion: string | null;
}

export interface Column {
  stage: number;
  parallelism: number;
  cards: Card[];
}

/** Stages as columns of cards, in run order. */
export function planColumns(plan: Plan): Column[] {
  return plan.stages.map((stage, i) => ({
    stage: i + 1,
    parallelism: stage.parallelism,
    cards: stage.apps.map((a) => ({
      app: a.app,
      kind: a.kind,
      stage: i + 1,
      targets: a.targets.length,
      batches: a.batch_sizes.map(batchLabel),
      pause: a.pause,
      dependsOn: a.depends_on ?? [],
      currentVersion: a.current_version ?? null,
    })),
  }));
}

/** Past this many apps in all, the editor folds each stage and windows its cards. */
export const LARGE_PLAN_APPS = 50;

export function isLargePlan(plan: Plan): boolean {
  return plan.stages.reduce((n, s) => n + s.apps.length, 0) > LARGE_PLAN_APPS;
}

export interface StageCounts {
  apps: number;
  targets: number;
  batches: number;
  gates: number;
}

/** What a folded stage says about itself. */
export function stageCounts(stage: Plan['stages'][number]): StageCounts {
  const counts = { apps: stage.apps.length, targets: 0, batches: 0, gates: 0 };
  for (const a of stage.apps) {
    counts.targets += a.targets.length;
    counts.batches += a.batches.length;
    counts.gates += a.batches.filter((b) => b.pause.type === 'gate').length;
  }
  return counts;
}

export function batchLabel(size: BatchSize): string {
  return typeof size === 'number' ? String(size) : size;
}

/** The stage (from 1) an app is in, or 0 when it is not in the plan. */
export function stageOf(plan: Plan, app: string): number {
  const i = plan.stages.findIndex((s) => s.apps.some((a) => a.app === app));
  return i + 1;
}

/** Where an app can be moved: existing stages, or a new stage placed after stage `after` (0 = first). */
export type Destination = { kind: 'stage'; stage: number } | { kind: 'new'; after: number };

export function destinationKey(d: Destination): string {
  return d.kind === 'stage' ? `stage:${d.stage}` : `new:${d.after}`;
}

export function parseDestination(key: string): Destination | null {
  const m = /^(stage|new):(\d+)$/.exec(key);
  if (!m) return null;
  const n = Number(m[2]);
  return m[1] === 'stage' ? { kind: 'stage', stage: n } : { kind: 'new', after: n };
}

/** Every move of `app` that changes the plan. */
export function destinations(plan: Plan, app: string): Destination[] {
  const from = stageOf(plan, app);
  if (from === 0) return [];
  const alone = plan.stages[from - 1].apps.length === 1;
  const out: Destination[] = [];
  for (let s = 1; s <= plan.stages.length; s++) {
    if (s !== from) out.push({ kind: 'stage', stage: s });
  }
  for (let after = 0; after <= plan.stages.length; after++) {
    // Alone in its stage, a new stage right before or after it is where it already is.
    if (alone && (after === from - 1 || after === from)) continue;
    out.push({ kind: 'new', after });
  }
  return out;
}

/**
 * The adjustments that move `app` to `dest`. A move into a new stage is a split (the app leaves
 * for a stage of its own right after its current one) followed by a stage move; the api applies
 * the list all-or-nothing.
 */
export function moveAdjustments(plan: Plan, app: string, dest: Destination): Adjustment[] {
  const from = stageOf(plan, app);
  if (from === 0) throw new Error(`app ${app} is not in the plan`);
  if (dest.kind === 'stage') {
    return dest.stage === from ? [] : [{ op: 'move_app', app, stage: dest.stage }];
  }
  const alone = plan.stages[from - 1].apps.length === 1;
  if (alone) {
    // Removing the stage shifts the later ones up: "after stage k" is position k for later k.
    const to = dest.after >= from ? dest.after : dest.after + 1;
    return to === from ? [] : [{ op: 'move_stage', stage: from, to }];
  }
  const split: Adjustment = { op: 'split_stage', stage: from, apps: [app] };
  // After the split the app is stage from+1; moving it back out of the list leaves the original
  // stages, so inserting it at after+1 puts it right after original stage `after`.
  const own = from + 1;
  const to = dest.after + 1;
  return to === own ? [split] : [split, { op: 'move_stage', stage: own, to }];
}

/** Moves a whole stage one place earlier (-1) or later (+1); null at the ends. */
export function shiftStage(plan: Plan, stage: number, by: -1 | 1): Adjustment | null {
  const to = stage + by;
  if (to < 1 || to > plan.stages.length) return null;
  return { op: 'move_stage', stage, to };
}

/** Parses "1, 50%, 100%" into batch sizes; throws with the offending part named. */
export function parseBatches(text: string): BatchSize[] {
  const parts = text
    .split(/[,，\s]+/)
    .map((p) => p.trim())
    .filter((p) => p !== '');
  if (parts.length === 0) throw new BatchParseError('', 'empty');
  return parts.map((p) => {
    if (/^\d+$/.test(p)) return Number(p);
    if (/^\d+(\.\d+)?%$/.test(p)) return p;
    throw new BatchParseError(p, 'bad_part');
  });
}

export class BatchParseError extends Error {
  constructor(
    readonly part: string,
    readonly reason: 'empty' | 'bad_part',
  ) {
    super(reason === 'empty' ? 'no batch sizes' : `not a count or a percentage: ${part}`);
  }
}

/** Normalizes a pause as typed: "none", "manual" or a duration such as 30s, 5m, 1h30m. */
export function parsePause(text: string): string | null {
  const p = text.trim().toLowerCase();
  if (p === 'none' || p === 'manual') return p;
  if (/^(\d+h)?(\d+m)?(\d+s)?$/.test(p) && p !== '') return p;
  return null;
}

export function setBatches(app: string, batches: BatchSize[]): Adjustment {
  return { op: 'set_batches', app, batches };
}

export function setPause(app: string, pause: string): Adjustment {
  return { op: 'set_pause', app, pause };
}

export function dropApp(app: string): Adjustment {
  return { op: 'drop_app', app };
}

export function mergeStages(stage: number): Adjustment {
  return { op: 'merge_stages', stage };
}
