// What ran where, in words: an app's runs and a host's deployments, one row each, and the
// addresses of the history pages.

import type { AppRun, HostRun, RunGate } from './api.gen';
import type { T } from './ctx';
import { formatElapsed, formatTime } from './format';
import { isKey } from './i18n';

/** The name the api records as the confirmer of a deployment its environment confirms itself. */
export const AUTO_CONFIRMER = 'boreas';

export function appHistoryHref(app: string, env?: string | null): string {
  return `#/apps/${encodeURIComponent(app)}${env ? `/${encodeURIComponent(env)}` : ''}`;
}

export function hostHistoryHref(env: string, host: string): string {
  return `#/agents/${encodeURIComponent(env)}/${encodeURIComponent(host)}`;
}

export function confirmedByText(t: T, by: string | null | undefined): string {
  if (!by) return '—';
  return by === AUTO_CONFIRMER ? t('history.auto_confirmed') : by;
}

function statusText(t: T, status: string): string {
  const key = `status.${status}`;
  return isKey(key) ? t(key) : status;
}

/** "api.0 approved by alice", or "api.0 waiting" before anyone decided. */
export function gateText(t: T, g: RunGate): string {
  const status = statusText(t, g.status);
  return g.by ? t('history.gate_by', { gate: g.gate, status, by: g.by }) : t('history.gate', { gate: g.gate, status });
}

export interface AppRunRow {
  deployment: string;
  version: string;
  environment: string;
  outcome: string;
  /** The app's own rollout status; null when it never started. */
  appStatus: string | null;
  when: string;
  duration: string;
  confirmedBy: string;
  gates: string[];
  revert: boolean;
  targets: number;
  failedTarget: string | null;
}

export function appRunRow(t: T, run: AppRun): AppRunRow {
  return {
    deployment: run.deployment_id,
    version: run.version,
    environment: run.environment,
    outcome: run.outcome,
    appStatus: run.app_status ?? null,
    when: formatTime(run.started_at ?? run.ended_at),
    duration: run.started_at && run.ended_at ? formatElapsed(run.started_at, run.ended_at) : '—',
    confirmedBy: confirmedByText(t, run.confirmed_by),
    gates: run.gates.map((g) => gateText(t, g)),
    revert: run.revert,
    targets: run.targets,
    failedTarget: run.failed_target ?? null,
  };
}

export interface HostRunRow {
  deployment: string;
  app: string;
  version: string;
  outcome: string;
  /** Where the host ended; null when its batch never started. */
  status: string | null;
  ended: string;
}

export function hostRunRow(run: HostRun): HostRunRow {
  return {
    deployment: run.deployment_id,
    app: run.app,
    version: run.version,
    outcome: run.outcome,
    status: run.status ?? null,
    ended: formatTime(run.ended_at),
  };
}
