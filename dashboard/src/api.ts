// The api client: Bearer token, JSON both ways, errors as ApiError with the api's {error, message}.

import type {
  Adjustment,
  AgentList,
  App,
  AppList,
  AppRunList,
  ConfirmedDeployment,
  Deployment,
  DeploymentDetail,
  DeploymentSummaryList,
  EnvironmentViewList,
  FailureAction,
  GateDecision,
  GateDecisionRequest,
  HostRunList,
  Override,
  OverrideRequest,
  PlanUpdate,
  RegisteredRepository,
  RepositoryList,
  RepositoryRequest,
  RevertRequest,
  RevertResult,
  Role,
  TargetDecision,
  TargetDecisionRequest,
  TargetOutputs,
  VersionList,
  Waiver,
  WaiverRequest,
} from './api.gen';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export type Fetch = (input: string, init?: RequestInit) => Promise<Response>;

export class Api {
  constructor(
    readonly base: string,
    private readonly token: string,
    private readonly fetchFn: Fetch = (i, init) => fetch(i, init),
  ) {}

  async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { Authorization: `Bearer ${this.token}` };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    let res: Response;
    try {
      res = await this.fetchFn(`${this.base}${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (e) {
      throw new ApiError(0, 'network', String(e instanceof Error ? e.message : e));
    }
    const text = await res.text();
    let json: unknown = null;
    if (text !== '') {
      try {
        json = JSON.parse(text);
      } catch {
        throw new ApiError(res.status, 'bad_response', text.slice(0, 200));
      }
    }
    if (!res.ok) {
      const e = (json ?? {}) as { error?: string; message?: string };
      throw new ApiError(res.status, e.error ?? `http_${res.status}`, e.message ?? res.statusText);
    }
    return json as T;
  }

  versions(limit = 200): Promise<VersionList> {
    return this.call('GET', `/api/versions?limit=${limit}`);
  }
  revert(repo: string, name: string, reason: string): Promise<RevertResult> {
    const body: RevertRequest = { reason };
    return this.call('POST', `/api/versions/${seg(repo)}/${seg(name)}/revert`, body);
  }
  deployments(limit = 100): Promise<DeploymentSummaryList> {
    return this.call('GET', `/api/deployments?limit=${limit}`);
  }
  deployment(id: string): Promise<DeploymentDetail> {
    return this.call('GET', `/api/deployments/${seg(id)}`);
  }
  targetOutput(id: string, app: string, target: string): Promise<TargetOutputs> {
    return this.call('GET', `/api/deployments/${seg(id)}/targets/${seg(app)}/${seg(target)}/output`);
  }
  adjust(id: string, adjustments: Adjustment[]): Promise<Deployment> {
    const body: PlanUpdate = { adjustments };
    return this.call('PUT', `/api/deployments/${seg(id)}/plan`, body);
  }
  confirm(id: string): Promise<ConfirmedDeployment> {
    return this.call('POST', `/api/deployments/${seg(id)}/confirm`);
  }
  cancel(id: string): Promise<Deployment> {
    return this.call('POST', `/api/deployments/${seg(id)}/cancel`);
  }
  decide(id: string, gate: string, approve: boolean, comment: string): Promise<GateDecision> {
    const verb = approve ? 'approve' : 'reject';
    const body: GateDecisionRequest = { comment: comment === '' ? null : comment };
    return this.call('POST', `/api/deployments/${seg(id)}/gates/${seg(gate)}/${verb}`, body);
  }
  decideTarget(id: string, app: string, target: string, action: FailureAction, comment: string): Promise<TargetDecision> {
    const body: TargetDecisionRequest = { action, comment: comment === '' ? null : comment };
    return this.call('POST', `/api/deployments/${seg(id)}/targets/${seg(app)}/${seg(target)}/decision`, body);
  }
  waive(id: string, condition: string, reason: string): Promise<Waiver> {
    const body: WaiverRequest = { condition, reason };
    return this.call('POST', `/api/deployments/${seg(id)}/waivers`, body);
  }
  override(id: string, reason: string, expiresIn: string): Promise<Override> {
    const body: OverrideRequest = { reason, expires_in: expiresIn };
    return this.call('POST', `/api/deployments/${seg(id)}/override`, body);
  }
  /** Every environment at once: the route takes no limit or cursor. */
  environments(): Promise<EnvironmentViewList> {
    return this.call('GET', '/api/environments');
  }
  apps(limit = 500): Promise<AppList> {
    return this.call('GET', `/api/apps?limit=${limit}`);
  }
  app(name: string): Promise<App> {
    return this.call('GET', `/api/apps/${seg(name)}`);
  }
  /** The app's runs, newest first, in one environment or (env null) all. */
  appHistory(name: string, env: string | null, limit: number, cursor: string | null): Promise<AppRunList> {
    return this.call('GET', `/api/apps/${seg(name)}/history${query({ env, limit, cursor })}`);
  }
  /** The deployments that changed a host, newest first. */
  hostHistory(env: string, host: string, limit: number, cursor: string | null): Promise<HostRunList> {
    return this.call('GET', `/api/hosts/${seg(env)}/${seg(host)}/history${query({ limit, cursor })}`);
  }
  repositories(limit = 500): Promise<RepositoryList> {
    return this.call('GET', `/api/repositories?limit=${limit}`);
  }
  addRepository(req: RepositoryRequest): Promise<RegisteredRepository> {
    return this.call('POST', '/api/repositories', req);
  }
  rotateSecret(id: string, graceSeconds: number): Promise<RegisteredRepository> {
    return this.call('POST', `/api/repositories/${seg(id)}/rotate-secret`, { grace_seconds: graceSeconds });
  }
  agents(limit = 1000, env: string | null = null): Promise<AgentList> {
    return this.call('GET', `/api/agents${query({ env, limit })}`);
  }

  /**
   * The token's role. The api has no who-am-i route, so each role is probed with a request to a
   * record that cannot exist: the api checks the role before anything else, so 403 means the
   * role is too low and any other answer means it is allowed; none of them changes anything.
   */
  async role(): Promise<Role> {
    await this.call('GET', '/api/deployments?limit=1');
    const probes: [Role, string, string, unknown][] = [
      ['admin', 'POST', '/api/tokens', {}],
      ['approver', 'POST', `/api/deployments/${PROBE}/gates/${PROBE}/approve`, {}],
      ['deployer', 'PUT', `/api/deployments/${PROBE}/plan`, { adjustments: [] }],
    ];
    for (const [role, method, path, body] of probes) {
      if (await this.allowed(method, path, body)) return role;
    }
    return 'viewer';
  }

  private async allowed(method: string, path: string, body: unknown): Promise<boolean> {
    try {
      await this.call(method, path, body);
      return true;
    } catch (e) {
      if (e instanceof ApiError && (e.status === 403 || e.status === 401)) {
        if (e.status === 401) throw e;
        return false;
      }
      return true;
    }
  }
}

const PROBE = 'role-probe-does-not-exist';

function seg(s: string): string {
  return encodeURIComponent(s);
}

/** `?a=1&b=x` from the parameters that are set. */
function query(params: Record<string, string | number | null>): string {
  const set = Object.entries(params).filter((e): e is [string, string | number] => e[1] !== null);
  return set.length === 0 ? '' : `?${set.map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join('&')}`;
}

const RANK: Record<Role, number> = { viewer: 0, deployer: 1, approver: 2, admin: 3 };

/** Whether `role` includes `needed` (viewer < deployer < approver < admin). */
export function can(role: Role | null, needed: Role): boolean {
  return role !== null && RANK[role] >= RANK[needed];
}

/** The api's base URL: `apiUrl` from config.json next to index.html, or this page's origin. */
export async function loadApiBase(fetchFn: Fetch = (i, init) => fetch(i, init)): Promise<string> {
  try {
    const res = await fetchFn('config.json', { cache: 'no-store' });
    if (res.ok) {
      const cfg = (await res.json()) as { apiUrl?: unknown };
      if (typeof cfg.apiUrl === 'string') return normalizeBase(cfg.apiUrl);
    }
  } catch {
    // No config.json: the api is on this origin.
  }
  return '';
}

/** Strips a trailing slash and a trailing /api, since paths carry /api themselves. */
export function normalizeBase(url: string): string {
  return url.trim().replace(/\/+$/, '').replace(/\/api$/, '');
}
