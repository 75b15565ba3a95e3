import type { AppPlan, Plan } from '../api.gen';

export function app(name: string, targets: string[], extra: Partial<AppPlan> = {}): AppPlan {
  return {
    app: name,
    kind: 'pm',
    targets,
    batch_sizes: [1, '100%'],
    pause: 'none',
    parallelism: 1,
    heartbeat_seconds: 30,
    timeout_seconds: 600,
    batches: [
      { index: 0, targets: targets.slice(0, 1), pause: { type: 'none' } },
      { index: 1, targets: targets.slice(1), pause: { type: 'none' } },
    ],
    ...extra,
  };
}

/** db → api → web, with cache beside db in stage 1. */
export function samplePlan(): Plan {
  return {
    environment: 'prod',
    version: 'v1.0.1',
    stages: [
      { parallelism: 2, apps: [app('cache', ['c1', 'c2']), app('db', ['d1', 'd2'])] },
      { parallelism: 1, apps: [app('api', ['a1', 'a2'], { depends_on: ['db'] })] },
      {
        parallelism: 1,
        apps: [
          app('web', ['w1', 'w2', 'w3'], {
            depends_on: ['api'],
            batch_sizes: [1, '50%', '100%'],
            pause: 'manual',
            batches: [
              { index: 0, targets: ['w1'], pause: { type: 'gate', gate: 'web.0' } },
              { index: 1, targets: ['w2'], pause: { type: 'gate', gate: 'web.1' } },
              { index: 2, targets: ['w3'], pause: { type: 'none' } },
            ],
          }),
        ],
      },
    ],
    skipped: [{ app: 'docs', reason: 'not_affected' }],
  };
}

/** Applies move_stage / move_app / split_stage as the api does, to check what the editor sends. */
export function applyLocally(plan: Plan, adjustments: { op: string; [k: string]: unknown }[]): string[][] {
  let stages = plan.stages.map((s) => s.apps.map((a) => a.app));
  for (const a of adjustments) {
    if (a.op === 'move_stage') {
      const [moved] = stages.splice((a.stage as number) - 1, 1);
      stages.splice((a.to as number) - 1, 0, moved);
    } else if (a.op === 'move_app') {
      stages = stages.map((s) => s.filter((x) => x !== a.app));
      stages[(a.stage as number) - 1].push(a.app as string);
      stages = stages.filter((s) => s.length > 0);
    } else if (a.op === 'split_stage') {
      const i = (a.stage as number) - 1;
      const apps = a.apps as string[];
      const rest = stages[i].filter((x) => !apps.includes(x));
      if (rest.length === 0 || apps.length === 0) throw new Error('bad_split');
      stages.splice(i, 1, rest, stages[i].filter((x) => apps.includes(x)));
    } else {
      throw new Error(`unsupported ${a.op}`);
    }
  }
  return stages.map((s) => [...s].sort());
}
