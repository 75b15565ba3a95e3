import { describe, expect, it } from 'vitest';
import { deliveryTone, repositoryRequest, type RepoForm } from './repositories';

const form = (over: Partial<RepoForm> = {}): RepoForm => ({
  fullName: 'acme/shop',
  provider: 'github',
  cloneUrl: 'https://github.com/acme/shop.git',
  host: '',
  triggers: '',
  token: '',
  username: '',
  ...over,
});

describe('the repository form', () => {
  it('builds the smallest request: name, provider, clone URL', () => {
    expect(repositoryRequest(form())).toEqual({
      ok: { full_name: 'acme/shop', provider: 'github', clone_url: 'https://github.com/acme/shop.git' },
    });
  });

  it('adds host, triggers and a token credential when given, trimmed', () => {
    const r = repositoryRequest(
      form({
        fullName: ' group/sub/app/ ',
        provider: 'gitlab',
        cloneUrl: 'https://gitlab.example.com/group/sub/app.git',
        host: ' gitlab.example.com ',
        triggers: 'refs/tags/v*, refs/heads/main',
        token: 'glpat-secret',
        username: 'deploy-bot',
      }),
    );
    expect(r).toEqual({
      ok: {
        full_name: 'group/sub/app',
        provider: 'gitlab',
        clone_url: 'https://gitlab.example.com/group/sub/app.git',
        host: 'gitlab.example.com',
        triggers: ['refs/tags/v*', 'refs/heads/main'],
        credential: { kind: 'token', token: 'glpat-secret', username: 'deploy-bot' },
      },
    });
  });

  it('names the field that is wrong', () => {
    expect(repositoryRequest(form({ fullName: 'shop' }))).toEqual({ field: 'fullName', error: 'repos.full_name_bad' });
    expect(repositoryRequest(form({ provider: 'bitbucket' }))).toEqual({ field: 'provider', error: 'repos.provider_bad' });
    expect(repositoryRequest(form({ cloneUrl: 'git@github.com:acme/shop.git' }))).toEqual({ field: 'cloneUrl', error: 'repos.clone_url_bad' });
    expect(repositoryRequest(form({ triggers: 'v*' }))).toEqual({ field: 'triggers', error: 'repos.trigger_bad' });
  });

  it('marks refused deliveries', () => {
    expect([200, 202, 401, 404, 500].map(deliveryTone)).toEqual(['ok', 'ok', 'bad', 'bad', 'bad']);
  });
});
