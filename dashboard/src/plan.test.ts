import { describe, expect, it } from 'vitest';
import {
  BatchParseError,
  destinationKey,
  destinations,
  moveAdjustments,
  parseBatches,
  parseDestination,
  parsePause,
  planColumns,
  shiftStage,
  stageOf,
} from './plan';
import { app, applyLocally, samplePlan } from './test/fixtures';

describe('planColumns', () => {
  it('turns stages into numbered columns of cards', () => {
    const cols = planColumns(samplePlan());
    expect(cols.map((c) => c.stage)).toEqual([1, 2, 3]);
    expect(cols.map((c) => c.cards.map((x) => x.app))).toEqual([['cache', 'db'], ['api'], ['web']]);
    const web = cols[2].cards[0];
    expect(web).toMatchObject({
      stage: 3,
      targets: 3,
      batches: ['1', '50%', '100%'],
      pause: 'manual',
      dependsOn: ['api'],
      currentVersion: null,
    });
    expect(cols[0].parallelism).toBe(2);
  });

  it('gives an empty plan no columns', () => {
    expect(planColumns({ environment: 'e', version: 'v', stages: [] })).toEqual([]);
  });
});

describe('moves', () => {
  const plan = samplePlan();

  it('moves into an existing stage with one move_app', () => {
    expect(moveAdjustments(plan, 'cache', { kind: 'stage', stage: 3 })).toEqual([
      { op: 'move_app', app: 'cache', stage: 3 },
    ]);
    expect(moveAdjustments(plan, 'cache', { kind: 'stage', stage: 1 })).toEqual([]);
  });

  it('moves into a new stage by splitting, then moving the new stage', () => {
    const adj = moveAdjustments(plan, 'cache', { kind: 'new', after: 3 });
    expect(adj).toEqual([
      { op: 'split_stage', stage: 1, apps: ['cache'] },
      { op: 'move_stage', stage: 2, to: 4 },
    ]);
    expect(applyLocally(plan, adj)).toEqual([['db'], ['api'], ['web'], ['cache']]);
    // Right after its own stage: the split alone.
    expect(moveAdjustments(plan, 'cache', { kind: 'new', after: 1 })).toEqual([
      { op: 'split_stage', stage: 1, apps: ['cache'] },
    ]);
  });

  it('moves an app alone in its stage by moving the stage', () => {
    const adj = moveAdjustments(plan, 'api', { kind: 'new', after: 3 });
    expect(adj).toEqual([{ op: 'move_stage', stage: 2, to: 3 }]);
    expect(applyLocally(plan, adj)).toEqual([['cache', 'db'], ['web'], ['api']]);
    const first = moveAdjustments(plan, 'web', { kind: 'new', after: 0 });
    expect(applyLocally(plan, first)).toEqual([['web'], ['cache', 'db'], ['api']]);
  });

  it('places the app right after the chosen stage for every destination', () => {
    for (const name of ['cache', 'db', 'api', 'web']) {
      for (const dest of destinations(plan, name)) {
        const result = applyLocally(plan, moveAdjustments(plan, name, dest));
        const where = result.findIndex((s) => s.includes(name)) + 1;
        if (dest.kind === 'stage') {
          expect(result.flat().sort()).toEqual(['api', 'cache', 'db', 'web']);
          continue;
        }
        expect(result[where - 1]).toEqual([name]);
        // The stage before it is the chosen one (or none for a new first stage).
        const before = plan.stages.map((s) => s.apps.map((a) => a.app).filter((a) => a !== name).sort());
        const chosen = dest.after === 0 ? null : before[dest.after - 1];
        if (chosen === null) expect(where).toBe(1);
        else if (chosen.length > 0) expect(result[where - 2]).toEqual(chosen);
      }
    }
  });

  it('offers no destination that changes nothing', () => {
    const keys = destinations(plan, 'api').map(destinationKey);
    expect(keys).toEqual(['stage:1', 'stage:3', 'new:0', 'new:3']);
    expect(destinations(plan, 'cache').map(destinationKey)).toContain('new:1');
    expect(destinations(plan, 'nope')).toEqual([]);
  });

  it('parses destination keys back', () => {
    expect(parseDestination('stage:2')).toEqual({ kind: 'stage', stage: 2 });
    expect(parseDestination('new:0')).toEqual({ kind: 'new', after: 0 });
    expect(parseDestination('x:1')).toBeNull();
  });

  it('refuses to move an app that is not in the plan', () => {
    expect(() => moveAdjustments(plan, 'ghost', { kind: 'stage', stage: 1 })).toThrow(/ghost/);
  });

  it('shifts stages within bounds only', () => {
    expect(shiftStage(plan, 1, -1)).toBeNull();
    expect(shiftStage(plan, 3, 1)).toBeNull();
    expect(shiftStage(plan, 2, 1)).toEqual({ op: 'move_stage', stage: 2, to: 3 });
    expect(stageOf(plan, 'web')).toBe(3);
    expect(stageOf(plan, 'ghost')).toBe(0);
  });
});

describe('batch and pause input', () => {
  it('parses counts and percentages, separated by commas or spaces', () => {
    expect(parseBatches('1, 50%, 100%')).toEqual([1, '50%', '100%']);
    expect(parseBatches('2 100%')).toEqual([2, '100%']);
    expect(parseBatches('1，100%')).toEqual([1, '100%']);
  });

  it('names the part that is neither', () => {
    expect(() => parseBatches('1, half, 100%')).toThrow(BatchParseError);
    try {
      parseBatches('1, half');
    } catch (e) {
      expect((e as BatchParseError).part).toBe('half');
    }
    expect(() => parseBatches('  ')).toThrow(/no batch sizes/);
  });

  it('accepts none, manual and durations', () => {
    expect(parsePause(' Manual ')).toBe('manual');
    expect(parsePause('none')).toBe('none');
    expect(parsePause('1h30m')).toBe('1h30m');
    expect(parsePause('30s')).toBe('30s');
    expect(parsePause('soon')).toBeNull();
    expect(parsePause('')).toBeNull();
  });

  it('keeps k8s cards readable', () => {
    const plan = samplePlan();
    plan.stages[0].apps[0] = app('mesh', ['cluster-a'], { kind: 'k8s', batch_sizes: ['10%', '100%'] });
    expect(planColumns(plan)[0].cards[0]).toMatchObject({ kind: 'k8s', batches: ['10%', '100%'] });
  });
});
