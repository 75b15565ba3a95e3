import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Api } from './api';
import type { Ctx } from './ctx';
import { translate, type Locale } from './i18n';
import { deploymentPage } from './pages/deployment';
import { appHistoryPage, hostHistoryPage } from './pages/history';
import { timelinePanel } from './pages/timeline-panel';
import { progressView } from './progress';
import { fake, fakeDocument, type FakeElement } from './test/dom';
import { detailOf, largePlan, runningDetail, sampleAgents, sampleHostRuns, samplePlan, sampleReview, sampleRuns, TIMELINE_NOW } from './test/fixtures';
import type { DeploymentDetail, Role } from './api.gen';

beforeAll(() => {
  vi.stubGlobal('document', fakeDocument);
});
afterAll(() => {
  vi.unstubAllGlobals();
});

type Seen = { method: string; url: string };

/** A page context over an api that answers "METHOD path" from `answers`, 404 otherwise. */
function context(answers: Record<string, unknown>, seen: Seen[] = [], locale: Locale = 'en', role: Role = 'deployer'): Ctx {
  const fetchFn = async (url: string, init?: RequestInit) => {
    const method = init?.method ?? 'GET';
    seen.push({ method, url });
    const body = answers[`${method} ${url}`];
    return body === undefined
      ? new Response(JSON.stringify({ error: 'not_found', message: `no ${method} ${url}` }), { status: 404 })
      : new Response(JSON.stringify(body), { status: 200, headers: { 'Content-Type': 'application/json' } });
  };
  return { api: new Api('', 'tok', fetchFn), role, t: (key, vars) => translate(locale, key, vars), refresh: () => {} };
}

/** samplePlan for review, planned, with the review and the prod agents. */
function reviewed(id: string, extra: Partial<DeploymentDetail> = {}): Record<string, unknown> {
  const d: DeploymentDetail = { ...detailOf(id, samplePlan(), 'planned'), review: sampleReview(), ...extra };
  return {
    [`GET /api/deployments/${id}`]: d,
    'GET /api/agents?env=prod&limit=1000': { items: sampleAgents(), next_cursor: null },
    [`POST /api/deployments/${id}/confirm`]: { ...d, status: 'running' },
  };
}

const byId = (el: FakeElement, id: string) => el.findAll((x) => x.getAttribute('id') === id)[0];
const attr = (name: string, value: string) => (el: FakeElement) => el.getAttribute(name) === value;
const texts = (els: FakeElement[]) => els.map((e) => e.textContent);

