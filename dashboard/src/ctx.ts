// What every page gets: the api, the caller's role, translations and navigation.

import type { Api } from './api';
import type { Role } from './api.gen';
import type { Key } from './i18n';

export type T = (key: Key, vars?: Record<string, string | number>) => string;

export interface Ctx {
  api: Api;
  role: Role;
  t: T;
  /** Re-renders the current page from fresh data. */
  refresh: () => void;
}

/** Page-local form state that survives re-rendering on every poll. */
export const drafts = new Map<string, string>();
