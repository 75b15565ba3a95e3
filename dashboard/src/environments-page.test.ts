import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Api } from './api';
import type { Ctx } from './ctx';
import { formatTime } from './format';
import { translate, type Locale } from './i18n';
import { environmentsPage } from './pages/environments';
import { fake, fakeDocument, type FakeElement } from './test/dom';
import { sampleEnvironments } from './test/fixtures';
import type { EnvironmentView } from './api.gen';

beforeAll(() => {
  vi.stubGlobal('document', fakeDocument);
});
afterAll(() => {
  vi.unstubAllGlobals();
});

/** A page context over an api that lists `items` as the environments. */
function context(items: EnvironmentView[], locale: Locale = 'en', seen: string[] = []): Ctx {
  const fetchFn = async (url: string) => {
    seen.push(url);
    return new Response(JSON.stringify({ items, next_cursor: null }), { status: 200, headers: { 'Content-Type': 'application/json' } });
  };
  return { api: new Api('', 'tok', fetchFn), role: 'viewer', t: (key, vars) => translate(locale, key, vars), refresh: () => {} };
}

const env = (page: FakeElement, name: string) => page.findAll((el) => el.getAttribute('data-env') === name)[0];
const rows = (el: FakeElement) => el.findAll((x) => x.tagName === 'tr').slice(1);
const cells = (row: FakeElement) => row.findAll((x) => x.tagName === 'td').map((td) => td.textContent);

describe('the environments page', () => {
  it('shows each environment under its own heading, frozen or open, and when it opens', async () => {
    const seen: string[] = [];
    const page = fake(await environmentsPage(context(sampleEnvironments(), 'en', seen)));
    expect(seen).toEqual(['/api/environments']);
    expect(page.findAll((el) => el.tagName === 'h1').map((x) => x.textContent)).toEqual(['Environments']);
    const staging = env(page, 'staging');
    const prod = env(page, 'prod');
    for (const [section, name] of [[staging, 'staging'], [prod, 'prod']] as const) {
      const heading = section.findAll((el) => el.tagName === 'h2')[0];
      expect(heading.textContent).toBe(name);
      expect(section.getAttribute('aria-labelledby')).toBe(heading.getAttribute('id'));
    }
    expect(staging.getAttribute('data-frozen')).toBe('false');
    expect(staging.byClass('env-head')[0].textContent).toBe('stagingopen');
    expect(prod.getAttribute('data-frozen')).toBe('true');
    expect(prod.byClass('env-head')[0].textContent).toBe(`prodfrozennext open at ${formatTime('2026-12-07T07:00:00Z')}`);

    const frozenForever: EnvironmentView = { ...sampleEnvironments()[1], opens_at: null };
    const again = fake(await environmentsPage(context([frozenForever])));
    expect(again.byClass('opens')[0].textContent).toBe('no opening in reach');
  });

  it('says how each repository promotes into it and whether deployments start by themselves', async () => {
    const page = fake(await environmentsPage(context(sampleEnvironments())));
    expect(rows(env(page, 'staging').findAll((el) => el.tagName === 'table')[0]).map(cells)).toEqual([
      ['github.com/acme/shop', 'any version, as soon as it is planned', 'automatically', 'v1.2.0'],
    ]);
    expect(rows(env(page, 'prod').findAll((el) => el.tagName === 'table')[0]).map(cells)).toEqual([
      ['github.com/acme/shop', 'after staging, soak 1h', 'when someone confirms', 'v1.2.0'],
    ]);
    const noSoak: EnvironmentView = {
      ...sampleEnvironments()[1],
      repositories: [{ repository: 'shop', version: 'v2', auto_confirm: false, promotion: { after: ['staging', 'qa'] } }],
    };
    const again = fake(await environmentsPage(context([noSoak])));
    expect(again.byClass('promotion').map((x) => x.textContent)).toEqual(['after staging, qa']);
  });

  it('lists its freeze windows: where they come from, when they hold, what they block and what running deployments do', async () => {
    const page = fake(await environmentsPage(context(sampleEnvironments())));
    const prod = env(page, 'prod');
    const windows = prod.findAll((el) => el.tagName === 'table')[1];
    expect(windows.findAll((el) => el.tagName === 'th').map((x) => x.textContent)).toEqual(['Window', 'Reason', 'When', 'Apps', 'Blocks', 'Running deployments']);
    expect(rows(windows).map(cells)).toEqual([
      [
        'weekenddeclared by github.com/acme/shop',
        'Weekend: nobody on call to watch a release',
        `in force until ${formatTime('2026-12-07T07:00:00Z')}next from ${formatTime('2026-12-11T15:00:00Z')}`,
        'every app',
        'starting deploymentsfurther batches',
        'wait at their next batch until it closes',
      ],
      ['incidentadded through the API', 'INC-7', `next from ${formatTime('2026-12-24T17:00:00Z')}`, 'api, web', 'starting deployments', 'run to their end'],
    ]);
    expect(env(page, 'staging').byClass('empty').map((x) => x.textContent)).toEqual(['No freeze window names it.', 'No deployment is held back.']);
  });

  it('lists the deployments held back with each reason, linking to their page', async () => {
    const page = fake(await environmentsPage(context(sampleEnvironments())));
    const held = env(page, 'prod').byClass('waiting')[0];
    const items = held.findAll((el) => el.tagName === 'li' && el.attributes.has('data-deployment'));
    expect(items.map((li) => li.getAttribute('data-deployment'))).toEqual(['dep-prod']);
    const link = items[0].findAll((el) => el.tagName === 'a')[0];
    expect(link.getAttribute('href')).toBe('#/deployments/dep-prod');
    expect(link.textContent).toBe('dep-prod');
    expect(items[0].byClass('reason').map((r) => r.textContent)).toEqual([
      'waits for staging: running',
      'frozen by weekend until 2026-12-07 07:00 UTC: Weekend: nobody on call to watch a release',
    ]);
    expect(items[0].textContent).toContain(`as of ${formatTime('2026-12-05T10:00:00Z')} · checked again at ${formatTime('2026-12-07T07:00:00Z')}`);
  });

  it('says so when no environment is declared', async () => {
    const page = fake(await environmentsPage(context([])));
    expect(page.byClass('empty').map((x) => x.textContent)).toEqual([
      'No environment is declared yet. They come from the boreas.yaml of registered repositories.',
    ]);
  });

  it('is translated to Chinese', async () => {
    const page = fake(await environmentsPage(context(sampleEnvironments(), 'zh')));
    expect(page.findAll((el) => el.tagName === 'h1')[0].textContent).toBe('环境');
    const prod = env(page, 'prod');
    expect(prod.byClass('env-head')[0].textContent).toContain('已冻结');
    expect(prod.byClass('promotion')[0].textContent).toBe('在 staging 成功并稳定运行 1h 之后');
    expect(prod.textContent).toContain('在下一批次前等待，直到窗口关闭');
    expect(prod.textContent).toContain('通过 API 添加');
  });
});