describe('the plan review', () => {
  it('shows every stage, app and batch in order with the hosts each batch changes and what they run', async () => {
    const seen: Seen[] = [];
    const page = fake(await deploymentPage(context(reviewed('dep-review'), seen), 'dep-review'));
    expect(seen.map((s) => s.url)).toEqual(['/api/deployments/dep-review', '/api/agents?env=prod&limit=1000']);
    const review = byId(page, 'plan-review');
    expect(review.getAttribute('aria-labelledby')).toBe('review-title');
    expect(byId(review, 'review-title').textContent).toBe('Review');
    const stages = review.byClass('review-stage');
    expect(stages.map((s) => s.byClass('review-app').map((a) => a.getAttribute('data-app')))).toEqual([['cache', 'db'], ['api'], ['web']]);
    const hostsOf = (app: string) =>
      review.findAll(attr('data-app', app))[0].byClass('review-batch').map((b) => b.byClass('review-host').map((x) => x.textContent));
    // c1 and d1 report v1.0.0; a1 reports without api; the others do not report.
    expect(hostsOf('cache')).toEqual([['c1v1.0.0'], ['c2unknown']]);
    expect(hostsOf('api')).toEqual([['a1not running it'], ['a2unknown']]);
    expect(hostsOf('web')).toEqual([['w1unknown'], ['w2unknown'], ['w3unknown']]);
    const web = review.findAll(attr('data-app', 'web'))[0];
    expect(texts(web.byClass('gate-line'))).toEqual(['then waits at gate web.0 for an approver', 'then waits at gate web.1 for an approver']);
    expect(texts(web.byClass('batch-head'))).toEqual(['Batch 11 host(s)', 'Batch 21 host(s)', 'Batch 31 host(s)']);
    // The app's name leads to its history in the environment.
    expect(web.findAll((el) => el.tagName === 'a')[0].getAttribute('href')).toBe('#/apps/web/prod');
  });

  it('says why each app is in, with its matched paths behind a toggle, and why the others are out', async () => {
    const page = fake(await deploymentPage(context(reviewed('dep-why')), 'dep-why'));
    const review = byId(page, 'plan-review');
    const reasons = review.byClass('review-app').map((a) => [a.getAttribute('data-app'), a.byClass('reason')[0].textContent]);
    expect(reasons).toEqual([
      ['cache', 'changed (1 path)'],
      ['db', 'changed (25 paths)'],
      ['api', 'follows db, which changed'],
      ['web', 'follows db, which changed'],
    ]);
    const toggle = byId(review, 'review-paths-db-toggle');
    expect([toggle.textContent, toggle.getAttribute('aria-expanded')]).toEqual(['▸ Matched paths (25)', 'false']);
    toggle.dispatch('click');
    const region = byId(review, 'review-paths-db-region');
    expect(region.byClass('paths')[0].findAll((el) => el.tagName === 'li').length).toBe(20);
    expect(region.textContent).toContain('and 5 more paths');
    expect(review.byClass('skipped-app').map((s) => [s.getAttribute('data-app'), s.textContent])).toEqual([['docs', 'docs — not affected by the change']]);
  });

  it('lists the commits since the running version behind a toggle, and says it was not adjusted', async () => {
    const page = fake(await deploymentPage(context(reviewed('dep-commits')), 'dep-commits'));
    const review = byId(page, 'plan-review');
    expect(review.byClass('review-change')[0].textContent).toBe('From v1.0.0 (01234567) to v1.0.1 · 50 commit(s) · 26 changed path(s)');
    expect(review.byClass('commit')).toEqual([]);
    byId(review, 'review-commits-toggle').dispatch('click');
    expect(review.byClass('commit').map((c) => [c.getAttribute('data-commit'), c.byClass('subject')[0].textContent])).toEqual([
      ['aaaaaaaa00000000', 'db: add the orders index'],
      ['bbbbbbbb00000000', 'cache: bigger pages'],
    ]);
    expect(review.byClass('commit')[0].textContent).toContain('Alice · aaaaaaaa');
    expect(review.textContent).toContain('and 48 more commits');
    expect(review.byClass('adjustments')[0].textContent).toBe('Changes to the planner’s proposalNot adjusted: this is the planner’s proposal.');
  });

  it('shows a first deployment and the lines a person’s adjustments changed', async () => {
    const first = { ...sampleReview(), running: null, commits: [], more_commits: 0, changed_paths: null, adjustments: ['stages: [cache] [db] [api] [web] (proposed: [cache db] [api] [web])'] };
    const page = fake(await deploymentPage(context(reviewed('dep-first', { review: first })), 'dep-first'));
    const review = byId(page, 'plan-review');
    expect(review.byClass('review-change')[0].textContent).toBe(
      'First deployment to prod: nothing ran there before, so every app is deployed · changed paths unknown',
    );
    expect(byId(review, 'review-commits-toggle')).toBeUndefined();
    expect(texts(review.byClass('adjustment'))).toEqual(first.adjustments);
  });

  it('is folded behind a toggle once the deployment started, without the hosts’ reported versions', async () => {
    const seen: Seen[] = [];
    const d = { ...runningDetail('dep-later'), review: sampleReview() };
    const page = fake(await deploymentPage(context({ 'GET /api/deployments/dep-later': d }, seen), 'dep-later'));
    expect(seen.map((s) => s.url)).toEqual(['/api/deployments/dep-later']);
    const review = byId(page, 'plan-review');
    expect(review.byClass('review-stage')).toEqual([]);
    byId(review, 'review-toggle').dispatch('click');
    expect(review.byClass('review-host').map((x) => x.textContent).slice(0, 2)).toEqual(['c1', 'c2']);
    expect(review.findAll((el) => el.tagName === 'dt').map((x) => x.textContent)).toContain('Ran before');
  });

  it('keeps a plan of 1,000 apps × 10 hosts small, a window of apps at a time', async () => {
    const d = { ...detailOf('dep-big-review', largePlan(1000, 10, 2), 'planned'), review: sampleReview() };
    const page = fake(await deploymentPage(context({ 'GET /api/deployments/dep-big-review': d }), 'dep-big-review'));
    const review = byId(page, 'plan-review');
    expect(review.size).toBeLessThan(200);
    expect(texts(review.byClass('review-counts'))).toEqual([
      '500 apps · 5000 targets · 1000 batches · 500 gates',
      '500 apps · 5000 targets · 1000 batches · 500 gates',
    ]);
    byId(review, 'review-stage-2-toggle').dispatch('click');
    expect(review.byClass('review-app').length).toBe(20);
    expect(review.size).toBeLessThan(2000);
    expect(byId(review, 'review-stage-2-apps-status').textContent).toBe('Showing 1–20 of 500.');
  });

  it('is translated', async () => {
    const page = fake(await deploymentPage(context(reviewed('dep-zh'), [], 'zh'), 'dep-zh'));
    const review = byId(page, 'plan-review');
    expect(byId(review, 'review-title').textContent).toBe('评审');
    expect(review.byClass('review-change')[0].textContent).toBe('从 v1.0.0（01234567）到 v1.0.1 · 50 个提交 · 26 个变更的路径');
    expect(review.byClass('reason')[2].textContent).toBe('跟随已变更的 db');
  });
});

