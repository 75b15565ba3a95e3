// Colouring by state: every status the api reports maps to one tone, shown as colour and as text.

export type Tone = 'ok' | 'active' | 'waiting' | 'bad' | 'warn' | 'idle';

const TONES: Record<string, Tone> = {
  succeeded: 'ok',
  approved: 'ok',
  normal: 'ok',
  planned: 'waiting',
  waiting: 'waiting',
  pending: 'idle',
  received: 'idle',
  running: 'active',
  rolling_back: 'warn',
  rolled_back: 'warn',
  revert: 'warn',
  diverged: 'warn',
  superseded: 'idle',
  cancelled: 'idle',
  failed: 'bad',
  rollback_failed: 'bad',
  skipped: 'warn',
  paused: 'warn',
  rejected: 'bad',
  invalid_config: 'bad',
  plan_failed: 'bad',
  healthy: 'ok',
  unhealthy: 'bad',
};

export function tone(status: string): Tone {
  return TONES[status] ?? 'idle';
}

/** Deployments a person should look at: running, or waiting for a confirmation. */
export function needsAttention(status: string): boolean {
  return status === 'running' || status === 'planned';
}

/** The state shown on a version's timeline: revert and diverged win over the plan outcome. */
export function versionState(v: {
  state: string;
  status: string;
  diverged?: boolean;
}): 'normal' | 'revert' | 'diverged' | 'invalid_config' | 'plan_failed' | 'received' {
  if (v.state === 'revert') return 'revert';
  if (v.status === 'invalid_config') return 'invalid_config';
  if (v.status === 'plan_failed') return 'plan_failed';
  if (v.diverged) return 'diverged';
  if (v.status === 'received') return 'received';
  return 'normal';
}
