// The dashboard end to end: a real `boreas dev` (emulator, api, state machine, agents, and Debian's
// Prometheus scraping the demo apps), the built dashboard it serves, and Debian's Chromium driven
// by playwright-core (no browser download).
//
// BOREAS_BIN names the `boreas` binary (default: debug/boreas under $CARGO_TARGET_DIR, else this workspace's target/, with
// boreas-agent beside it); CHROMIUM the browser (default /usr/bin/chromium). Screenshots go to
// dashboard/e2e/screenshots/.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DICTIONARIES } from '../src/i18n';
import type { DeploymentDetail, DeploymentSummaryList } from '../src/api.gen';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
const shots = join(here, 'screenshots');
const boreas = process.env.BOREAS_BIN ?? join(process.env.CARGO_TARGET_DIR ?? join(root, 'target'), 'debug/boreas');
const chromiumPath = process.env.CHROMIUM ?? '/usr/bin/chromium';
const WIDTH = 1366;

interface DevJson {
  api_url: string;
  dashboard_url: string;
  api_token: string;
  emulator_endpoint: string;
  prefix: string;
}

/** A stand-in chat: the raw body of every message posted to it. */
interface Chat {
  server: Server;
  url: string;
  bodies: string[];
}

let dev: ChildProcess | null = null;
let devLog = '';
let stateDir = '';
let state: DevJson;
let browser: Browser | null = null;
let page: Page;
let chat: Chat | null = null;

async function until<T>(what: string, ms: number, probe: () => Promise<T | null | undefined | false>): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown = null;
  while (Date.now() < deadline) {
    try {
      const v = await probe();
      if (v) return v;
    } catch (e) {
      if (e instanceof Fatal) throw e;
      last = e;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}${last ? `: ${String(last)}` : ''}\n--- boreas dev ---\n${logTail()}`);
}

/** An error that waiting longer cannot cure. */
class Fatal extends Error {}

/** The end of the platform's log without the inventory reports that arrive every 2 s. */
function logTail(): string {
  return devLog
    .split('\n')
    .filter((l) => !l.includes('InventoryStored'))
    .slice(-40)
    .join('\n');
}

async function api<T>(method: string, path: string, token = state.api_token, body?: unknown): Promise<T> {
  const res = await fetch(`${state.api_url.replace(/\/api$/, '')}${path}`, {
    method,
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = (await res.json()) as T;
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

async function shot(name: string): Promise<void> {
  await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
}

/** The page fits the laptop width: nothing scrolls sideways. */
async function expectNoHorizontalScroll(): Promise<void> {
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  expect(width).toBeLessThanOrEqual(WIDTH);
}

/** A Slack-compatible incoming webhook on 127.0.0.1 that answers every post with 200 `{}`. */
function startChat(): Promise<Chat> {
  const bodies: string[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      if (req.method === 'POST') bodies.push(body);
      res.writeHead(200, { 'Content-Type': 'application/json' }).end('{}');
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      resolve({ server, url: `http://127.0.0.1:${port}/hooks/e2e`, bodies });
    });
  });
}

function statusOf(selector: string): Promise<string | null> {
  return page.locator(selector).first().getAttribute('data-status');
}

/** The English strings of the dictionaries (at least 4 characters before any placeholder) that the
 * page still shows, leaving out the elements `data` selects (the api's and git's own words). The
 * api's messages are English by design; everything else must be translated. */
async function englishLeft(data: string): Promise<string[]> {
  const english = Object.entries(DICTIONARIES.en)
    .filter(([k, v]) => DICTIONARIES.zh[k as keyof typeof DICTIONARIES.zh] !== v)
    .map(([, v]) => v.split('{')[0].trim())
    .filter((v) => v.length >= 4);
  const text = await page.evaluate((data) => {
    const copy = document.body.cloneNode(true) as HTMLElement;
    copy.querySelectorAll(data).forEach((e) => e.remove());
    document.body.append(copy);
    const seen = copy.innerText;
    copy.remove();
    return seen;
  }, data);
  return english.filter((s) => text.includes(s));
}

