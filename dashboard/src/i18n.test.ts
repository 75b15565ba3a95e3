import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { DICTIONARIES, isKey, translate } from './i18n';

const en = DICTIONARIES.en;
const zh = DICTIONARIES.zh;
/** Strings that are the same in both languages on purpose. */
const SAME_IN_BOTH = new Set(['kind.k8s']);

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name: string) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return /\.ts$/.test(name) && !/\.test\.ts$/.test(name) ? [path] : [];
  });
}

describe('dictionaries', () => {
  it('have exactly the same keys', () => {
    expect(Object.keys(zh).sort()).toEqual(Object.keys(en).sort());
  });

  it('translate every string, with the same placeholders', () => {
    const placeholders = (s: string) => (s.match(/\{\w+\}/g) ?? []).sort();
    for (const key of Object.keys(en) as (keyof typeof en)[]) {
      expect(en[key].trim(), key).not.toBe('');
      expect(zh[key].trim(), key).not.toBe('');
      if (!SAME_IN_BOTH.has(key)) expect(zh[key], key).not.toBe(en[key]);
      expect(placeholders(zh[key]), key).toEqual(placeholders(en[key]));
    }
  });

  it('Chinese strings are written in Chinese', () => {
    for (const [key, text] of Object.entries(zh)) {
      if (SAME_IN_BOTH.has(key)) continue;
      expect(/[\u4e00-\u9fff]/.test(text), `${key}: ${text}`).toBe(true);
    }
  });

  it('has a key for every literal key the code uses', () => {
    const dir = dirname(fileURLToPath(import.meta.url));
    const used = new Set<string>();
    for (const file of sources(dir)) {
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(/\bt\(\s*'([a-z_]+\.[a-z_.0-9]+)'/g)) used.add(m[1]);
      for (const m of text.matchAll(/[(,]\s*'((?:nav|overview|versions|apps|agents|col|deployments|plan|deployment|gate|decision|env|policy)\.[a-z_]+)'/g)) used.add(m[1]);
    }
    expect(used.size).toBeGreaterThan(50);
    for (const key of used) expect(isKey(key), key).toBe(true);
  });

  it('has a status label for every state the api reports', () => {
    const states = [
      'planned', 'running', 'succeeded', 'failed', 'rolled_back', 'cancelled', 'superseded',
      'pending', 'rolling_back', 'rollback_failed', 'skipped', 'paused', 'waiting', 'approved', 'rejected',
      'normal', 'revert', 'diverged', 'invalid_config', 'plan_failed', 'received',
    ];
    for (const s of states) expect(isKey(`status.${s}`), s).toBe(true);
    for (const r of ['viewer', 'deployer', 'approver', 'admin']) expect(isKey(`role.${r}`), r).toBe(true);
  });

  it('fills placeholders', () => {
    expect(translate('en', 'plan.stage_n', { n: 2 })).toBe('Stage 2');
    expect(translate('zh', 'plan.stage_n', { n: 2 })).toBe('阶段 2');
    expect(translate('en', 'apps.covered', { covered: 1, targets: 2 })).toBe('1 of 2 targets');
  });
});
