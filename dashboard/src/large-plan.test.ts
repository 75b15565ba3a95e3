import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Api } from './api';
import type { Ctx } from './ctx';
import { translate } from './i18n';
import { deploymentPage } from './pages/deployment';
import { fake, fakeDocument, type FakeElement } from './test/dom';
import { appName, detailOf, largePlan, samplePlan } from './test/fixtures';
import { PAGE, windowOf } from './windowed';
import type { DeploymentDetail, TargetProgress } from './api.gen';

beforeAll(() => {
  vi.stubGlobal('document', fakeDocument);
});
afterAll(() => {
  vi.unstubAllGlobals();
});

/** Far below the 55,000 nodes of the plan editor and the 90,000 of the progress view when 1,000 apps
 * of 10 hosts were drawn whole. */
const BOUND = 5000;

type Seen = { method: string; url: string; body?: string };

/** A page context over an api that serves `d` and accepts any change to it. */
function context(d: DeploymentDetail, seen: Seen[] = []): Ctx {
  const fetchFn = async (url: string, init?: RequestInit) => {
    const method = init?.method ?? 'GET';
    seen.push({ method, url, body: init?.body as string | undefined });
    return new Response(JSON.stringify(d), { status: 200, headers: { 'Content-Type': 'application/json' } });
  };
  return { api: new Api('', 'tok', fetchFn), role: 'deployer', t: (key, vars) => translate('en', key, vars), refresh: () => {} };
}

async function render(ctx: Ctx, id: string, what: string): Promise<FakeElement> {
  const began = performance.now();
  const page = fake(await deploymentPage(ctx, id));
  console.log(`${what}: ${page.size} nodes in ${(performance.now() - began).toFixed(1)} ms`);
  return page;
}

const column = (page: FakeElement, stage: number) => page.findAll((el) => el.getAttribute('data-stage') === String(stage))[0];
const cardsOf = (el: FakeElement) => el.byClass('card').map((c) => c.getAttribute('data-app'));
const byId = (el: FakeElement, id: string) => el.findAll((x) => x.getAttribute('id') === id)[0];
const button = (el: FakeElement, id: string) => el.findAll((x) => x.tagName === 'button' && x.getAttribute('id') === id)[0];

/** Sends the form of `card` that holds the field `fieldId`, and waits for the page's refresh. */
async function submit(ctx: Ctx, card: FakeElement, fieldId: string): Promise<void> {
  const form = card.findAll((el) => el.tagName === 'form' && el.findAll((x) => x.getAttribute('id') === fieldId).length > 0)[0];
  await new Promise<void>((refreshed) => {
    ctx.refresh = refreshed;
    form.dispatch('submit');
  });
}

describe('windows of a long list', () => {
  const items = Array.from({ length: 120 }, (_, i) => appName(i));
  it('pages through the matching items, falling back to the last window past the end', () => {
    expect(windowOf(items, (x) => x, '', 0)).toMatchObject({ start: 0, matching: 120 });
    expect(windowOf(items, (x) => x, '', 100).items).toEqual(items.slice(100));
    expect(windowOf(items, (x) => x, '', 500).start).toBe(100);
    expect(windowOf(items, (x) => x, '', -50).start).toBe(0);
    expect(windowOf(items, (x) => x, ' APP0077 ', 50)).toEqual({ items: ['app0077'], start: 0, matching: 1 });
    expect(windowOf(items, (x) => x, 'nope', 0)).toEqual({ items: [], start: 0, matching: 0 });
  });
});