beforeAll(async () => {
  for (const [what, path] of [
    ['boreas', boreas],
    ['chromium', chromiumPath],
    ['the built dashboard', join(root, 'dashboard/dist/index.html')],
  ]) {
    if (!existsSync(path)) throw new Error(`${what} is missing at ${path}`);
  }
  mkdirSync(shots, { recursive: true });
  stateDir = mkdtempSync(join(tmpdir(), 'boreas-dashboard-e2e-'));
  // Agents report their inventory after every command, which is what coverage needs; the
  // periodic report is set beyond the test's length so that it never interrupts a receive.
  dev = spawn(boreas, ['dev', '--state-dir', stateDir, '--port', '0', '--inventory-seconds', '3600'], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  dev.stdout?.on('data', (d) => (devLog += d));
  dev.stderr?.on('data', (d) => (devLog += d));
  const exited = new Promise<never>((_, reject) =>
    dev?.on('exit', (code) => reject(new Error(`boreas dev exited with ${code}\n${logTail()}`))),
  );
  exited.catch(() => undefined);
  state = await Promise.race([
    exited,
    until('dev.json', 240_000, async () => {
      const file = join(stateDir, 'dev.json');
      return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as DevJson) : null;
    }),
  ]);
  await until('the dashboard', 30_000, async () => (await fetch(state.dashboard_url)).ok);
  browser = await chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    // Root in CI, and no connections anywhere but the page under test.
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  const context = await browser.newContext({ viewport: { width: WIDTH, height: 900 }, locale: 'en-US' });
  page = await context.newPage();
  page.on('dialog', (d) => void d.accept());
}, 300_000);

afterAll(async () => {
  await browser?.close();
  if (dev && dev.exitCode === null) {
    const done = new Promise((r) => dev?.once('exit', r));
    dev.kill('SIGTERM');
    await Promise.race([done, new Promise((r) => setTimeout(r, 30_000))]);
    if (dev.exitCode === null) dev.kill('SIGKILL');
  }
  if (chat) {
    // The notifier's client may hold a keep-alive connection, which would keep close() waiting.
    chat.server.closeAllConnections();
    await new Promise((r) => chat?.server.close(r));
  }
  if (stateDir) rmSync(stateDir, { recursive: true, force: true });
});

