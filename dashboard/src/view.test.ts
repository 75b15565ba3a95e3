import { describe, expect, it } from 'vitest';
import { coverageTone, formatCoverage, formatElapsed, shortCommit } from './format';
import { isLive, progressView, stageStatus } from './progress';
import { needsAttention, tone, versionState } from './status';
import { detailOf, samplePlan } from './test/fixtures';
import type { DeploymentDetail, Version } from './api.gen';

describe('status colouring', () => {
  it('gives every api status a tone', () => {
    expect(tone('succeeded')).toBe('ok');
    expect(tone('running')).toBe('active');
    expect(tone('planned')).toBe('waiting');
    expect(tone('waiting')).toBe('waiting');
    expect(tone('failed')).toBe('bad');
    expect(tone('rollback_failed')).toBe('bad');
    expect(tone('rolled_back')).toBe('warn');
    expect(tone('pending')).toBe('idle');
    expect(tone('something_new')).toBe('idle');
  });

  it('shows revert and diverged before the planning outcome', () => {
    expect(versionState({ state: 'normal', status: 'planned' })).toBe('normal');
    expect(versionState({ state: 'revert', status: 'planned' })).toBe('revert');
    expect(versionState({ state: 'normal', status: 'planned', diverged: true })).toBe('diverged');
    expect(versionState({ state: 'normal', status: 'invalid_config', diverged: true })).toBe('invalid_config');
    expect(versionState({ state: 'normal', status: 'plan_failed' })).toBe('plan_failed');
    expect(versionState({ state: 'normal', status: 'received' })).toBe('received');
  });

  it('asks for attention while running or planned', () => {
    expect(needsAttention('planned')).toBe(true);
    expect(needsAttention('running')).toBe(true);
    expect(needsAttention('succeeded')).toBe(false);
    expect(isLive('running')).toBe(true);
    expect(isLive('cancelled')).toBe(false);
  });
});

describe('coverage formatting', () => {
  it('floors so that only full coverage reads 100%', () => {
    expect(formatCoverage(1)).toBe('100%');
    expect(formatCoverage(0.996)).toBe('99.6%');
    expect(formatCoverage(0.9999)).toBe('99.9%');
    expect(formatCoverage(0.5)).toBe('50%');
    expect(formatCoverage(0)).toBe('0%');
    expect(formatCoverage(1 / 3)).toBe('33.3%');
  });

  it('shows a dash when nothing is known and clamps odd values', () => {
    expect(formatCoverage(null)).toBe('—');
    expect(formatCoverage(undefined)).toBe('—');
    expect(formatCoverage(1.5)).toBe('100%');
    expect(formatCoverage(-1)).toBe('0%');
  });

  it('tones coverage', () => {
    expect(coverageTone(1)).toBe('ok');
    expect(coverageTone(0.5)).toBe('warn');
    expect(coverageTone(0)).toBe('bad');
    expect(coverageTone(null)).toBe('idle');
  });

  it('formats elapsed time and commits', () => {
    expect(formatElapsed('2026-01-01T00:00:00Z', '2026-01-01T01:02:03Z')).toBe('1h 2m 3s');
    expect(formatElapsed('2026-01-01T00:00:00Z', '2026-01-01T00:00:09Z')).toBe('9s');
    expect(formatElapsed('2026-01-01T00:00:00Z', null, Date.parse('2026-01-01T00:02:00Z'))).toBe('2m 0s');
    expect(formatElapsed(null, null)).toBe('—');
    expect(shortCommit('0123456789abcdef')).toBe('01234567');
  });
});