describe('confirming', () => {
  const button = (page: FakeElement, id: string) => page.findAll((el) => el.tagName === 'button' && el.getAttribute('id') === id)[0];
  async function press(ctx: Ctx, page: FakeElement, id: string, deployment: string): Promise<FakeElement> {
    await new Promise<void>((refreshed) => {
      ctx.refresh = refreshed;
      button(page, id).dispatch('click');
    });
    return fake(await deploymentPage(ctx, deployment));
  }

  it('shows a one-screen summary first; Back returns to the review without confirming', async () => {
    const seen: Seen[] = [];
    const ctx = context(reviewed('dep-sum'), seen);
    const summary = await press(ctx, fake(await deploymentPage(ctx, 'dep-sum')), 'confirm', 'dep-sum');
    expect(byId(summary, 'plan-review')).toBeUndefined();
    expect(button(summary, 'confirm')).toBeUndefined();
    const panel = byId(summary, 'confirm-summary');
    expect(panel.getAttribute('aria-labelledby')).toBe('confirm-title');
    expect(byId(panel, 'confirm-title').getAttribute('data-focus')).toBe('');
    const facts = Object.fromEntries(panel.findAll((el) => el.attributes.has('data-fact')).map((dd) => [dd.getAttribute('data-fact'), dd.textContent]));
    expect(facts).toEqual({
      apps: '4 in 3 stage(s)',
      batches: '9',
      targets: '9',
      gates: '2: web.0, web.1',
      skipped: 'not affected by the change (1): docs',
      adjusted: 'Not adjusted: this is the planner’s proposal.',
    });
    expect(texts(panel.byClass('summary-stages')[0].findAll((el) => el.tagName === 'li'))).toEqual(['Stage 1: cache, db', 'Stage 2: api', 'Stage 3: web']);

    const back = await press(ctx, summary, 'confirm-back', 'dep-sum');
    expect(byId(back, 'confirm-summary')).toBeUndefined();
    expect(byId(back, 'plan-review')).toBeDefined();
    expect(button(back, 'confirm').getAttribute('data-focus')).toBe('');
    expect(seen.filter((s) => s.method === 'POST')).toEqual([]);
  });

  it('confirms only from the summary', async () => {
    const seen: Seen[] = [];
    const ctx = context(reviewed('dep-go'), seen);
    const summary = await press(ctx, fake(await deploymentPage(ctx, 'dep-go')), 'confirm', 'dep-go');
    expect(seen.filter((s) => s.method === 'POST')).toEqual([]);
    const after = await press(ctx, summary, 'confirm-start', 'dep-go');
    expect(seen.filter((s) => s.method === 'POST').map((s) => s.url)).toEqual(['/api/deployments/dep-go/confirm']);
    expect(after.byClass('notice').map((n) => n.textContent)).toEqual(['Confirmed: the rollout has started.']);
  });

  it('is translated', async () => {
    const ctx = context(reviewed('dep-sum-zh'), [], 'zh');
    const summary = await press(ctx, fake(await deploymentPage(ctx, 'dep-sum-zh')), 'confirm', 'dep-sum-zh');
    expect(byId(summary, 'confirm-title').textContent).toBe('要开始此部署吗？');
    expect([button(summary, 'confirm-start').textContent, button(summary, 'confirm-back').textContent]).toEqual(['确认并开始', '返回']);
  });
});