describe('the dashboard against boreas dev', () => {
  let deploymentId = '';

  it('refuses a wrong token plainly, then signs in with the admin token by keyboard', async () => {
    await page.goto(state.dashboard_url);
    await page.fill('#token', 'not-a-token');
    await page.press('#token', 'Enter');
    await expect.poll(() => page.locator('#signin-error').textContent()).toContain('401');
    await page.fill('#token', state.api_token);
    await page.press('#token', 'Enter');
    await page.waitForSelector('nav a[aria-current="page"]');
    expect(await page.locator('.role').textContent()).toBe('Admin');
    await expectNoHorizontalScroll();
  });

  it('shows the version planned from boreas demo tag', async () => {
    // v1.0.1's boreas.yaml sends staging's events to a chat sink registered in the platform.
    chat = await startChat();
    const added = spawnSync(
      boreas,
      ['notify', 'add', 'e2e-chat', '--kind', 'slack', '--endpoint', state.emulator_endpoint, '--prefix', state.prefix],
      { cwd: root, encoding: 'utf8', input: chat.url },
    );
    expect(added.status, `${added.stdout}\n${added.stderr}`).toBe(0);
    const repo = join(stateDir, 'demo-repo');
    appendFileSync(join(repo, 'boreas.yaml'), '\nnotifications:\n  - sink: e2e-chat\n    environments: [staging]\n');
    const committed = spawnSync('git', ['-C', repo, 'commit', '-qam', 'demo: staging to the chat'], { encoding: 'utf8' });
    expect(committed.status, `${committed.stdout}\n${committed.stderr}`).toBe(0);
    const tagged = spawnSync(boreas, ['demo', 'tag', 'v1.0.1', '--state-dir', stateDir], { cwd: root, encoding: 'utf8' });
    expect(tagged.status, `${tagged.stdout}\n${tagged.stderr}`).toBe(0);
    const planned = await until('a planned staging deployment', 120_000, async () => {
      const list = await api<DeploymentSummaryList>('GET', '/api/deployments?status=planned');
      return list.items.find((d) => d.environment === 'staging' && d.version === 'v1.0.1');
    });
    deploymentId = planned.id;
    await page.goto(`${state.dashboard_url}#/versions`);
    await page.waitForSelector('[data-version="v1.0.1"]');
    // The demo tag's webhook names its pusher; the timeline shows who pushed.
    expect(await page.textContent('[data-version="v1.0.1"] .pusher')).toContain('boreas-demo');
    await page.goto(`${state.dashboard_url}#/overview`);
    const link = page.locator(`a[href="#/deployments/${encodeURIComponent(deploymentId)}"]`).first();
    await until('the deployment on the overview', 30_000, async () => {
      await page.reload();
      // The page renders after its api calls answer: give each reload time to draw.
      return link.waitFor({ timeout: 3_000 }).then(
        () => true,
        () => false,
      );
    });
    await link.click();
    await page.waitForSelector('#plan-editor');
    // Nothing ran in staging before: the review says so, and lists no commits.
    expect(await page.textContent('#plan-review .review-change')).toContain('First deployment to staging');
    expect(await page.locator('#review-commits-toggle').count()).toBe(0);
    await expectNoHorizontalScroll();
  });

  it('saves adjustments and shows the rule an illegal move breaks', async () => {
    const before = await api<DeploymentDetail>('GET', `/api/deployments/${deploymentId}`);
    const stages = before.plan.stages.map((s) => s.apps.map((a) => a.app));
    expect(stages.flat().sort()).toEqual(['api', 'storefront', 'web']);
    await shot('plan-editor');

    // A legal edit: api in two halves, saved by the api and shown on the card.
    await page.fill('#batches-api', '50%, 100%');
    await page.press('#batches-api', 'Enter');
    await page.waitForSelector('[data-app="api"] .notice');
    await expect.poll(() => page.locator('[data-app="api"] .chips').textContent()).toBe('50%100%');
    const adjusted = await api<DeploymentDetail>('GET', `/api/deployments/${deploymentId}`);
    expect(adjusted.plan.stages.flatMap((s) => s.apps).find((a) => a.app === 'api')?.batch_sizes).toEqual(['50%', '100%']);

    // A move to a later stage wherever the plan has one that keeps every dependency before it.
    const dependents = (app: string) => adjusted.plan.stages.flatMap((s) => s.apps).filter((a) => a.depends_on?.includes(app));
    const free = adjusted.plan.stages.flatMap((s, i) => s.apps.map((a) => ({ app: a.app, stage: i + 1 }))).find(
      (a) => dependents(a.app).length === 0 && adjusted.plan.stages[a.stage - 1].apps.length > 1,
    );
    // The demo's storefront has no dependents and shares its stage with web, so it can move on.
    if (!free) throw new Error('the demo plan has no app that can legally move to a later stage');
    const last = adjusted.plan.stages.length;
    await page.selectOption(`#move-${free.app}`, `new:${last}`);
    await page.click(`[data-app="${free.app}"] button[type="submit"]`);
    await page.waitForSelector(`[data-app="${free.app}"] .notice`);
    const moved = await api<DeploymentDetail>('GET', `/api/deployments/${deploymentId}`);
    expect(moved.plan.stages[moved.plan.stages.length - 1].apps.map((a) => a.app)).toEqual([free.app]);

    // An illegal move, by keyboard: api into web's stage, though web depends on api.
    const webStage = adjusted.plan.stages.findIndex((s) => s.apps.some((a) => a.app === 'web')) + 1;
    await page.focus('#move-api');
    await page.selectOption('#move-api', `stage:${webStage}`);
    await page.keyboard.press('Tab');
    await page.keyboard.press('Enter');
    const error = page.locator('[data-app="api"] .error');
    await error.waitFor();
    expect(await error.getAttribute('data-code')).toBe('dependency_order');
    expect(await error.textContent()).toContain('depends on');
    const unchanged = await api<DeploymentDetail>('GET', `/api/deployments/${deploymentId}`);
    expect(unchanged.plan).toEqual((await api<DeploymentDetail>('GET', `/api/deployments/${deploymentId}`)).plan);
    expect(unchanged.plan.stages.findIndex((s) => s.apps.some((a) => a.app === 'api')) + 1).toBeLessThan(webStage);
    // The same rule by mouse: web's card dragged onto the head of api's stage.
    await page.locator('[data-app="web"] .card-head').dragTo(page.locator('.column[data-stage="1"]'), { targetPosition: { x: 40, y: 20 } });
    const dragged = page.locator('[data-app="web"] .error');
    await dragged.waitFor();
    expect(await dragged.getAttribute('data-code')).toBe('dependency_order');
    await shot('plan-editor-rule');
    await expectNoHorizontalScroll();
  });

  /** Fails at once, with what the targets reported, when the rollout of `id` ended without succeeding. */
  async function stillGoingOf(id: string): Promise<void> {
    const d = await api<DeploymentDetail>('GET', `/api/deployments/${encodeURIComponent(id)}`);
    if (['failed', 'rolled_back', 'cancelled', 'superseded'].includes(d.status)) {
      const targets = d.progress.targets.map((t) => `${t.app}/${t.target}: ${t.status} ${t.error_type ?? ''} ${t.error ?? ''}`);
      throw new Fatal(`deployment ${id} ended ${d.status}: ${d.error ?? ''}\n${targets.join('\n')}`);
    }
  }
  const stillGoing = () => stillGoingOf(deploymentId);

  it('confirms, turns batches green, and continues after the gate is approved', async () => {
    await page.click('#confirm');
    await page.click('#confirm-start');
    await page.waitForSelector('#live-progress');
    // The first batch of api succeeds, then the manual gate holds the rollout.
    await until('the first batch of api to succeed', 180_000, async () => {
      await stillGoing();
      return (await statusOf('[data-app="api"] [data-batch="0"]')) === 'succeeded';
    });
    await page.waitForSelector('[data-gate]', { timeout: 60_000 });
    await expect.poll(() => page.locator('[data-app="api"] [data-batch="0"] .target').first().getAttribute('data-status')).toBe('succeeded');
    await shot('live-progress');
    await expectNoHorizontalScroll();

    await page.fill('.gate textarea', 'LGTM 1/2');
    await page.click('.gate .btn.primary');
    await until('the deployment to succeed', 240_000, async () => {
      await stillGoing();
      return (await statusOf('.dep-head [data-status]')) === 'succeeded';
    });
    const batches = await page.locator('.batch').evaluateAll((els) => els.map((e) => e.getAttribute('data-status')));
    expect(batches.length).toBeGreaterThan(1);
    expect(batches.every((s) => s === 'succeeded')).toBe(true);
    expect(await page.locator('.gate-line').first().textContent()).toContain('LGTM 1/2');
    await shot('live-progress-done');

    // Prometheus scraped the demo apps: each batch of api was judged by its error rate and passed.
    const judged = page.locator('.panel.analyses li.analysis[data-app="api"]');
    await judged.first().waitFor();
    expect(await judged.evaluateAll((els) => els.map((e) => [e.getAttribute('data-batch'), e.getAttribute('data-verdict')]))).toEqual([
      ['0', 'pass'],
      ['1', 'pass'],
    ]);
    expect(await judged.first().locator('.bar').count()).toBe(2);
    await page.locator('.panel.analyses').scrollIntoViewIfNeeded();
    await shot('analysis');

    // A chat sink hears the waiting gate and the outcome; the page lists both deliveries.
    const panel = page.locator('.panel.notifications');
    const delivered = DICTIONARIES.en['notify.delivered'];
    const rows = await until('both chat notifications to be delivered', 60_000, async () => {
      await page.reload();
      // The page renders after its api calls answer: give each reload time to draw.
      await panel.waitFor({ timeout: 3_000 });
      const listed = await panel.locator('li.notification').evaluateAll((els) =>
        els.map((e) => [e.getAttribute('data-sink'), e.getAttribute('data-event'), e.querySelector('.state')?.textContent]),
      );
      if (listed.length === 2 && listed.every(([, , s]) => s === delivered)) return listed;
      // until() reports the last error if it gives up: what the panel listed.
      throw new Error(`the panel lists ${JSON.stringify(listed)}`);
    });
    expect(rows).toEqual([
      ['e2e-chat', 'gate_waiting:api.0', delivered],
      ['e2e-chat', 'succeeded', delivered],
    ]);
    const texts = (chat?.bodies ?? []).map((b) => (JSON.parse(b) as { text: string }).text);
    expect(texts).toHaveLength(2);
    // Each message links to the deployment's page of this dashboard.
    for (const text of texts) expect(text).toContain(`#/deployments/${deploymentId}`);
    await panel.scrollIntoViewIfNeeded();
    await shot('notifications');
    await expectNoHorizontalScroll();
  });

  it('shows 100% coverage on the Apps page', async () => {
    await page.click('nav a[href="#/apps"]');
    for (const app of ['api', 'web']) {
      await until(`100% coverage of ${app} in staging`, 120_000, async () => {
        await page.reload();
        const cell = page.locator(`[data-app="${app}"] .coverage[data-env="staging"] .coverage-pct`);
        const drawn = await cell.waitFor({ timeout: 3_000 }).then(
          () => true,
          () => false,
        );
        return drawn && (await cell.textContent()) === '100%';
      });
    }
    await shot('apps');
    await expectNoHorizontalScroll();
  });

  it('lists repositories with their last delivery, registers one and rotates its secret, showing each secret once', async () => {
    await page.click('nav a[href="#/repositories"]');
    // The demo's tag push reached intake, which accepted it.
    const demo = page.locator('[data-delivery="localhost/boreas/demo"]');
    await demo.waitFor();
    expect(await demo.locator('.badge.tone-ok').count()).toBe(1);

    await page.fill('#repo-fullName', 'acme');
    await page.fill('#repo-cloneUrl', 'https://github.com/acme/shop.git');
    await page.click('button[type="submit"]');
    // Refused in the page, before any request, naming the field.
    await page.locator('#repo-fullName[aria-invalid="true"]').waitFor();
    expect(await page.locator('[role="alert"]', { hasText: 'owner/name' }).count()).toBe(1);
    await page.fill('#repo-fullName', 'acme/shop');
    await page.selectOption('#repo-provider', 'github');
    await page.fill('#repo-token', 'ghp_e2e0123456789');
    await page.click('button[type="submit"]');
    const secret = page.locator('#webhook-secret');
    await secret.waitFor();
    const first = (await secret.textContent()) ?? '';
    expect(first).toMatch(/^[0-9a-f]{64}$/);
    const row = page.locator('tr', { hasText: 'acme/shop' });
    expect(await row.textContent()).toContain('with a token');
    expect(await page.locator('body').textContent()).not.toContain('ghp_e2e0123456789');
    await shot('repositories');
    await page.click('button:has-text("I have copied it")');
    await expect.poll(() => page.locator('#webhook-secret').count()).toBe(0);

    await row.locator('input[type="number"]').fill('2');
    await row.locator('button', { hasText: 'Rotate' }).click();
    await secret.waitFor();
    expect(await secret.textContent()).not.toBe(first);
    const repo = await api<{ previous_secret_until: string | null }>('GET', '/api/repositories/github.com%2Facme%2Fshop');
    const grace = Date.parse(repo.previous_secret_until ?? '') - Date.now();
    expect(grace).toBeGreaterThan(3600_000);
    expect(grace).toBeLessThanOrEqual(7200_000);
    await page.click('button:has-text("I have copied it")');
    await expectNoHorizontalScroll();
  });

  it('asks for a reason before a revert and shows why the api refused it', async () => {
    await page.click('nav a[href="#/versions"]');
    const item = page.locator('[data-version="v1.0.1"]');
    await item.locator('button', { hasText: 'Revert…' }).click();
    const reason = item.locator('textarea');
    expect(await reason.evaluate((el) => (el as HTMLTextAreaElement).validity.valueMissing)).toBe(true);
    await reason.fill('health checks flap under load');
    await item.locator('button[type="submit"]').click();
    // v1.0.1 runs in staging and no older version was ever planned: nothing to roll back to.
    const error = item.locator('.error');
    await error.waitFor();
    expect(await error.getAttribute('data-code')).toBe('no_rollback_target');
    expect(await error.textContent()).toContain('There is no older version to roll back to.');
    const version = await api<{ state: string }>('GET', '/api/versions/localhost%2Fboreas%2Fdemo/v1.0.1');
    expect(version.state).toBe('normal');
    await shot('versions');
  });

  it('shows an incident freeze on the Environments page and why a held deployment waits', async () => {
    const planned = await api<DeploymentSummaryList>('GET', '/api/deployments?status=planned&env=prod');
    const prod = planned.items[0];
    expect(prod, 'the demo plans prod too').toBeDefined();
    const now = Date.now();
    await api('POST', '/api/freezes', state.api_token, {
      name: 'incident',
      reason: 'INC-7: payments degraded',
      environments: ['prod'],
      from: new Date(now - 60_000).toISOString(),
      until: new Date(now + 3600_000).toISOString(),
      blocks: ['start'],
    });
    // A refused confirm records why it waits.
    const res = await fetch(`${state.api_url}/deployments/${encodeURIComponent(prod.id)}/confirm`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${state.api_token}`, 'Content-Type': 'application/json' },
      body: '{}',
    });
    expect(res.status).toBe(409);
    expect(((await res.json()) as { error: string }).error).toBe('held');

    await page.click('nav a[href="#/environments"]');
    const env = page.locator('[data-env="prod"][data-frozen="true"]');
    await env.waitFor();
    const window = env.locator('tr', { has: page.locator('[data-window="incident"]') });
    expect(await window.textContent()).toContain('INC-7: payments degraded');
    expect(await env.locator(`a[href="#/deployments/${encodeURIComponent(prod.id)}"]`).count()).toBeGreaterThan(0);
    await shot('environments');
    await expectNoHorizontalScroll();

    await env.locator(`a[href="#/deployments/${encodeURIComponent(prod.id)}"]`).first().click();
    await page.locator('[data-policy="held"]').waitFor();
    expect(await page.locator('#policy').textContent()).toContain('frozen by incident');
    await shot('held');
    // Removing the window makes the planner look again: nothing holds the deployment then.
    await api('DELETE', '/api/freezes/incident');
    await until('the hold to go', 60_000, async () => {
      const d = await api<{ policy: { hold?: unknown } }>('GET', `/api/deployments/${encodeURIComponent(prod.id)}`);
      return d.policy.hold == null;
    });
  });

  it('switches to 中文 with nothing left in English', async () => {
    await page.selectOption('#locale', 'zh');
    await expect.poll(() => page.locator('nav a[href="#/overview"]').textContent()).toBe('概览');
    const pages: [string, string][] = [
      ['#/overview', 'nav a[href="#/overview"][aria-current="page"]'],
      ['#/versions', 'nav a[href="#/versions"][aria-current="page"]'],
      ['#/environments', 'nav a[href="#/environments"][aria-current="page"]'],
      [`#/deployments/${encodeURIComponent(deploymentId)}`, '.dep-head'],
      ['#/apps', 'nav a[href="#/apps"][aria-current="page"]'],
      ['#/agents', 'nav a[href="#/agents"][aria-current="page"]'],
      ['#/repositories', 'nav a[href="#/repositories"][aria-current="page"]'],
    ];
    for (const [hash, shown] of pages) {
      await page.goto(`${state.dashboard_url}${hash}`);
      await page.waitForSelector(shown);
      // Notification events (`succeeded`, `gate_waiting:api.0`) are identifiers, not words; an
      // analysis verdict's sentence is recorded by the worker, in English like the api's messages.
      expect(await englishLeft('.error-detail, .notification code, .analysis .message'), `${hash} still shows English`).toEqual([]);
      await expectNoHorizontalScroll();
    }
    await page.goto(`${state.dashboard_url}#/deployments/${encodeURIComponent(deploymentId)}`);
    await page.waitForSelector('#live-progress');
    expect(await page.locator('#notify-title').textContent()).toBe(DICTIONARIES.zh['notify.title']);
    await shot('live-progress-zh');
    await page.selectOption('#locale', 'en');
  });

  // v1.0.2, two commits after v1.0.1 (which runs in staging): reviewed, confirmed through its
  // summary, watched on the timeline, then found in the history of its apps and hosts.
  let nextId = '';
  let nextPlan: DeploymentDetail['plan'];
  /** What git says of v1.0.2, newest first. */
  const subjects = ['release v1.0.2', 'demo: a note for reviewers'];
  /** Elements that show the words of git and of the api, not the dashboard's, and the editor's
   * help, which names the pauses as they are typed (none, manual). */
  const DATA = '.error-detail, .notification code, .analysis .message, .commit .subject, .adjustment, .paths code, .card-edit .help';

  it('reviews the next version: the hosts of each batch in order, why each app is in, and the commits since the running one', async () => {
    const repo = join(stateDir, 'demo-repo');
    appendFileSync(join(repo, 'README.md'), '\nReviewed before it is confirmed.\n');
    const committed = spawnSync('git', ['-C', repo, 'commit', '-qam', subjects[1]], { encoding: 'utf8' });
    expect(committed.status, `${committed.stdout}\n${committed.stderr}`).toBe(0);
    const tagged = spawnSync(boreas, ['demo', 'tag', 'v1.0.2', '--state-dir', stateDir], { cwd: root, encoding: 'utf8' });
    expect(tagged.status, `${tagged.stdout}\n${tagged.stderr}`).toBe(0);
    const planned = await until('a planned staging deployment of v1.0.2', 120_000, async () => {
      const list = await api<DeploymentSummaryList>('GET', '/api/deployments?status=planned');
      return list.items.find((d) => d.environment === 'staging' && d.version === 'v1.0.2');
    });
    nextId = planned.id;
    const d = await api<DeploymentDetail>('GET', `/api/deployments/${encodeURIComponent(nextId)}`);
    nextPlan = d.plan;
    expect(d.review?.running?.version).toBe('v1.0.1');
    expect(d.review?.commits.map((c) => c.subject)).toEqual(subjects);

    await page.goto(`${state.dashboard_url}#/deployments/${encodeURIComponent(nextId)}`);
    await page.waitForSelector('#plan-review .review-stage');
    expect(await page.textContent('#plan-review .review-change')).toContain('From v1.0.1');
    // Every stage, app and batch in run order, each batch with exactly the hosts it changes.
    const order = await page.locator('#plan-review .review-stage').evaluateAll((els) =>
      els.map((s) => [...s.querySelectorAll('.review-app')].map((a) => a.getAttribute('data-app'))),
    );
    expect(order).toEqual(d.plan.stages.map((s) => s.apps.map((a) => a.app)));
    for (const a of d.plan.stages.flatMap((s) => s.apps)) {
      for (const b of a.batches) {
        const hosts = await page
          .locator(`.review-app[data-app="${a.app}"] .review-batch[data-batch="${b.index}"] .review-host`)
          .evaluateAll((els) => els.map((e) => e.getAttribute('data-host')));
        expect(hosts, `${a.app} batch ${b.index}`).toEqual(b.targets);
      }
      // The demo's apps take every change.
      const matched = d.review?.apps.find((r) => r.app === a.app)?.matched_paths ?? 0;
      expect(matched).toBeGreaterThan(0);
      expect(await page.textContent(`.review-app[data-app="${a.app}"] .reason`)).toBe(matched === 1 ? 'changed (1 path)' : `changed (${matched} paths)`);
    }
    // Every staging host runs v1.0.1 of api, and says so.
    const versions = await page.locator('.review-app[data-app="api"] .host-version').allTextContents();
    expect(versions.length).toBe(d.plan.stages.flatMap((s) => s.apps).find((a) => a.app === 'api')?.targets.length);
    expect(new Set(versions)).toEqual(new Set(['v1.0.1']));
    expect(await page.locator('.adjustments [data-adjusted="false"]').count()).toBe(1);
    // The commits, behind a toggle, by keyboard.
    await page.focus('#review-commits-toggle');
    await page.keyboard.press('Enter');
    await expect.poll(() => page.locator('.commit .subject').allTextContents()).toEqual(subjects);
    await shot('plan-review');
    await expectNoHorizontalScroll();

    await page.selectOption('#locale', 'zh');
    await expect.poll(() => page.locator('#review-title').textContent()).toBe(DICTIONARIES.zh['review.title']);
    expect(await page.locator('.commit .subject').allTextContents()).toEqual(subjects);
    expect(await englishLeft(DATA), 'the review still shows English').toEqual([]);
    await shot('plan-review-zh');
    await page.click('#confirm');
    await page.waitForSelector('#confirm-summary');
    expect(await englishLeft(DATA), 'the summary still shows English').toEqual([]);
    await shot('confirm-summary-zh');
    await page.click('#confirm-back');
    await page.waitForSelector('#plan-review');
    await page.selectOption('#locale', 'en');
  });

  it('confirms only from a one-screen summary, then draws the batches and the gate on the timeline', async () => {
    const apps = nextPlan.stages.flatMap((s) => s.apps);
    await page.click('#confirm');
    await page.waitForSelector('#confirm-summary');
    // Focus moves to the summary, which Escape leaves without confirming.
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('confirm-title');
    await page.keyboard.press('Escape');
    await page.waitForSelector('#plan-review');
    expect((await api<DeploymentDetail>('GET', `/api/deployments/${encodeURIComponent(nextId)}`)).status).toBe('planned');
    await page.click('#confirm');
    await page.waitForSelector('#confirm-summary');
    const facts = Object.fromEntries(
      await page.locator('#confirm-summary [data-fact]').evaluateAll((els) => els.map((e) => [e.getAttribute('data-fact'), e.textContent])),
    );
    const gates = apps.flatMap((a) => a.batches.flatMap((b) => (b.pause.type === 'gate' ? [b.pause.gate] : [])));
    expect(facts).toMatchObject({
      apps: `${apps.length} in ${nextPlan.stages.length} stage(s)`,
      batches: String(apps.reduce((n, a) => n + a.batches.length, 0)),
      targets: String(apps.reduce((n, a) => n + a.targets.length, 0)),
      gates: `${gates.length}: ${gates.join(', ')}`,
      adjusted: 'Not adjusted: this is the planner’s proposal.',
    });
    await shot('confirm-summary');
    await expectNoHorizontalScroll();
    await page.click('#confirm-start');
    await page.waitForSelector('#live-progress');

    // Live: api's first batch, then the wait at its gate growing until someone approves.
    const gate = page.locator('#timeline .tl-app[data-app="api"] .tl-span[data-kind="gate"]');
    await until('the gate of api on the timeline', 180_000, async () => {
      await stillGoingOf(nextId);
      return (await gate.count()) === 1 && (await gate.getAttribute('data-status')) === 'waiting';
    });
    expect(await page.getAttribute('#timeline .tl-app[data-app="api"] .tl-span[data-kind="batch"][data-batch="0"]', 'data-status')).toBe('succeeded');
    expect(await gate.getAttribute('title')).toContain('– now');
    await page.locator('#timeline').scrollIntoViewIfNeeded();
    await shot('timeline');
    await expectNoHorizontalScroll();
    await page.click('.gate .btn.primary');
    await until('v1.0.2 to succeed in staging', 240_000, async () => {
      await stillGoingOf(nextId);
      return (await statusOf('.dep-head [data-status]')) === 'succeeded';
    });
    await expect.poll(() => gate.getAttribute('data-status')).toBe('approved');
    const spans = await page.locator('#timeline .tl-span[data-kind="batch"]').evaluateAll((els) => els.map((e) => e.getAttribute('data-status')));
    expect(spans.length).toBe(apps.reduce((n, a) => n + a.batches.length, 0));
    expect(new Set(spans)).toEqual(new Set(['succeeded']));
    expect(await page.textContent('.dep-head .confirmed-by')).toBe('confirmed by admin');
    await page.locator('#timeline').scrollIntoViewIfNeeded();
    await shot('timeline-done');
    await page.selectOption('#locale', 'zh');
    await expect.poll(() => page.locator('#timeline-title').textContent()).toBe(DICTIONARIES.zh['timeline.title']);
    expect(await englishLeft(DATA), 'the timeline still shows English').toEqual([]);
    await page.locator('#timeline').scrollIntoViewIfNeeded();
    await shot('timeline-zh');
    await page.selectOption('#locale', 'en');
  });

  it('shows the history of an app, from the plan review and from the Apps page, and of a host, from the Agents page', async () => {
    // From the review of the deployment, now folded: its app names lead to their history.
    await page.click('#review-toggle');
    await page.click('.review-app[data-app="web"] .app-head a');
    await page.waitForSelector('#app-history');
    expect(page.url()).toContain('#/apps/web/staging');
    await until('both runs of web in its history', 60_000, async () => {
      await page.reload();
      await page.waitForSelector('#app-history', { timeout: 3_000 });
      return (await page.locator('#app-history tr[data-version]').count()) === 2;
    });

    await page.click('nav a[href="#/apps"]');
    await page.click('[data-app="api"] a[href="#/apps/api/staging"]');
    await page.waitForSelector('#app-history tr[data-version]');
    const rows = await page.locator('#app-history tr[data-version]').evaluateAll((els) =>
      els.map((e) => [e.getAttribute('data-version'), ...[...e.querySelectorAll('td')].map((td) => td.textContent)]),
    );
    // Newest first: version, outcome, the app, started, duration, confirmed by, gates, targets, deployment.
    expect(rows.map((r) => [r[0], r[2], r[3], r[6], r[7], r[9]])).toEqual([
      ['v1.0.2', 'succeeded', 'succeeded', 'admin', 'api.0 approved by admin', nextId],
      ['v1.0.1', 'succeeded', 'succeeded', 'admin', 'api.0 approved by admin', deploymentId],
    ]);
    expect(await page.locator('#history-older').isDisabled()).toBe(true);
    await shot('app-history');
    await expectNoHorizontalScroll();

    // The first host api's first batch changed, from the Agents page.
    const host = nextPlan.stages.flatMap((s) => s.apps).find((a) => a.app === 'api')!.batches[0].targets[0];
    await page.click('nav a[href="#/agents"]');
    await page.click(`a[href="#/agents/staging/${encodeURIComponent(host)}"]`);
    await page.waitForSelector('#host-history');
    const changed = await page.locator('#host-history tr[data-deployment]').evaluateAll((els) =>
      els.map((e) => [e.getAttribute('data-app'), e.getAttribute('data-version'), e.getAttribute('data-deployment')]),
    );
    expect(changed.filter(([app]) => app === 'api')).toEqual([
      ['api', 'v1.0.2', nextId],
      ['api', 'v1.0.1', deploymentId],
    ]);
    await shot('host-history');
    await expectNoHorizontalScroll();

    await page.selectOption('#locale', 'zh');
    await expect.poll(() => page.locator('#history-title').textContent()).toBe(DICTIONARIES.zh['history.last_deployments']);
    expect(await englishLeft(DATA), 'the host history still shows English').toEqual([]);
    await shot('host-history-zh');
    await page.goto(`${state.dashboard_url}#/apps/api/staging`);
    await page.waitForSelector('#app-history tr[data-version]');
    expect(await englishLeft(DATA), 'the app history still shows English').toEqual([]);
    await shot('app-history-zh');
    await page.selectOption('#locale', 'en');
  });

  it('hides what a viewer may not do', async () => {
    const viewer = await api<{ token: string }>('POST', '/api/tokens', state.api_token, { name: 'e2e-viewer', role: 'viewer' });
    await page.selectOption('#locale', 'en');
    await page.click('nav + .row button');
    await page.fill('#token', viewer.token);
    await page.press('#token', 'Enter');
    await page.waitForSelector('.role');
    expect(await page.locator('.role').textContent()).toBe('Viewer');
    await page.goto(`${state.dashboard_url}#/versions`);
    await page.waitForSelector('[data-version="v1.0.1"]');
    expect(await page.locator('text=Revert…').count()).toBe(0);
  });
});
