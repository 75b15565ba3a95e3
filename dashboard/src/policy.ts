// Environment policy in the dashboard's terms: which promotion conditions are left to waive, and
// whether a break-glass override still lets a deployment through.

import type { EnvironmentView, Override, Promotion } from './api.gen';

/** What an approver may ask an override to last: the api takes at most 6h. */
export const OVERRIDE_DURATIONS = ['30m', '1h', '2h', '4h', '6h'];
export const DEFAULT_OVERRIDE = '2h';

/** A promotion's conditions as the waivers route names them, in the api's order: after:<env>,
 * then soak:<env> when it soaks, for each upstream environment. */
export function promotionConditions(p: Promotion | null | undefined): string[] {
  if (!p) return [];
  return p.after.flatMap((e) => (p.soak ? [`after:${e}`, `soak:${e}`] : [`after:${e}`]));
}

/**
 * The conditions `repository` declares for `environment` that are not waived yet. The view reads
 * the repository's newest boreas.yaml, not necessarily the deployment's, so these are suggestions:
 * the api checks the condition against the deployment's own.
 */
export function waivable(envs: EnvironmentView[], environment: string, repository: string, waived: string[]): string[] {
  const declared = envs.find((e) => e.name === environment)?.repositories.find((r) => r.repository === repository);
  return promotionConditions(declared?.promotion).filter((c) => !waived.includes(c));
}

/** Whether the override still lets the deployment through the freeze windows. */
export function inForce(o: Override, now: number = Date.now()): boolean {
  return Date.parse(o.expires_at) > now;
}
