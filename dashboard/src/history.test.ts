import { describe, expect, it } from 'vitest';
import type { T } from './ctx';
import { formatTime } from './format';
import { appHistoryHref, appRunRow, confirmedByText, gateText, hostHistoryHref, hostRunRow } from './history';
import { translate } from './i18n';
import { sampleHostRuns, sampleRuns } from './test/fixtures';

const en: T = (key, vars) => translate('en', key, vars);
const zh: T = (key, vars) => translate('zh', key, vars);

describe('an app’s runs', () => {
  it('say the version, outcome, when and for how long, who confirmed and who decided each gate', () => {
    const [ok, reverted] = sampleRuns().map((r) => appRunRow(en, r));
    expect(ok).toEqual({
      deployment: 'dep-2',
      version: 'v1.0.1',
      environment: 'prod',
      outcome: 'succeeded',
      appStatus: 'succeeded',
      when: formatTime('2026-01-02T10:00:00Z'),
      duration: '3m 20s',
      confirmedBy: 'alice',
      gates: ['api.0 approved by carol'],
      revert: false,
      targets: 2,
      failedTarget: null,
    });
    expect(reverted).toMatchObject({
      outcome: 'rolled_back',
      duration: '1h 1m 1s',
      confirmedBy: 'automatically (auto_confirm)',
      gates: ['api.0 rejected by bob'],
      revert: true,
      failedTarget: 'a2',
    });
  });

  it('say when the app never started, and no duration without both ends', () => {
    const [run] = sampleRuns();
    const never = appRunRow(en, { ...run, app_status: null, started_at: null, gates: [{ gate: 'api.0', status: 'waiting' }] });
    expect(never).toMatchObject({ appStatus: null, when: formatTime(run.ended_at), duration: '—', gates: ['api.0 waiting'] });
    expect(confirmedByText(en, null)).toBe('—');
  });

  it('are translated', () => {
    expect(gateText(zh, { gate: 'api.0', status: 'approved', by: 'carol' })).toBe('闸门 api.0：已批准（carol）');
    expect(confirmedByText(zh, 'boreas')).toBe('自动（auto_confirm）');
  });
});

describe('a host’s deployments', () => {
  it('say when, which app and version, the outcome and where the host ended', () => {
    expect(sampleHostRuns().map(hostRunRow)).toEqual([
      { deployment: 'dep-2', app: 'api', version: 'v1.0.1', outcome: 'succeeded', status: 'succeeded', ended: formatTime('2026-01-02T10:03:20Z') },
      { deployment: 'dep-2', app: 'web', version: 'v1.0.1', outcome: 'succeeded', status: null, ended: formatTime('2026-01-02T10:03:20Z') },
    ]);
  });
});

describe('history addresses', () => {
  it('encode each part', () => {
    expect(appHistoryHref('api')).toBe('#/apps/api');
    expect(appHistoryHref('api', 'prod')).toBe('#/apps/api/prod');
    expect(appHistoryHref('a b', 'eu/west')).toBe('#/apps/a%20b/eu%2Fwest');
    expect(hostHistoryHref('prod', 'web-1.example')).toBe('#/agents/prod/web-1.example');
  });
});