describe('the plan editor of a large plan', () => {
  const big = (id = 'dep-big') => detailOf(id, largePlan(1000, 10, 2), 'planned');

  it('draws a small plan whole, as before', async () => {
    const page = await render(context(detailOf('dep-small', samplePlan(), 'planned')), 'dep-small', 'small plan');
    expect(cardsOf(page)).toEqual(['cache', 'db', 'api', 'web']);
    expect(page.byClass('disclosure')).toEqual([]);
    expect(page.byClass('stage-counts')).toEqual([]);
    expect(page.byClass('windowed')).toEqual([]);
  });

  it('folds every stage of 1,000 apps × 10 hosts into its counts', async () => {
    const page = await render(context(big()), 'dep-big', '1,000-app plan, folded');
    expect(page.size).toBeLessThan(1000);
    expect(cardsOf(page)).toEqual([]);
    expect(page.byClass('stage-counts').map((p) => p.textContent)).toEqual([
      '500 apps · 5000 targets · 1000 batches · 500 gates',
      '500 apps · 5000 targets · 1000 batches · 500 gates',
    ]);
    const toggle = button(page, 'plan-stage-2-toggle');
    expect(toggle.textContent).toContain('Apps of stage 2');
    expect(toggle.getAttribute('aria-expanded')).toBe('false');
    expect(toggle.getAttribute('aria-controls')).toBe('plan-stage-2-region');
  });

  it('shows the first window of a stage when it is unfolded, and pages on', async () => {
    const page = await render(context(big()), 'dep-big', '1,000-app plan, folded');
    const stage2 = column(page, 2);
    button(stage2, 'plan-stage-2-toggle').dispatch('click');
    expect(button(stage2, 'plan-stage-2-toggle').getAttribute('aria-expanded')).toBe('true');
    expect(cardsOf(stage2)).toEqual(Array.from({ length: PAGE }, (_, i) => appName(500 + i)));
    expect(byId(stage2, 'plan-stage-2-apps-status').textContent).toBe('Showing 1–50 of 500.');
    expect(button(stage2, 'plan-stage-2-apps-prev').disabled).toBe(true);
    expect(cardsOf(column(page, 1))).toEqual([]);
    expect(page.size).toBeLessThan(BOUND);

    button(stage2, 'plan-stage-2-apps-next').dispatch('click');
    expect(cardsOf(stage2)[0]).toBe('app0550');
    expect(button(stage2, 'plan-stage-2-apps-prev').disabled).toBe(false);
    expect(page.size).toBeLessThan(BOUND);

    // The page is rebuilt on every poll: the stage stays open on the same window.
    const again = await render(context(big()), 'dep-big', '1,000-app plan, one stage open');
    expect(cardsOf(column(again, 2))[0]).toBe('app0550');
    expect(again.size).toBeLessThan(BOUND);
    button(column(again, 2), 'plan-stage-2-toggle').dispatch('click');
    expect(cardsOf(again)).toEqual([]);
  });

  it('finds an app by name, with its batches', async () => {
    const page = await render(context(big()), 'dep-big-find', '1,000-app plan, folded');
    const stage2 = column(page, 2);
    button(stage2, 'plan-stage-2-toggle').dispatch('click');
    const filter = byId(stage2, 'plan-stage-2-apps-filter');
    filter.value = 'app0777';
    filter.dispatch('input');
    expect(cardsOf(stage2)).toEqual(['app0777']);
    const card = stage2.byClass('card')[0];
    expect(card.byClass('chip').map((c) => c.textContent)).toEqual(['1', '100%']);
    expect(byId(stage2, 'plan-stage-2-apps-status').textContent).toBe('Showing 1–1 of the 1 matching “app0777” (of 500).');

    filter.value = 'app9';
    filter.dispatch('input');
    expect(cardsOf(stage2)).toEqual([]);
    expect(byId(stage2, 'plan-stage-2-apps-status').textContent).toBe('Nothing matches “app9”.');
  });

  it('sends the edits of a card in a later window', async () => {
    const seen: Seen[] = [];
    const ctx = context(big('dep-big-edit'), seen);
    const page = await render(ctx, 'dep-big-edit', '1,000-app plan, folded');
    const stage2 = column(page, 2);
    button(stage2, 'plan-stage-2-toggle').dispatch('click');
    for (let i = 0; i < 5; i++) button(stage2, 'plan-stage-2-apps-next').dispatch('click');
    expect(byId(stage2, 'plan-stage-2-apps-status').textContent).toBe('Showing 251–300 of 500.');
    const card = stage2.findAll((el) => el.getAttribute('data-app') === 'app0777')[0];

    const batches = byId(card, 'batches-app0777');
    batches.value = '2, 50%, 100%';
    batches.dispatch('input');
    await submit(ctx, card, 'batches-app0777');
    const puts = () => seen.filter((s) => s.method === 'PUT');
    expect(puts().map((s) => s.url)).toEqual(['/api/deployments/dep-big-edit/plan']);
    expect(JSON.parse(puts()[0].body!)).toEqual({ adjustments: [{ op: 'set_batches', app: 'app0777', batches: [2, '50%', '100%'] }] });

    // Rebuilt after the save, the card is where it was, with the notice on it.
    const again = await render(ctx, 'dep-big-edit', '1,000-app plan after a save');
    const saved = column(again, 2).findAll((el) => el.getAttribute('data-app') === 'app0777')[0];
    expect(saved.byClass('notice').map((n) => n.textContent)).toEqual(['Saved.']);

    const move = byId(saved, 'move-app0777');
    move.value = 'stage:1';
    move.dispatch('change');
    await submit(ctx, saved, 'move-app0777');
    expect(JSON.parse(puts()[1].body!)).toEqual({ adjustments: [{ op: 'move_app', app: 'app0777', stage: 1 }] });
  });
});

