import type { AppPlan, DeploymentDetail, EnvironmentView, Plan } from '../api.gen';

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

/** `app0000`, `app0001`…: names that sort in plan order. */
export function appName(i: number): string {
  return `app${String(i).padStart(4, '0')}`;
}

/** `apps` apps of `hosts` hosts each, dealt in order over `stages` stages; each app's first
 * batch is one host behind a gate, its second the rest. */
export function largePlan(apps: number, hosts: number, stages: number): Plan {
  const per = Math.ceil(apps / stages);
  return {
    environment: 'prod',
    version: 'v2.0.0',
    stages: Array.from({ length: stages }, (_, s) => ({
      parallelism: 10,
      apps: Array.from({ length: Math.min(per, apps - s * per) }, (_, i) => {
        const name = appName(s * per + i);
        const targets = Array.from({ length: hosts }, (_, j) => `${name}-h${j}`);
        return app(name, targets, {
          pause: 'manual',
          batches: [
            { index: 0, targets: targets.slice(0, 1), pause: { type: 'gate', gate: `${name}.0` } },
            { index: 1, targets: targets.slice(1), pause: { type: 'none' } },
          ],
        });
      }),
    })),
  };
}

/** A deployment of `plan` with no progress yet. */
export function detailOf(id: string, plan: Plan, status: DeploymentDetail['status']): DeploymentDetail {
  return {
    id,
    repository: 'demo',
    version: plan.version,
    environment: plan.environment,
    status,
    created_at: '2026-01-01T00:00:00Z',
    started_at: status === 'planned' ? null : '2026-01-01T00:00:01Z',
    ended_at: null,
    failed_target: null,
    error: null,
    plan,
    progress: { apps: [], batches: [], targets: [], gates: [], decisions: [] },
    notifications: [],
    analyses: [],
    policy: { waivers: [] },
  };
}

/** staging open and taking any version at once; prod frozen by a weekend window and an incident
 * freeze, taking a version after staging and a soak, with one deployment held back. */
export function sampleEnvironments(): EnvironmentView[] {
  return [
    {
      name: 'staging',
      frozen: false,
      repositories: [{ repository: 'github.com/acme/shop', version: 'v1.2.0', auto_confirm: true }],
      windows: [],
      waiting: [],
    },
    {
      name: 'prod',
      frozen: true,
      opens_at: '2026-12-07T07:00:00Z',
      repositories: [{ repository: 'github.com/acme/shop', version: 'v1.2.0', auto_confirm: false, promotion: { after: ['staging'], soak: '1h' } }],
      windows: [
        {
          name: 'weekend',
          reason: 'Weekend: nobody on call to watch a release',
          source: 'github.com/acme/shop',
          apps: [],
          blocks: ['start', 'batches'],
          running: 'pause',
          active_until: '2026-12-07T07:00:00Z',
          next_start: '2026-12-11T15:00:00Z',
        },
        { name: 'incident', reason: 'INC-7', source: 'api', apps: ['api', 'web'], blocks: ['start'], running: 'finish', next_start: '2026-12-24T17:00:00Z' },
      ],
      waiting: [
        {
          id: 'dep-prod',
          repository: 'github.com/acme/shop',
          version: 'v1.2.0',
          hold: {
            reasons: ['waits for staging: running', 'frozen by weekend until 2026-12-07 07:00 UTC: Weekend: nobody on call to watch a release'],
            recheck_at: '2026-12-07T07:00:00Z',
            since: '2026-12-05T10:00:00Z',
          },
        },
      ],
    },
  ];
}