describe('live progress', () => {
  function detail(): DeploymentDetail {
    return {
      ...detailOf('d1', samplePlan(), 'running'),
      progress: {
        apps: [
          { app: 'cache', status: 'succeeded', started_at: '2026-01-01T00:00:01Z', ended_at: '2026-01-01T00:00:05Z' },
          { app: 'db', status: 'running', started_at: '2026-01-01T00:00:01Z', ended_at: null },
        ],
        batches: [
          { app: 'cache', index: 0, status: 'succeeded', started_at: null, ended_at: null },
          { app: 'cache', index: 1, status: 'succeeded', started_at: null, ended_at: null },
          { app: 'db', index: 0, status: 'failed', started_at: null, ended_at: null },
        ],
        targets: [
          { app: 'cache', target: 'c1', status: 'succeeded', batch: 0, updated_at: 'x', error_type: null, error: null },
          { app: 'cache', target: 'c2', status: 'succeeded', batch: 1, updated_at: 'x', error_type: null, error: null },
          {
            app: 'db',
            target: 'd1',
            status: 'failed',
            batch: 0,
            updated_at: 'x',
            error_type: 'Boreas.HealthCheckFailed',
            error: 'health check failed 10 times',
          },
        ],
        gates: [{ gate: 'web.0', status: 'waiting', comment: null, by: null }],
        decisions: [],
      },
    };
  }

  it('joins the plan with progress records, pending where none exist', () => {
    const v = progressView(detail());
    expect(v.stages.map((s) => s.status)).toEqual(['running', 'pending', 'pending']);
    const [cache, db] = v.stages[0].apps;
    expect(cache.status).toBe('succeeded');
    expect(cache.batches.map((b) => b.status)).toEqual(['succeeded', 'succeeded']);
    expect(cache.done).toBe(2);
    expect(db.batches[1].status).toBe('pending');
    expect(db.batches[1].targets[0]).toMatchObject({ target: 'd2', status: 'pending' });
    expect(v.done).toBe(2);
    expect(v.total).toBe(9);
  });

  it('lists hosts skipped as unreachable apart from failures, not as done', () => {
    const d = detail();
    d.progress!.targets.push({
      app: 'db',
      target: 'd2',
      status: 'skipped',
      batch: 1,
      updated_at: 'y',
      error_type: 'Boreas.AgentUnreachable',
      error: 'the agent of d2 has not reported',
    });
    const v = progressView(d);
    expect(v.skipped).toEqual([
      {
        app: 'db',
        target: 'd2',
        status: 'skipped',
        updatedAt: 'y',
        errorType: 'Boreas.AgentUnreachable',
        error: 'the agent of d2 has not reported',
        decision: null,
      },
    ]);
    expect(v.failures.map((f) => f.target)).toEqual(['d1']);
    expect(v.done).toBe(2);
    expect(tone('skipped')).toBe('warn');
  });

  it('lists failed hosts waiting for a decision, not those decided, and not as failures', () => {
    const d = detail();
    d.progress!.targets.push({
      app: 'db',
      target: 'd2',
      status: 'paused',
      batch: 1,
      updated_at: 'y',
      error_type: 'Boreas.HealthCheckFailed',
      error: 'health check failed 3 times',
    });
    const waiting = { app: 'db', target: 'd2', batch: 1, attempt: 1, action: null, by: null, comment: null };
    const retried = { app: 'cache', target: 'c2', batch: 1, attempt: 0, action: 'retry' as const, by: 'alice', comment: 'flaky disk' };
    d.progress!.decisions = [retried, waiting];
    const v = progressView(d);
    expect(v.waitingDecisions).toEqual([waiting]);
    expect(v.failures.map((f) => f.target)).toEqual(['d1']);
    const [cache, db] = v.stages[0].apps;
    expect(db.batches[1].targets[0]).toMatchObject({ target: 'd2', status: 'paused', decision: waiting });
    expect(cache.batches[1].targets[0]).toMatchObject({ target: 'c2', status: 'succeeded', decision: retried });
    expect(cache.batches[0].targets[0].decision).toBeNull();
    expect(tone('paused')).toBe('warn');
  });

  it('lists the failing target with its error and the waiting gate', () => {
    const v = progressView(detail());
    expect(v.failures).toEqual([
      {
        app: 'db',
        target: 'd1',
        status: 'failed',
        updatedAt: 'x',
        errorType: 'Boreas.HealthCheckFailed',
        error: 'health check failed 10 times',
        decision: null,
      },
    ]);
    expect(v.waitingGates.map((g) => g.gate)).toEqual(['web.0']);
    const web = v.stages[2].apps[0];
    expect(web.batches[0].gate).toMatchObject({ gate: 'web.0', status: 'waiting' });
    expect(web.batches[2].gate).toBeNull();
  });

  it('summarises a stage by its worst app', () => {
    expect(stageStatus(['succeeded', 'succeeded'])).toBe('succeeded');
    expect(stageStatus(['succeeded', 'pending'])).toBe('running');
    expect(stageStatus(['pending', 'pending'])).toBe('pending');
    expect(stageStatus(['running', 'rolling_back'])).toBe('rolling_back');
    expect(stageStatus([])).toBe('pending');
  });

  it('counts a k8s app once per cluster, on its last batch', () => {
    const d = detail();
    d.plan.stages = [
      {
        parallelism: 1,
        apps: [
          {
            ...d.plan.stages[0].apps[0],
            app: 'mesh',
            kind: 'k8s',
            targets: ['east', 'west'],
            batches: [
              { index: 0, targets: ['east', 'west'], weight: 10, pause: { type: 'none' } },
              { index: 1, targets: ['east', 'west'], weight: 100, pause: { type: 'none' } },
            ],
          },
        ],
      },
    ];
    d.progress.targets = [
      { app: 'mesh', target: 'east', status: 'succeeded', batch: 1, updated_at: 'x', error_type: null, error: null },
    ];
    const v = progressView(d);
    expect(v.total).toBe(2);
    expect(v.done).toBe(1);
    expect(v.stages[0].apps[0].batches[0].weight).toBe(10);
  });
});

describe('versions timeline', () => {
  it('groups versions by repository, keeping the api order inside each', async () => {
    const { byRepository } = await import('./pages/versions');
    const v = (repository: string, name: string): Version => ({
      repository,
      name,
      commit: 'c',
      state: 'normal',
      status: 'planned',
      diverged: false,
      errors: [],
      received_at: '2026-01-01T00:00:00Z',
      pushed_by: null,
    });
    const groups = byRepository([v('shop', 'v3'), v('infra', 'v9'), v('shop', 'v2')]);
    expect(groups.map(([repo, list]) => [repo, list.map((x) => x.name)])).toEqual([
      ['infra', ['v9']],
      ['shop', ['v3', 'v2']],
    ]);
  });
});
