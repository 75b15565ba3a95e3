// Live progress: the plan's stages → apps → batches → targets joined with the progress records.
// Anything without a record yet is `pending`.

import type { DecisionProgress, DeploymentDetail, GateProgress, PausePlan } from './api.gen';

export interface TargetView {
  app: string;
  target: string;
  status: string;
  updatedAt: string | null;
  errorType: string | null;
  error: string | null;
  /** Its latest failure under `rollout.on_failure: pause`: waiting (action null) or decided. */
  decision: DecisionProgress | null;
}

export interface BatchView {
  index: number;
  status: string;
  weight: number | null;
  startedAt: string | null;
  endedAt: string | null;
  pause: PausePlan;
  gate: GateProgress | null;
  targets: TargetView[];
}

export interface AppView {
  app: string;
  status: string;
  startedAt: string | null;
  endedAt: string | null;
  batches: BatchView[];
  done: number;
  total: number;
}

export interface StageView {
  stage: number;
  status: string;
  apps: AppView[];
}

export interface ProgressView {
  stages: StageView[];
  done: number;
  total: number;
  waitingGates: GateProgress[];
  /** Failed hosts whose batch waits for an approver to retry, skip or roll back. */
  waitingDecisions: DecisionProgress[];
  failures: TargetView[];
  /** Hosts the rollout went on without: their agent was unreachable, or an approver skipped them. */
  skipped: TargetView[];
}

export function progressView(d: DeploymentDetail): ProgressView {
  const p = d.progress ?? { apps: [], batches: [], targets: [], gates: [], decisions: [] };
  const appRec = new Map(p.apps.map((a) => [a.app, a]));
  const batchRec = new Map(p.batches.map((b) => [`${b.app}\u0000${b.index}`, b]));
  const targetRec = new Map(p.targets.map((t) => [`${t.app}\u0000${t.target}`, t]));
  const gateRec = new Map(p.gates.map((g) => [g.gate, g]));
  const decisionRec = new Map(p.decisions.map((x) => [`${x.app}\u0000${x.target}`, x]));
  const failures: TargetView[] = [];
  const skipped: TargetView[] = [];
  let done = 0;
  let total = 0;

  const stages = d.plan.stages.map((stage, i) => {
    const apps = stage.apps.map((a) => {
      const rec = appRec.get(a.app);
      let appDone = 0;
      let appTotal = 0;
      const batches = a.batches.map((b) => {
        const br = batchRec.get(`${a.app}\u0000${b.index}`);
        const targets = b.targets.map((t) => {
          const tr = targetRec.get(`${a.app}\u0000${t}`);
          const view: TargetView = {
            app: a.app,
            target: t,
            status: tr?.status ?? 'pending',
            updatedAt: tr?.updated_at ?? null,
            errorType: tr?.error_type ?? null,
            error: tr?.error ?? null,
            decision: decisionRec.get(`${a.app}\u0000${t}`) ?? null,
          };
          if (view.status === 'failed' || view.status === 'rollback_failed') failures.push(view);
          if (view.status === 'skipped') skipped.push(view);
          return view;
        });
        // A k8s batch lists every cluster; only the last batch's successes count as done.
        appTotal += a.kind === 'k8s' ? (b.index === a.batches.length - 1 ? targets.length : 0) : targets.length;
        if (a.kind !== 'k8s' || b.index === a.batches.length - 1) {
          appDone += targets.filter((t) => t.status === 'succeeded').length;
        }
        return {
          index: b.index,
          status: br?.status ?? 'pending',
          weight: b.weight ?? null,
          startedAt: br?.started_at ?? null,
          endedAt: br?.ended_at ?? null,
          pause: b.pause,
          gate: b.pause.type === 'gate' ? (gateRec.get(b.pause.gate) ?? null) : null,
          targets,
        };
      });
      done += appDone;
      total += appTotal;
      return {
        app: a.app,
        status: rec?.status ?? 'pending',
        startedAt: rec?.started_at ?? null,
        endedAt: rec?.ended_at ?? null,
        batches,
        done: appDone,
        total: appTotal,
      };
    });
    return { stage: i + 1, status: stageStatus(apps.map((a) => a.status)), apps };
  });

  return {
    stages,
    done,
    total,
    waitingGates: p.gates.filter((g) => g.status === 'waiting'),
    waitingDecisions: p.decisions.filter((x) => x.action === null),
    failures,
    skipped,
  };
}

/** App statuses, worst first. */
export const WORST_FIRST = ['failed', 'rolling_back', 'rolled_back', 'running', 'pending', 'succeeded'];

/** A stage is as bad as its worst app, and done only when every app is. */
export function stageStatus(apps: string[]): string {
  if (apps.length === 0) return 'pending';
  if (apps.every((s) => s === 'succeeded')) return 'succeeded';
  if (apps.every((s) => s === 'pending')) return 'pending';
  for (const s of WORST_FIRST) if (apps.includes(s)) return s === 'pending' || s === 'succeeded' ? 'running' : s;
  return 'running';
}

/** Apps a large deployment's progress folds away: done, or not begun. Running, failed and
 * rolled-back apps stay in view. */
export function isQuiet(a: AppView): boolean {
  return a.status === 'succeeded' || a.status === 'pending';
}

/** Whether the page should keep polling. */
export function isLive(status: string): boolean {
  return status === 'running' || status === 'planned';
}
