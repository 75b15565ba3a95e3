// The Repositories page's form, without the DOM: what an admin typed → the api's request, or
// the field that is wrong. The api validates again and names the field in its 400.

import type { Provider, RepositoryRequest } from './api.gen';
import type { Key } from './i18n';

export const PROVIDERS: Provider[] = ['github', 'gitlab', 'gitea'];

export interface RepoForm {
  fullName: string;
  provider: string;
  cloneUrl: string;
  host: string;
  triggers: string;
  token: string;
  username: string;
}

export type FormResult = { ok: RepositoryRequest } | { field: keyof RepoForm; error: Key };

/** The request for `form`, trimmed; triggers separated by commas or white space. */
export function repositoryRequest(form: RepoForm): FormResult {
  const fullName = form.fullName.trim().replace(/^\/+|\/+$/g, '');
  if (!fullName.includes('/')) return { field: 'fullName', error: 'repos.full_name_bad' };
  const provider = PROVIDERS.find((p) => p === form.provider);
  if (!provider) return { field: 'provider', error: 'repos.provider_bad' };
  const cloneUrl = form.cloneUrl.trim();
  if (!/^(https?|file):\/\//.test(cloneUrl)) return { field: 'cloneUrl', error: 'repos.clone_url_bad' };
  const triggers = form.triggers.split(/[\s,]+/).filter((s) => s !== '');
  const bad = triggers.find((s) => !s.startsWith('refs/tags/') && !s.startsWith('refs/heads/'));
  if (bad !== undefined) return { field: 'triggers', error: 'repos.trigger_bad' };
  const req: RepositoryRequest = { full_name: fullName, provider, clone_url: cloneUrl };
  if (form.host.trim() !== '') req.host = form.host.trim();
  if (triggers.length > 0) req.triggers = triggers;
  if (form.token !== '') {
    req.credential = { kind: 'token', token: form.token };
    if (form.username.trim() !== '') req.credential.username = form.username.trim();
  }
  return { ok: req };
}

/** A delivery intake accepted or skipped, or one it refused (a wrong secret, an unknown repository,
 * its own failure): every refusal needs someone to look at the provider's settings or the logs. */
export function deliveryTone(status: number): 'ok' | 'bad' {
  return status < 400 ? 'ok' : 'bad';
}
