import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Api } from './api';
import type { Ctx } from './ctx';
import { formatTime } from './format';
import { translate } from './i18n';
import { deploymentPage } from './pages/deployment';
import { fake, fakeDocument, type FakeElement } from './test/dom';
import { detailOf, sampleEnvironments, samplePlan } from './test/fixtures';
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

describe('environment policy', () => {
  type Answer = { status: number; body: unknown };
  const hold = {
    reasons: ['waits for staging: running', 'frozen by weekend until 2026-12-07 07:00 UTC: Weekend: nobody on call to watch a release'],
    recheck_at: '2026-12-07T07:00:00Z',
    since: '2026-12-05T10:00:00Z',
  };
  const waiver = { condition: 'after:staging', reason: 'staging is down; verified by hand', by: 'alice', at: '2026-12-05T11:00:00Z' };

  /** prod's deployment of the shop, held by its promotion and the weekend window. */
  function held(id: string, extra: Partial<DeploymentDetail['policy']> = {}): DeploymentDetail {
    return { ...detailOf(id, samplePlan(), 'planned'), repository: 'github.com/acme/shop', policy: { hold, waivers: [], ...extra } };
  }

  /** A page context over an api that serves `d` and the sample environments, answering the rest by "METHOD path". */
  function policyContext(d: DeploymentDetail, role: Role, seen: Seen[], answers: Record<string, Answer> = {}): Ctx {
    const fetchFn = async (url: string, init?: RequestInit) => {
      const method = init?.method ?? 'GET';
      seen.push({ method, url, body: init?.body as string | undefined });
      const fixed: Record<string, Answer> = {
        [`GET /api/deployments/${d.id}`]: { status: 200, body: d },
        'GET /api/environments': { status: 200, body: { items: sampleEnvironments(), next_cursor: null } },
        ...answers,
      };
      const a = fixed[`${method} ${url}`] ?? { status: 404, body: { error: 'not_found', message: `no route ${method} ${url}` } };
      return new Response(JSON.stringify(a.body), { status: a.status, headers: { 'Content-Type': 'application/json' } });
    };
    return { api: new Api('', 'tok', fetchFn), role, t: (key, vars) => translate('en', key, vars), refresh: () => {} };
  }

  /** Submits `form` and waits for the page's refresh. */
  async function submit(ctx: Ctx, form: FakeElement): Promise<void> {
    await new Promise<void>((refreshed) => {
      ctx.refresh = refreshed;
      form.dispatch('submit');
    });
  }

  const type = (el: FakeElement, value: string) => {
    el.value = value;
    el.dispatch(el.tagName === 'select' ? 'change' : 'input');
  };
  const byId = (el: FakeElement, id: string) => el.findAll((x) => x.getAttribute('id') === id)[0];

  it('marks a held deployment and lists each reason, with when it is checked again', async () => {
    const seen: Seen[] = [];
    const page = fake(await deploymentPage(policyContext(held('dep-held'), 'deployer', seen), 'dep-held'));
    expect(page.findAll((el) => el.getAttribute('data-policy') === 'held').map((b) => b.textContent)).toEqual(['held']);
    const panel = page.byClass('policy')[0]!;
    expect(panel.getAttribute('aria-labelledby')).toBe('policy-title');
    expect(panel.textContent).toContain('Held back by its environment: it does not start until these clear.');
    expect(panel.byClass('reason').map((r) => r.textContent)).toEqual(hold.reasons);
    expect(panel.textContent).toContain(`checked again at ${formatTime('2026-12-07T07:00:00Z')}`);
    // Only an approver can waive or override, so nobody else waits for the environments; the
    // review reads the versions the environment's hosts report.
    expect(panel.textContent).toContain('An approver may waive a promotion condition or override the freeze windows.');
    expect(panel.findAll((el) => el.tagName === 'form')).toEqual([]);
    expect(seen.map((s) => s.url)).toEqual(['/api/deployments/dep-held', '/api/agents?env=prod&limit=1000']);
  });

  it('shows the refused confirm of a held deployment as held, with the reasons the api gave', async () => {
    const message = 'deployment dep-refused waits: waits for staging: running';
    const ctx = policyContext(held('dep-refused'), 'deployer', [], {
      'POST /api/deployments/dep-refused/confirm': { status: 409, body: { error: 'held', message } },
    });
    const click = async (page: FakeElement, id: string) => {
      const button = page.findAll((el) => el.tagName === 'button' && el.getAttribute('id') === id)[0];
      await new Promise<void>((refreshed) => {
        ctx.refresh = refreshed;
        button.dispatch('click');
      });
      return fake(await deploymentPage(ctx, 'dep-refused'));
    };
    const summary = await click(fake(await deploymentPage(ctx, 'dep-refused')), 'confirm');
    const again = await click(summary, 'confirm-start');
    const error = again.findAll((el) => el.getAttribute('id') === 'error-page')[0];
    expect(error.getAttribute('data-code')).toBe('held');
    expect(error.getAttribute('role')).toBe('alert');
    expect(error.textContent).toBe(`Held back by its environment’s policy: the deployment stays planned.${message}`);
  });

  it('lets an approver waive a condition not yet waived, offering those its environment declares', async () => {
    const seen: Seen[] = [];
    const d = held('dep-waive', { waivers: [waiver] });
    const ctx = policyContext(d, 'approver', seen, { 'POST /api/deployments/dep-waive/waivers': { status: 201, body: { ...waiver, condition: 'soak:staging' } } });
    const page = fake(await deploymentPage(ctx, 'dep-waive'));
    expect(seen.map((s) => s.url)).toEqual(['/api/deployments/dep-waive', '/api/environments', '/api/agents?env=prod&limit=1000']);
    const panel = page.byClass('policy')[0]!;
    const waived = panel.byClass('waiver');
    expect(waived.map((w) => w.getAttribute('data-condition'))).toEqual(['after:staging']);
    expect(waived[0].textContent).toBe(`after:staging waived by alice at ${formatTime(waiver.at)} “staging is down; verified by hand”`);

    const condition = byId(panel, 'waive-condition');
    expect(condition.value).toBe('soak:staging');
    expect(byId(panel, 'waive-conditions').findAll((el) => el.tagName === 'option').map((o) => o.value)).toEqual(['soak:staging']);
    const form = panel.findAll((el) => el.tagName === 'form' && el.getAttribute('aria-labelledby') === 'waive-title')[0];
    // No reason, no request.
    form.dispatch('submit');
    expect(seen.filter((s) => s.method === 'POST')).toEqual([]);
    type(byId(form, 'waive-reason'), '  soaked on the canary instead  ');
    await submit(ctx, form);
    const post = seen.find((s) => s.method === 'POST')!;
    expect(post.url).toBe('/api/deployments/dep-waive/waivers');
    expect(JSON.parse(post.body!)).toEqual({ condition: 'soak:staging', reason: 'soaked on the canary instead' });
    const again = fake(await deploymentPage(ctx, 'dep-waive'));
    expect(again.byClass('notice').map((n) => n.textContent)).toEqual(['Waived.']);
    expect(byId(again, 'waive-reason').value).toBe('');
  });

  it('says why the api refused a waiver', async () => {
    const message = 'soak:qa is not a condition of prod\'s promotion; its conditions: after:staging, soak:staging';
    const ctx = policyContext(held('dep-unknown'), 'approver', [], {
      'POST /api/deployments/dep-unknown/waivers': { status: 422, body: { error: 'unknown_condition', message } },
    });
    const page = fake(await deploymentPage(ctx, 'dep-unknown'));
    const form = page.findAll((el) => el.tagName === 'form' && el.getAttribute('aria-labelledby') === 'waive-title')[0];
    type(byId(form, 'waive-condition'), 'soak:qa');
    type(byId(form, 'waive-reason'), 'qa is gone');
    await submit(ctx, form);
    const error = fake(await deploymentPage(ctx, 'dep-unknown')).findAll((el) => el.getAttribute('id') === 'error-policy')[0];
    expect(error.getAttribute('data-code')).toBe('unknown_condition');
    expect(error.textContent).toBe(`That is not a condition of this environment’s promotion.${message}`);
  });

  it('lets an approver override the freeze windows for a while, two hours unless chosen', async () => {
    const seen: Seen[] = [];
    const granted = { reason: 'hotfix for INC-7', by: 'carol', at: '2026-12-05T12:00:00Z', expires_at: '2099-01-01T00:00:00Z' };
    const ctx = policyContext(held('dep-override'), 'approver', seen, { 'POST /api/deployments/dep-override/override': { status: 201, body: granted } });
    const page = fake(await deploymentPage(ctx, 'dep-override'));
    const form = page.findAll((el) => el.tagName === 'form' && el.getAttribute('aria-labelledby') === 'override-title')[0];
    const duration = byId(form, 'override-for');
    expect(duration.findAll((el) => el.tagName === 'option').map((o) => [o.textContent, o.selected])).toEqual([
      ['30m', false],
      ['1h', false],
      ['2h', true],
      ['4h', false],
      ['6h', false],
    ]);
    type(byId(form, 'override-reason'), 'hotfix for INC-7');
    type(duration, '6h');
    await submit(ctx, form);
    const post = seen.find((s) => s.method === 'POST')!;
    expect(post.url).toBe('/api/deployments/dep-override/override');
    expect(JSON.parse(post.body!)).toEqual({ reason: 'hotfix for INC-7', expires_in: '6h' });
    expect(fake(await deploymentPage(ctx, 'dep-override')).byClass('notice').map((n) => n.textContent)).toEqual(['Override granted.']);
  });

  it('shows a break-glass override with who granted it, why and until when, and whether it is still in force', async () => {
    const override = { reason: 'hotfix for INC-7', by: 'carol', at: '2026-12-05T12:00:00Z', expires_at: '2099-01-01T00:00:00Z' };
    const running = { ...detailOf('dep-broke-glass', samplePlan(), 'running'), policy: { waivers: [], override } };
    const page = fake(await deploymentPage(policyContext(running, 'viewer', []), 'dep-broke-glass'));
    const line = page.byClass('override')[0]!;
    expect(line.getAttribute('data-in-force')).toBe('true');
    expect(line.textContent).toBe(`in force granted by carol at ${formatTime(override.at)}, until ${formatTime(override.expires_at)} “hotfix for INC-7”`);
    expect(page.byClass('policy')[0]!.className).toBe('panel policy');

    const expired = { ...running, policy: { waivers: [], override: { ...override, expires_at: '2026-01-01T00:00:00Z' } } };
    const again = fake(await deploymentPage(policyContext(expired, 'viewer', []), 'dep-broke-glass'));
    expect(again.byClass('override')[0]!.getAttribute('data-in-force')).toBe('false');
    expect(again.byClass('override')[0]!.textContent).toMatch(/^expired granted by carol/);
  });

  it('is not shown for a deployment the policy never touched, nor a stale hold once it is no longer planned', async () => {
    const plain = fake(await deploymentPage(policyContext(detailOf('dep-free', samplePlan(), 'planned'), 'approver', []), 'dep-free'));
    expect(plain.byClass('policy')).toEqual([]);
    const cancelled = { ...held('dep-gone'), status: 'cancelled' as const };
    const page = fake(await deploymentPage(policyContext(cancelled, 'approver', []), 'dep-gone'));
    expect(page.byClass('policy')).toEqual([]);
    expect(page.findAll((el) => el.getAttribute('data-policy') === 'held')).toEqual([]);
  });

  it('is translated to Chinese', async () => {
    const ctx = { ...policyContext(held('dep-zh', { waivers: [waiver] }), 'deployer', []), t: (key: Parameters<Ctx['t']>[0], vars?: Record<string, string | number>) => translate('zh', key, vars) };
    const page = fake(await deploymentPage(ctx, 'dep-zh'));
    expect(page.findAll((el) => el.getAttribute('data-policy') === 'held')[0].textContent).toBe('被拦下');
    const panel = page.byClass('policy')[0]!;
    expect(panel.textContent).toContain('环境策略');
    expect(panel.byClass('waiver')[0].textContent).toContain('由 alice 于');
  });
});
