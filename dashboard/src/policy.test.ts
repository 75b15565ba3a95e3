import { describe, expect, it } from 'vitest';
import { inForce, promotionConditions, waivable } from './policy';
import { sampleEnvironments } from './test/fixtures';

describe('promotion conditions', () => {
  it('are named as the waivers route takes them, in the api order', () => {
    expect(promotionConditions({ after: ['staging'], soak: '1h' })).toEqual(['after:staging', 'soak:staging']);
    expect(promotionConditions({ after: ['staging', 'qa'], soak: '30m' })).toEqual(['after:staging', 'soak:staging', 'after:qa', 'soak:qa']);
    expect(promotionConditions({ after: ['staging', 'qa'] })).toEqual(['after:staging', 'after:qa']);
    expect(promotionConditions(null)).toEqual([]);
  });

  it('leave out those already waived, and are none where the repository declares no promotion', () => {
    const envs = sampleEnvironments();
    expect(waivable(envs, 'prod', 'github.com/acme/shop', [])).toEqual(['after:staging', 'soak:staging']);
    expect(waivable(envs, 'prod', 'github.com/acme/shop', ['after:staging'])).toEqual(['soak:staging']);
    expect(waivable(envs, 'staging', 'github.com/acme/shop', [])).toEqual([]);
    expect(waivable(envs, 'prod', 'github.com/acme/other', [])).toEqual([]);
    expect(waivable(envs, 'qa', 'github.com/acme/shop', [])).toEqual([]);
  });
});

describe('a break-glass override', () => {
  it('is in force until it expires', () => {
    const o = { reason: 'INC-7', by: 'carol', at: '2026-12-05T12:00:00Z', expires_at: '2026-12-05T14:00:00Z' };
    expect(inForce(o, Date.parse('2026-12-05T13:59:59Z'))).toBe(true);
    expect(inForce(o, Date.parse('2026-12-05T14:00:00Z'))).toBe(false);
  });
});
