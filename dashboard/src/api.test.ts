import { describe, expect, it } from 'vitest';
import { Api, ApiError, can, loadApiBase, normalizeBase } from './api';

type Answer = { status: number; body: unknown };

/** A fetch that answers by "METHOD path" and records what was asked. */
function fakeFetch(answers: Record<string, Answer>, seen: { method: string; url: string; headers: Record<string, string>; body?: string }[] = []) {
  return async (url: string, init?: RequestInit) => {
    const method = init?.method ?? 'GET';
    seen.push({ method, url, headers: (init?.headers ?? {}) as Record<string, string>, body: init?.body as string | undefined });
    const path = url.replace(/^https?:\/\/[^/]+/, '').replace(/\?.*$/, '');
    const a = answers[`${method} ${path}`] ?? { status: 404, body: { error: 'not_found', message: `no route ${method} ${path}` } };
    return new Response(JSON.stringify(a.body), { status: a.status, headers: { 'Content-Type': 'application/json' } });
  };
}

const forbidden = { status: 403, body: { error: 'forbidden', message: 'needs more' } };

describe('Api', () => {
  it('sends the bearer token and JSON bodies, and encodes path segments', async () => {
    const seen: { method: string; url: string; headers: Record<string, string>; body?: string }[] = [];
    const api = new Api('http://127.0.0.1:9', 'tok', fakeFetch({ 'PUT /api/deployments/d%2F1/plan': { status: 200, body: { id: 'd/1' } } }, seen));
    await api.adjust('d/1', [{ op: 'move_app', app: 'web', stage: 2 }]);
    expect(seen[0].headers.Authorization).toBe('Bearer tok');
    expect(seen[0].url).toBe('http://127.0.0.1:9/api/deployments/d%2F1/plan');
    expect(JSON.parse(seen[0].body!)).toEqual({ adjustments: [{ op: 'move_app', app: 'web', stage: 2 }] });
  });

  it('reads the hook output of a target, each path segment encoded', async () => {
    const seen: { method: string; url: string; headers: Record<string, string>; body?: string }[] = [];
    const outputs = { outputs: [{ app: 'api', target: 'web/1', action: 'deploy', output: 'boom\n', truncated: false, at: 'x' }] };
    const api = new Api('', 't', fakeFetch({ 'GET /api/deployments/d1/targets/api/web%2F1/output': { status: 200, body: outputs } }, seen));
    expect(await api.targetOutput('d1', 'api', 'web/1')).toEqual(outputs);
    expect(seen[0].url).toBe('/api/deployments/d1/targets/api/web%2F1/output');
  });

  it('decides on a failed host: the action and comment to its decision route', async () => {
    const seen: { method: string; url: string; headers: Record<string, string>; body?: string }[] = [];
    const decided = { deployment: 'd1', app: 'api', target: 'web/1', attempt: 1, action: 'retry', by: 'bob', comment: 'blip' };
    const api = new Api('', 't', fakeFetch({ 'POST /api/deployments/d1/targets/api/web%2F1/decision': { status: 200, body: decided } }, seen));
    expect(await api.decideTarget('d1', 'api', 'web/1', 'retry', 'blip')).toEqual(decided);
    expect(seen[0]).toMatchObject({ method: 'POST', url: '/api/deployments/d1/targets/api/web%2F1/decision' });
    expect(JSON.parse(seen[0].body!)).toEqual({ action: 'retry', comment: 'blip' });
    await api.decideTarget('d1', 'api', 'web/1', 'rollback', '');
    expect(JSON.parse(seen[1].body!)).toEqual({ action: 'rollback', comment: null });
  });

  it('waives a condition, overrides the freeze windows and lists the environments', async () => {
    const seen: { method: string; url: string; headers: Record<string, string>; body?: string }[] = [];
    const api = new Api('', 't', fakeFetch({
      'POST /api/deployments/d%2F1/waivers': { status: 201, body: { condition: 'after:staging', reason: 'down', by: 'bob', at: 'x' } },
      'POST /api/deployments/d%2F1/override': { status: 201, body: { reason: 'INC-7', by: 'bob', at: 'x', expires_at: 'y' } },
      'GET /api/environments': { status: 200, body: { items: [], next_cursor: null } },
    }, seen));
    await api.waive('d/1', 'after:staging', 'down');
    await api.override('d/1', 'INC-7', '2h');
    expect(await api.environments()).toEqual({ items: [], next_cursor: null });
    expect(seen.map((s) => `${s.method} ${s.url}`)).toEqual([
      'POST /api/deployments/d%2F1/waivers',
      'POST /api/deployments/d%2F1/override',
      'GET /api/environments',
    ]);
    expect(JSON.parse(seen[0].body!)).toEqual({ condition: 'after:staging', reason: 'down' });
    expect(JSON.parse(seen[1].body!)).toEqual({ reason: 'INC-7', expires_in: '2h' });
  });

  it('turns error answers into ApiError with the rule code', async () => {
    const api = new Api('', 't', fakeFetch({
      'PUT /api/deployments/d1/plan': { status: 422, body: { error: 'dependency_order', message: '"web" depends on "api"' } },
    }));
    const e = await api.adjust('d1', []).catch((x) => x);
    expect(e).toBeInstanceOf(ApiError);
    expect(e).toMatchObject({ status: 422, code: 'dependency_order', message: '"web" depends on "api"' });
  });

  it('reports an unreachable api as a network error', async () => {
    const api = new Api('', 't', async () => {
      throw new TypeError('Failed to fetch');
    });
    await expect(api.deployments()).rejects.toMatchObject({ status: 0, code: 'network' });
  });

  it('finds the role from which probes are forbidden', async () => {
    const list = { 'GET /api/deployments': { status: 200, body: { items: [], next_cursor: null } } };
    const viewer = new Api('', 't', fakeFetch({ ...list, 'POST /api/tokens': forbidden, 'POST /api/deployments/role-probe-does-not-exist/gates/role-probe-does-not-exist/approve': forbidden, 'PUT /api/deployments/role-probe-does-not-exist/plan': forbidden }));
    expect(await viewer.role()).toBe('viewer');
    const deployer = new Api('', 't', fakeFetch({ ...list, 'POST /api/tokens': forbidden, 'POST /api/deployments/role-probe-does-not-exist/gates/role-probe-does-not-exist/approve': forbidden }));
    expect(await deployer.role()).toBe('deployer');
    const approver = new Api('', 't', fakeFetch({ ...list, 'POST /api/tokens': forbidden }));
    expect(await approver.role()).toBe('approver');
    const admin = new Api('', 't', fakeFetch({ ...list, 'POST /api/tokens': { status: 400, body: { error: 'bad_json', message: 'missing field name' } } }));
    expect(await admin.role()).toBe('admin');
  });

  it('refuses a token the api does not accept', async () => {
    const api = new Api('', 'bad', fakeFetch({ 'GET /api/deployments': { status: 401, body: { error: 'unauthorized', message: 'the bearer token is not valid' } } }));
    await expect(api.role()).rejects.toMatchObject({ status: 401 });
  });
});

describe('roles and configuration', () => {
  it('orders roles viewer < deployer < approver < admin', () => {
    expect(can('admin', 'approver')).toBe(true);
    expect(can('approver', 'deployer')).toBe(true);
    expect(can('deployer', 'approver')).toBe(false);
    expect(can('viewer', 'deployer')).toBe(false);
    expect(can(null, 'viewer')).toBe(false);
  });

  it('reads the api URL from config.json, else uses this origin', async () => {
    const cfg = (body: unknown, status = 200) => async () => new Response(JSON.stringify(body), { status });
    expect(await loadApiBase(cfg({ apiUrl: 'https://x.example/prod/api/' }))).toBe('https://x.example/prod');
    expect(await loadApiBase(cfg({ apiUrl: '' }))).toBe('');
    expect(await loadApiBase(cfg({}, 404))).toBe('');
    expect(await loadApiBase(async () => { throw new Error('offline'); })).toBe('');
    expect(normalizeBase('http://127.0.0.1:8080/api')).toBe('http://127.0.0.1:8080');
  });
});
