import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Api } from './api';
import type { Ctx } from './ctx';
import { translate } from './i18n';
import { deploymentPage } from './pages/deployment';
import { fake, fakeDocument, type FakeElement } from './test/dom';
import { detailOf, samplePlan } from './test/fixtures';
import type { DecisionProgress, DeploymentDetail, Role } from './api.gen';

beforeAll(() => {
  vi.stubGlobal('document', fakeDocument);
});
afterAll(() => {
  vi.unstubAllGlobals();
});

/** db's d2 failed its second attempt under `rollout.on_failure: pause`; c2 was retried before. */
function detail(id: string, decisions: DecisionProgress[]): DeploymentDetail {
  return {
    ...detailOf(id, samplePlan(), 'running'),
    progress: {
      apps: [{ app: 'db', status: 'running', started_at: '2026-01-01T00:00:01Z', ended_at: null }],
      batches: [{ app: 'db', index: 1, status: 'running', started_at: null, ended_at: null }],
      targets: [
        { app: 'cache', target: 'c2', status: 'succeeded', batch: 1, updated_at: 'x', error_type: null, error: null },
        { app: 'db', target: 'd2', status: 'paused', batch: 1, updated_at: 'x', error_type: 'Boreas.HealthCheckFailed', error: 'health check failed' },
      ],
      gates: [],
      decisions,
    },
  };
}

const waiting: DecisionProgress = { app: 'db', target: 'd2', batch: 1, attempt: 1, action: null, by: null, comment: null };
const retried: DecisionProgress = { app: 'cache', target: 'c2', batch: 1, attempt: 0, action: 'retry', by: 'alice', comment: 'flaky disk' };

type Seen = { method: string; url: string; body?: string };

/** A page context over an api that serves `d` and accepts any decision on it. */
function context(d: DeploymentDetail, role: Role, seen: Seen[]): Ctx {
  const fetchFn = async (url: string, init?: RequestInit) => {
    const method = init?.method ?? 'GET';
    seen.push({ method, url, body: init?.body as string | undefined });
    const body =
      method === 'GET'
        ? d
        : { deployment: d.id, app: 'db', target: 'd2', attempt: 1, action: 'retry', by: 'bob', comment: null };
    return new Response(JSON.stringify(body), { status: 200, headers: { 'Content-Type': 'application/json' } });
  };
  return {
    api: new Api('', 'tok', fetchFn),
    role,
    t: (key, vars) => translate('en', key, vars),
    refresh: () => {},
  };
}

function decisionsPanel(page: FakeElement): FakeElement | undefined {
  return page.byClass('decisions')[0];
}

describe('failed hosts waiting for a decision', () => {
  it('are listed with their batch and attempt, and Retry sends the action and comment', async () => {
    const seen: Seen[] = [];
    const ctx = context(detail('dep-retry', [waiting, retried]), 'approver', seen);
    const page = fake(await deploymentPage(ctx, 'dep-retry'));
    const panel = decisionsPanel(page)!;
    expect(panel.textContent).toContain('Failed hosts waiting for a decision');
    const hosts = panel.byClass('decision');
    expect(hosts.map((x) => x.getAttribute('data-target'))).toEqual(['d2']);
    expect(hosts[0].textContent).toContain('d2 of db failed in batch 2, attempt 2.');
    const buttons = hosts[0].findAll((el) => el.tagName === 'button' && el.attributes.has('data-action'));
    expect(buttons.map((b) => [b.getAttribute('data-action'), b.textContent])).toEqual([
      ['retry', 'Retry'],
      ['skip', 'Skip'],
      ['rollback', 'Roll back'],
    ]);

    const comment = hosts[0].findAll((el) => el.tagName === 'textarea')[0];
    comment.value = 'network blip';
    comment.dispatch('input');
    await new Promise<void>((refreshed) => {
      ctx.refresh = refreshed;
      buttons[0].dispatch('click');
    });
    const post = seen.find((s) => s.method === 'POST')!;
    expect(post.url).toBe('/api/deployments/dep-retry/targets/db/d2/decision');
    expect(JSON.parse(post.body!)).toEqual({ action: 'retry', comment: 'network blip' });

    const again = fake(await deploymentPage(ctx, 'dep-retry'));
    expect(again.byClass('notice').map((n) => n.textContent)).toEqual(['Decision sent.']);
  });

  it('are left to approvers', async () => {
    const page = fake(await deploymentPage(context(detail('dep-deployer', [waiting]), 'deployer', []), 'dep-deployer'));
    const panel = decisionsPanel(page)!;
    expect(panel.textContent).toContain('An approver decides what happens to this host.');
    expect(panel.findAll((el) => el.tagName === 'button')).toEqual([]);
  });

  it('leave the panel once decided, and the target line says who decided what', async () => {
    const page = fake(await deploymentPage(context(detail('dep-decided', [retried]), 'approver', []), 'dep-decided'));
    expect(decisionsPanel(page)).toBeUndefined();
    const c2 = page.findAll((el) => el.tagName === 'li' && el.className.startsWith('target ') && el.textContent.startsWith('c2'));
    expect(c2.map((el) => el.byClass('decided')[0]?.textContent)).toEqual([' retried by alice “flaky disk”']);
  });
});