describe('the live progress of a large rollout', () => {
  /** app0000–app0299 done, app0300–app0302 running, app0303 failed on every host, the rest
   * pending; the 10 hosts of app0400–app0419 skipped as unreachable. */
  function running(id: string): DeploymentDetail {
    const d = detailOf(id, largePlan(1000, 10, 1), 'running');
    const apps = d.plan.stages[0].apps;
    const hosts = (from: number, to: number, status: TargetProgress['status']): TargetProgress[] =>
      apps.slice(from, to).flatMap((a) =>
        a.targets.map((target) => ({ app: a.app, target, status, batch: 1, updated_at: 'x', error_type: null, error: null })),
      );
    d.progress.apps = apps.slice(0, 304).map((a, i) => ({
      app: a.app,
      status: i < 300 ? ('succeeded' as const) : i < 303 ? ('running' as const) : ('failed' as const),
      started_at: '2026-01-01T00:00:01Z',
      ended_at: null,
    }));
    d.progress.targets = [...hosts(0, 300, 'succeeded'), ...hosts(303, 304, 'failed'), ...hosts(400, 420, 'skipped')];
    return d;
  }
  const shownApps = (el: FakeElement) => el.byClass('app-progress').map((a) => a.getAttribute('data-app'));

  it('draws a small rollout whole, as before', async () => {
    const page = await render(context(detailOf('dep-small-run', samplePlan(), 'running')), 'dep-small-run', 'small rollout');
    expect(shownApps(page)).toEqual(['cache', 'db', 'api', 'web']);
    expect(page.byClass('stages')[0].byClass('disclosure')).toEqual([]);
  });

  it('shows the running and failed apps and folds the succeeded and pending ones', async () => {
    const page = await render(context(running('dep-run')), 'dep-run', '10,000-target rollout');
    expect(page.size).toBeLessThan(BOUND);
    expect(shownApps(page)).toEqual(['app0300', 'app0301', 'app0302', 'app0303']);
    expect(page.byClass('stage-counts').map((p) => p.textContent)).toEqual([
      '1000 apps · 1 failed · 3 running · 696 pending · 300 succeeded',
    ]);
    const succeeded = button(page, 'progress-stage-1-succeeded-toggle');
    const pending = button(page, 'progress-stage-1-pending-toggle');
    expect(succeeded.textContent).toContain('Succeeded apps (300)');
    expect(pending.textContent).toContain('Pending apps (696)');
    expect([succeeded, pending].map((b) => b.getAttribute('aria-expanded'))).toEqual(['false', 'false']);
    // Failing hosts in full (10), skipped ones a window at a time (200).
    expect(page.byClass('failures')[0].findAll((el) => el.tagName === 'li').length).toBe(10);
    const skipped = page.byClass('skipped')[0];
    expect(byId(skipped, 'skipped-status').textContent).toBe('Showing 1–50 of 200.');
    expect(skipped.findAll((el) => el.tagName === 'li').length).toBe(PAGE);

    succeeded.dispatch('click');
    expect(succeeded.getAttribute('aria-expanded')).toBe('true');
    expect(shownApps(page).length).toBe(4 + 20);
    expect(page.size).toBeLessThan(BOUND);
    const filter = byId(page, 'progress-stage-1-succeeded-filter');
    filter.value = 'app0123';
    filter.dispatch('input');
    expect(shownApps(page)).toEqual(['app0300', 'app0301', 'app0302', 'app0303', 'app0123']);
    const found = page.byClass('app-progress').find((a) => a.getAttribute('data-app') === 'app0123')!;
    expect(found.byClass('target').map((el) => el.getAttribute('data-status'))).toEqual(Array(10).fill('succeeded'));

    pending.dispatch('click');
    expect(shownApps(page).length).toBe(5 + 20);
    expect(byId(page, 'progress-stage-1-pending-status').textContent).toBe('Showing 1–20 of 696.');
    expect(page.size).toBeLessThan(BOUND);
  });

  it('shows many waiting gates a window at a time', async () => {
    const d = running('dep-gates');
    d.progress.gates = d.plan.stages[0].apps.slice(300, 360).map((a) => ({ gate: `${a.app}.0`, status: 'waiting' as const, comment: null, by: null }));
    const page = await render(context(d), 'dep-gates', '60 waiting gates');
    const panel = page.byClass('gates')[0];
    expect(panel.byClass('gate').length).toBe(PAGE);
    expect(byId(panel, 'gates-list-status').textContent).toBe('Showing 1–50 of 60.');
    button(panel, 'gates-list-next').dispatch('click');
    expect(panel.byClass('gate').map((g) => g.getAttribute('data-gate'))).toEqual(
      Array.from({ length: 10 }, (_, i) => `${appName(350 + i)}.0`),
    );
    expect(page.size).toBeLessThan(BOUND);
  });
});