describe('the timeline panel', () => {
  const d = runningDetail('dep-timeline');
  const panel = (locale: Locale = 'en') => fake(timelinePanel(context({}, [], locale), d, progressView(d), TIMELINE_NOW));

  it('places every batch and gate of each app on the axis, with its state in words', () => {
    const p = panel();
    expect(p.getAttribute('aria-labelledby')).toBe('timeline-title');
    const web = p.findAll(attr('data-app', 'web'))[0];
    const spans = web.byClass('tl-span');
    expect(spans.map((s) => [s.getAttribute('data-kind'), s.getAttribute('data-batch'), s.getAttribute('data-status'), s.getAttribute('style')])).toEqual([
      ['batch', '0', 'succeeded', 'left:40%;width:6.67%'],
      ['gate', '0', 'approved', 'left:46.67%;width:13.33%'],
      ['batch', '1', 'running', 'left:60%;width:40%'],
    ]);
    expect(spans[1].byClass('sr-only')[0].textContent).toContain('Gate web.0 after batch 1: approved');
    expect(spans[2].getAttribute('title')).toMatch(/^Batch 2: running, .* – now \(2m 0s\)$/);
    expect(web.byClass('tl-waiting')[0].textContent).toBe('Not begun: batch 3');
    expect(web.byClass('tl-track')[0].getAttribute('aria-label')).toBe('Timeline of web');
  });

  it('links every failed host to the row of its error', async () => {
    const links = panel().byClass('tl-failed').flatMap((ul) => ul.findAll((el) => el.tagName === 'a'));
    expect(links.map((a) => [a.getAttribute('href'), a.textContent])).toEqual([
      ['#failure:cache:c2', 'c2: failed — see its error'],
      ['#decide:web:w2', 'w2: failed, awaiting a decision — see its error'],
    ]);
    const page = fake(await deploymentPage(context({ 'GET /api/deployments/dep-timeline': d }, [], 'en', 'approver'), 'dep-timeline'));
    expect(byId(page, 'failure:cache:c2').textContent).toContain('health check failed');
    expect(byId(page, 'decide:web:w2').getAttribute('data-target')).toBe('w2');
    expect(byId(page, 'timeline')).toBeDefined();
  });

  it('is translated', () => {
    const p = panel('zh');
    expect(byId(p, 'timeline-title').textContent).toBe('时间线');
    expect(p.findAll(attr('data-app', 'web'))[0].byClass('tl-waiting')[0].textContent).toBe('尚未开始：第 3 批');
  });
});

