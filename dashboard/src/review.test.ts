import { describe, expect, it } from 'vitest';
import type { AppReason, Plan } from './api.gen';
import type { T } from './ctx';
import { translate } from './i18n';
import { confirmSummary, hostVersion, hostVersionText, reasonText, reportedVersions, someNames } from './review';
import { sampleAgents, samplePlan, sampleReview } from './test/fixtures';

const en: T = (key, vars) => translate('en', key, vars);
const zh: T = (key, vars) => translate('zh', key, vars);

const reason = (why: AppReason['why'], matched = 0, skipped?: AppReason['skipped']): AppReason => ({ app: 'x', why, matched_paths: matched, skipped });

describe('why an app is in the plan or out', () => {
  it('says one sentence per reason', () => {
    expect(reasonText(en, reason({ code: 'first_deployment' }), null)).toBe('first deployment to the environment');
    expect(reasonText(en, reason({ code: 'changed' }, 1), null)).toBe('changed (1 path)');
    expect(reasonText(en, reason({ code: 'changed' }, 25), null)).toBe('changed (25 paths)');
    expect(reasonText(en, reason({ code: 'follows', dependency: 'db' }), null)).toBe('follows db, which changed');
    expect(reasonText(en, reason({ code: 'unchanged' }, 0, 'not_affected'), 'not_affected')).toBe('not affected by the change');
  });

  it('says why a wanted app is left out, from the current plan', () => {
    expect(reasonText(en, reason({ code: 'changed' }, 1, 'up_to_date'), 'up_to_date')).toBe('changed (1 path), but already runs this version');
    expect(reasonText(en, reason({ code: 'follows', dependency: 'db' }, 0, 'no_targets'), 'no_targets')).toBe(
      'follows db, which changed, but no hosts or clusters in this environment',
    );
    // Proposed by the planner, then dropped by a person.
    expect(reasonText(en, reason({ code: 'changed' }, 3), 'dropped')).toBe('changed (3 paths), but dropped from the plan');
  });

  it('falls back to the plan’s skip reason when no review was recorded', () => {
    expect(reasonText(en, undefined, 'up_to_date')).toBe('already runs this version');
    expect(reasonText(en, undefined, null)).toBe('no reason recorded');
  });

  it('is translated', () => {
    expect(reasonText(zh, reason({ code: 'changed' }, 1, 'up_to_date'), 'up_to_date')).toBe('已变更（1 个路径），但已在运行此版本');
    expect(reasonText(zh, reason({ code: 'follows', dependency: 'db' }), null)).toBe('跟随已变更的 db');
  });
});

describe('the versions hosts report', () => {
  const reported = reportedVersions(sampleAgents());

  it('are a version, nothing (the host reports without the app) or unknown (no report)', () => {
    expect(hostVersion(reported, 'c1', 'cache')).toEqual({ kind: 'version', version: 'v1.0.0' });
    expect(hostVersion(reported, 'a1', 'api')).toEqual({ kind: 'none' });
    expect(hostVersion(reported, 'w1', 'web')).toEqual({ kind: 'unknown' });
    expect(['c1', 'a1', 'w1'].map((host) => hostVersionText(en, hostVersion(reported, host, host === 'c1' ? 'cache' : 'api')))).toEqual([
      'v1.0.0',
      'not running it',
      'unknown',
    ]);
  });
});

describe('the confirmation summary', () => {
  it('counts apps, batches, targets and gates, and groups what is left out by why', () => {
    expect(confirmSummary(samplePlan(), sampleReview())).toEqual({
      stages: [
        { stage: 1, apps: ['cache', 'db'] },
        { stage: 2, apps: ['api'] },
        { stage: 3, apps: ['web'] },
      ],
      apps: 4,
      batches: 9,
      targets: 9,
      gates: ['web.0', 'web.1'],
      skipped: [{ reason: 'not_affected', apps: ['docs'] }],
      adjustments: 0,
    });
  });

  it('says when the plan was adjusted, and when there is no review to tell', () => {
    const plan: Plan = { ...samplePlan(), skipped: [{ app: 'docs', reason: 'not_affected' }, { app: 'cdn', reason: 'dropped' }, { app: 'jobs', reason: 'up_to_date' }] };
    const adjusted = confirmSummary(plan, { ...sampleReview(), adjustments: ['stages: [cache db] [api] [web]', 'cdn: dropped'] });
    expect(adjusted.adjustments).toBe(2);
    expect(adjusted.skipped.map((g) => g.reason)).toEqual(['dropped', 'up_to_date', 'not_affected']);
    expect(confirmSummary(plan, null).adjustments).toBeNull();
  });

  it('names at most ten of a list, counting the rest', () => {
    const names = Array.from({ length: 13 }, (_, i) => `app${i}`);
    expect(someNames(en, names.slice(0, 3))).toBe('app0, app1, app2');
    expect(someNames(en, names)).toBe('app0, app1, app2, app3, app4, app5, app6, app7, app8, app9 and 3 more');
    expect(someNames(zh, names, 2)).toBe('app0, app1 等，另有 11 个');
  });
});
