import type { Agent, AppPlan, AppRun, DeploymentDetail, EnvironmentView, HostRun, Plan, PlanReview } from '../api.gen';

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

/** Why samplePlan is what it is: v1.0.0 ran before; db changed (25 paths, 20 listed), cache
 * changed (1 path), api and web follow db, docs is not affected. Nobody adjusted it. */
export function sampleReview(): PlanReview {
  return {
    running: { version: 'v1.0.0', commit: '0123456789abcdef0123' },
    commits: [
      { id: 'aaaaaaaa00000000', subject: 'db: add the orders index', author: 'Alice', at: '2026-01-01T10:00:00Z' },
      { id: 'bbbbbbbb00000000', subject: 'cache: bigger pages', author: 'Bob', at: '2026-01-01T09:00:00Z' },
    ],
    more_commits: 48,
    changed_paths: 26,
    apps: [
      { app: 'api', why: { code: 'follows', dependency: 'db' }, matched_paths: 0 },
      { app: 'cache', why: { code: 'changed' }, paths: ['cache/pages.conf'], matched_paths: 1 },
      { app: 'db', why: { code: 'changed' }, paths: Array.from({ length: 20 }, (_, i) => `db/m${String(i).padStart(2, '0')}.sql`), matched_paths: 25 },
      { app: 'docs', why: { code: 'unchanged' }, skipped: 'not_affected', matched_paths: 0 },
      { app: 'web', why: { code: 'follows', dependency: 'db' }, matched_paths: 0 },
    ],
    adjustments: [],
  };
}

/** The agents of prod: c1 and d1 report v1.0.0 of their app, a1 reports without api, the other
 * hosts do not report. */
export function sampleAgents(): Agent[] {
  const agent = (host: string, apps: Agent['apps']): Agent => ({ host, environment: 'prod', group: 'g', last_seen: '2026-01-01T00:00:00Z', stale: false, unreachable: false, apps });
  return [
    agent('c1', [{ app: 'cache', version: 'v1.0.0', healthy: true }]),
    agent('d1', [{ app: 'db', version: 'v1.0.0', healthy: true }]),
    agent('a1', []),
  ];
}

/** samplePlan confirmed at 00:00:00 and running at 00:05:00 (`TIMELINE_NOW`): cache's second
 * batch failed on c2 at 00:01:00 and cache was rolled back by 00:01:30; db and api went through;
 * web's first batch ran 00:02:00–00:02:20, its gate web.0 was approved and its second batch began
 * at 00:03:00 and runs, with w2 failed and waiting for a decision; w3's batch has not begun. */
export function runningDetail(id: string): DeploymentDetail {
  const at = (m: number, s = 0) => `2026-01-01T00:${String(m).padStart(2, '0')}:${String(s).padStart(2, '0')}Z`;
  const d = detailOf(id, samplePlan(), 'running');
  d.started_at = at(0);
  d.confirmed_by = 'alice';
  d.progress = {
    apps: [
      { app: 'cache', status: 'rolled_back', started_at: at(0), ended_at: at(1, 30) },
      { app: 'db', status: 'succeeded', started_at: at(0), ended_at: at(1) },
      { app: 'api', status: 'succeeded', started_at: at(1), ended_at: at(2) },
      { app: 'web', status: 'running', started_at: at(2), ended_at: null },
    ],
    batches: [
      { app: 'cache', index: 0, status: 'succeeded', started_at: at(0), ended_at: at(0, 30) },
      { app: 'cache', index: 1, status: 'failed', started_at: at(0, 30), ended_at: at(1) },
      { app: 'db', index: 0, status: 'succeeded', started_at: at(0), ended_at: at(0, 30) },
      { app: 'db', index: 1, status: 'succeeded', started_at: at(0, 30), ended_at: at(1) },
      { app: 'api', index: 0, status: 'succeeded', started_at: at(1), ended_at: at(1, 30) },
      { app: 'api', index: 1, status: 'succeeded', started_at: at(1, 30), ended_at: at(2) },
      { app: 'web', index: 0, status: 'succeeded', started_at: at(2), ended_at: at(2, 20) },
      { app: 'web', index: 1, status: 'running', started_at: at(3), ended_at: null },
    ],
    targets: [
      { app: 'cache', target: 'c2', status: 'failed', batch: 1, updated_at: at(1), error_type: 'Boreas.HealthCheckFailed', error: 'health check failed' },
      { app: 'web', target: 'w2', status: 'paused', batch: 1, updated_at: at(4), error_type: 'Boreas.Timeout', error: 'no heartbeat for 30 s' },
    ],
    gates: [{ gate: 'web.0', status: 'approved', by: 'carol', comment: null }],
    decisions: [{ app: 'web', target: 'w2', batch: 1, attempt: 0, action: null, by: null, comment: null }],
  };
  return d;
}

export const TIMELINE_NOW = Date.parse('2026-01-01T00:05:00Z');

/** api's runs in prod, newest first: v1.0.1 confirmed by alice, its gate approved by carol; v1.0.0
 * confirmed automatically, rolled back after bob rejected its gate, a revert. */
export function sampleRuns(): AppRun[] {
  return [
    {
      app: 'api', deployment_id: 'dep-2', repository: 'demo', version: 'v1.0.1', environment: 'prod', outcome: 'succeeded', app_status: 'succeeded',
      started_at: '2026-01-02T10:00:00Z', ended_at: '2026-01-02T10:03:20Z', confirmed_by: 'alice', gates: [{ gate: 'api.0', status: 'approved', by: 'carol' }], revert: false, targets: 2,
    },
    {
      app: 'api', deployment_id: 'dep-1', repository: 'demo', version: 'v1.0.0', environment: 'prod', outcome: 'rolled_back', app_status: 'rolled_back',
      started_at: '2026-01-01T10:00:00Z', ended_at: '2026-01-01T11:01:01Z', confirmed_by: 'boreas', gates: [{ gate: 'api.0', status: 'rejected', by: 'bob' }], revert: true, targets: 2, failed_target: 'a2',
    },
  ];
}

/** a1's deployments: api of dep-2 succeeded there; web of dep-2 never reached it. */
export function sampleHostRuns(): HostRun[] {
  return [
    { host: 'a1', environment: 'prod', app: 'api', deployment_id: 'dep-2', version: 'v1.0.1', outcome: 'succeeded', status: 'succeeded', ended_at: '2026-01-02T10:03:20Z' },
    { host: 'a1', environment: 'prod', app: 'web', deployment_id: 'dep-2', version: 'v1.0.1', outcome: 'succeeded', ended_at: '2026-01-02T10:03:20Z' },
  ];
}
