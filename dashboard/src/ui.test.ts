import { describe, expect, it } from 'vitest';
import { ApiError } from './api';
import { translate, type Key } from './i18n';
import { errorText } from './ui';

const en = (key: Key, vars?: Record<string, string | number>) => translate('en', key, vars);
const zh = (key: Key, vars?: Record<string, string | number>) => translate('zh', key, vars);

describe('errors shown to people', () => {
  it('says 401 and 403 plainly, with the api message as detail', () => {
    const unauth = errorText(en, new ApiError(401, 'unauthorized', 'the bearer token is not valid'));
    expect(unauth.title).toContain('401');
    expect(unauth.detail).toBe('the bearer token is not valid');
    const forbidden = errorText(zh, new ApiError(403, 'forbidden', 'token "ci" has role viewer'));
    expect(forbidden.title).toContain('403');
    expect(forbidden.title).toContain('无权');
  });

  it('names the violated rule of a 422 and keeps the api message', () => {
    const e = errorText(en, new ApiError(422, 'dependency_order', '"web" depends on "api", which runs in stage 2'));
    expect(e.title).toBe('Rule broken: an app must run after the apps it depends on.');
    expect(e.detail).toContain('"web" depends on "api"');
  });

  it('falls back to status and code for errors it has no words for', () => {
    expect(errorText(en, new ApiError(500, 'internal', 'boom')).title).toBe('The api refused the request (500 internal).');
    expect(errorText(en, new ApiError(0, 'network', 'Failed to fetch')).title).toBe('The api could not be reached.');
    expect(errorText(en, new Error('x')).title).toBe('Something went wrong.');
  });
});