describe('analyses', () => {
  it('show each check of each batch with its condition, verdict, a bar per measurement and the sentence, in both languages', async () => {
    const value = (v: number, outcome: 'pass' | 'fail') => ({ at: '2026-01-01T00:00:00Z', measurement: { kind: 'value' as const, value: v, samples: 120 }, outcome });
    const d: DeploymentDetail = {
      ...detailOf('dep-analysed', samplePlan(), 'rolled_back'),
      analyses: [
        { app: 'api', batch: 0, check: 'error-rate', condition: '< 0.01', measurements: [value(0.002, 'pass'), value(0.004, 'pass')], verdict: 'pass', message: 'check error-rate passed: 0.004 (120 samples), wanted < 0.01 (2 of 2 measurements passed)', updated_at: 'x' },
        { app: 'api', batch: 1, check: 'error-rate', condition: '< 0.01', measurements: [value(0.042, 'fail'), { at: '2026-01-01T00:00:30Z', measurement: { kind: 'no_data' }, outcome: 'inconclusive' }], verdict: 'fail', message: 'check error-rate failed: 0.042, wanted < 0.01 (1 of 2 measurements failed)', updated_at: 'x' },
        { app: 'web', batch: 0, check: 'latency', condition: '< 0.3', measurements: [], updated_at: 'x' },
      ],
    };
    const page = fake(await deploymentPage(context(d, 'viewer', []), 'dep-analysed'));
    const panel = page.byClass('analyses')[0]!;
    expect(panel.textContent).toContain('Analysis');
    const items = panel.byClass('analysis');
    expect(items.map((li) => [li.getAttribute('data-app'), li.getAttribute('data-batch'), li.getAttribute('data-check'), li.getAttribute('data-verdict')])).toEqual([
      ['api', '0', 'error-rate', 'pass'],
      ['api', '1', 'error-rate', 'fail'],
      ['web', '0', 'latency', 'measuring'],
    ]);
    expect(items[1].textContent).toContain('api, batch 2 < 0.01 failed');
    expect(items[1].byClass('message')[0]!.textContent).toContain('0.042, wanted < 0.01');
    const bars = items[1].byClass('bar');
    expect(bars.map((b) => b.getAttribute('data-outcome'))).toEqual(['fail', 'inconclusive']);
    expect(bars[0].getAttribute('style')).toBe('height: 100%');
    expect(bars[1].getAttribute('title')).toContain('no data');
    expect(items[0].byClass('chart')[0]!.getAttribute('aria-label')).toBe('2 measurement(s), oldest first');
    const zh = { ...context(d, 'viewer', []), t: (key: Parameters<Ctx['t']>[0], vars?: Record<string, string | number>) => translate('zh', key, vars) };
    const zhPage = fake(await deploymentPage(zh, 'dep-analysed'));
    expect(zhPage.byClass('analyses')[0]!.textContent).toContain('分析');
    expect(zhPage.byClass('analysis')[1].textContent).toContain('api 第 2 批 < 0.01 未通过');
  });

  it('are not shown for a deployment without analysed batches', async () => {
    const page = fake(await deploymentPage(context(detailOf('dep-plain', samplePlan(), 'running'), 'viewer', []), 'dep-plain'));
    expect(page.byClass('analyses')).toEqual([]);
  });
});

describe('notifications', () => {
  it('list each sink and event with its delivery state, in both languages', async () => {
    const d: DeploymentDetail = {
      ...detailOf('dep-notified', samplePlan(), 'succeeded'),
      notifications: [
        { sink: 'git', event: 'succeeded', state: 'delivered', attempts: 1, updated_at: 'x', summary: 'v1 is deployed to prod' },
        { sink: 'team-chat', event: 'succeeded', state: 'failed', attempts: 7, updated_at: 'x', summary: 'v1 is deployed to prod', error: 'sink "team-chat": HTTP 500: down (gave up after 7 attempts)' },
      ],
    };
    const page = fake(await deploymentPage(context(d, 'viewer', []), 'dep-notified'));
    const panel = page.byClass('notifications')[0]!;
    expect(panel.textContent).toContain('Notifications');
    const items = panel.byClass('notification');
    expect(items.map((li) => [li.getAttribute('data-sink'), li.getAttribute('data-event'), li.getAttribute('data-state')])).toEqual([
      ['git', 'succeeded', 'delivered'],
      ['team-chat', 'succeeded', 'failed'],
    ]);
    expect(items[0].textContent).toBe('git succeeded delivered 1 attempt(s)');
    expect(items[1].textContent).toContain('failed 7 attempt(s) sink "team-chat": HTTP 500');
    const zh = { ...context(d, 'viewer', []), t: (key: Parameters<Ctx['t']>[0], vars?: Record<string, string | number>) => translate('zh', key, vars) };
    const zhPage = fake(await deploymentPage(zh, 'dep-notified'));
    expect(zhPage.byClass('notifications')[0]!.textContent).toContain('通知');
    expect(zhPage.byClass('notification')[0].textContent).toBe('git succeeded 已送达 已尝试 1 次');
  });

  it('are not shown when nothing was sent', async () => {
    const page = fake(await deploymentPage(context(detailOf('dep-quiet', samplePlan(), 'running'), 'viewer', []), 'dep-quiet'));
    expect(page.byClass('notifications')).toEqual([]);
  });
});