describe('history pages', () => {
  const appView = { name: 'api', environments: ['staging', 'prod'].map((environment) => ({ environment, coverage: 1, covered: 2, targets: 2, desired_version: 'v1.0.1', desired_deployment: 'dep-2', repository: 'demo', drifted: [], unreported: [] })) };

  it('list an app’s runs in an environment, with links to the other environments, a page at a time', async () => {
    const seen: Seen[] = [];
    const ctx = context(
      {
        'GET /api/apps/api/history?env=prod&limit=20': { items: sampleRuns(), next_cursor: 'c2' },
        'GET /api/apps/api/history?env=prod&limit=20&cursor=c2': { items: [], next_cursor: null },
        'GET /api/apps/api': appView,
      },
      seen,
    );
    const page = fake(await appHistoryPage(ctx, 'api', 'prod'));
    expect(page.findAll((el) => el.tagName === 'h1').map((x) => x.textContent)).toEqual(['History of api']);
    const tabs = page.findAll((el) => el.tagName === 'nav')[0].findAll((el) => el.tagName === 'a');
    expect(tabs.map((a) => [a.textContent, a.getAttribute('href'), a.getAttribute('aria-current')])).toEqual([
      ['All environments', '#/apps/api', null],
      ['staging', '#/apps/api/staging', null],
      ['prod', '#/apps/api/prod', 'page'],
    ]);
    const rows = page.findAll((el) => el.tagName === 'tr' && el.attributes.has('data-deployment'));
    expect(rows.map((r) => r.findAll((el) => el.tagName === 'td').map((td) => td.textContent))).toEqual([
      ['v1.0.1', 'succeeded', 'succeeded', expect.any(String), '3m 20s', 'alice', 'api.0 approved by carol', '2', 'dep-2'],
      ['v1.0.0 revert', 'rolled back failed on a2', 'rolled back', expect.any(String), '1h 1m 1s', 'automatically (auto_confirm)', 'api.0 rejected by bob', '2', 'dep-1'],
    ]);
    const older = byId(page, 'history-older');
    expect([byId(page, 'history-newer').disabled, older.disabled]).toEqual([true, false]);
    older.dispatch('click');
    const next = fake(await appHistoryPage(ctx, 'api', 'prod'));
    expect(seen.filter((s) => s.url.includes('/history')).map((s) => s.url)).toEqual([
      '/api/apps/api/history?env=prod&limit=20',
      '/api/apps/api/history?env=prod&limit=20&cursor=c2',
    ]);
    expect(next.textContent).toContain('No run recorded yet.');
    expect(byId(next, 'history-older').disabled).toBe(true);
    byId(next, 'history-newer').dispatch('click');
    await appHistoryPage(ctx, 'api', 'prod');
    expect(seen.at(-2)!.url).toBe('/api/apps/api/history?env=prod&limit=20');
  });

  it('show every environment’s runs with the environment column', async () => {
    const ctx = context({ 'GET /api/apps/api/history?limit=20': { items: sampleRuns(), next_cursor: null }, 'GET /api/apps/api': appView });
    const page = fake(await appHistoryPage(ctx, 'api', null));
    expect(page.findAll((el) => el.tagName === 'th').map((x) => x.textContent)).toContain('Environment');
    expect(byId(page, 'history-title').textContent).toBe('All environments');
  });

  it('list a host’s last deployments, linking each app to its history there', async () => {
    const ctx = context({ 'GET /api/hosts/prod/a1/history?limit=20': { items: sampleHostRuns(), next_cursor: null } }, [], 'zh');
    const page = fake(await hostHistoryPage(ctx, 'prod', 'a1'));
    expect(page.findAll((el) => el.tagName === 'h1').map((x) => x.textContent)).toEqual(['主机 a1 的历史']);
    const rows = page.findAll((el) => el.tagName === 'tr' && el.attributes.has('data-deployment'));
    expect(rows.map((r) => r.findAll((el) => el.tagName === 'td').slice(1).map((td) => td.textContent))).toEqual([
      ['api', 'v1.0.1', '成功', '成功', 'dep-2'],
      ['web', 'v1.0.1', '成功', '未开始', 'dep-2'],
    ]);
    expect(rows[0].findAll((el) => el.tagName === 'a')[0].getAttribute('href')).toBe('#/apps/api/prod');
  });
});
