import { describe, expect, it } from 'vitest';
import { progressView } from './progress';
import { runningDetail, TIMELINE_NOW } from './test/fixtures';
import { MIN_WIDTH, failureRowId, place, timelineOf } from './timeline';

const at = (m: number, s = 0) => Date.parse(`2026-01-01T00:${String(m).padStart(2, '0')}:${String(s).padStart(2, '0')}Z`);

describe('the timeline of a rollout', () => {
  const d = runningDetail('dep-tl');
  const tl = timelineOf(d, progressView(d), TIMELINE_NOW);
  const app = (name: string) => tl.apps.find((a) => a.app === name)!;

  it('runs from the start of the deployment to now while it runs, every app in plan order', () => {
    expect([tl.from, tl.to]).toEqual([at(0), TIMELINE_NOW]);
    expect(tl.apps.map((a) => [a.app, a.status])).toEqual([
      ['cache', 'rolled_back'],
      ['db', 'succeeded'],
      ['api', 'succeeded'],
      ['web', 'running'],
    ]);
  });

  it('draws each batch that began from its start to its end, or to now while it runs', () => {
    expect(app('db').spans.map((s) => [s.kind, s.batch, s.status, s.start, s.end, s.open])).toEqual([
      ['batch', 0, 'succeeded', at(0), at(0, 30), false],
      ['batch', 1, 'succeeded', at(0, 30), at(1), false],
    ]);
    const web = app('web').spans.filter((s) => s.kind === 'batch');
    expect(web.map((s) => [s.batch, s.status, s.start, s.end, s.open])).toEqual([
      [0, 'succeeded', at(2), at(2, 20), false],
      [1, 'running', at(3), TIMELINE_NOW, true],
    ]);
    expect(app('web').waiting).toEqual([2]);
  });

  it('draws a gate’s wait from its batch’s end to the next batch’s start, or to now while it waits', () => {
    expect(app('web').spans.filter((s) => s.kind === 'gate').map((s) => [s.gate, s.status, s.start, s.end, s.open])).toEqual([
      ['web.0', 'approved', at(2, 20), at(3), false],
    ]);
    const waiting = runningDetail('dep-gate');
    waiting.progress.batches = waiting.progress.batches.filter((b) => !(b.app === 'web' && b.index === 1));
    waiting.progress.gates = [{ gate: 'web.0', status: 'waiting', by: null, comment: null }];
    const open = timelineOf(waiting, progressView(waiting), TIMELINE_NOW).apps.find((a) => a.app === 'web')!;
    expect(open.spans.map((s) => [s.kind, s.status, s.start, s.end, s.open])).toEqual([
      ['batch', 'succeeded', at(2), at(2, 20), false],
      ['gate', 'waiting', at(2, 20), TIMELINE_NOW, true],
    ]);
    expect(open.waiting).toEqual([1, 2]);
  });

  it('shows the batches of a rolled-back app as rolled back, the one that failed as failed', () => {
    expect(app('cache').spans.map((s) => [s.batch, s.status])).toEqual([
      [0, 'rolled_back'],
      [1, 'failed'],
    ]);
  });

  it('keeps the failed hosts of each app, failed or waiting for a decision', () => {
    expect(app('cache').failed.map((f) => [f.target, f.status])).toEqual([['c2', 'failed']]);
    expect(app('web').failed.map((f) => [f.target, f.status])).toEqual([['w2', 'paused']]);
    expect(app('db').failed).toEqual([]);
  });

  it('ends at the deployment’s end once it ended, closing what the records left open', () => {
    const ended = runningDetail('dep-ended');
    ended.status = 'cancelled';
    ended.ended_at = '2026-01-01T00:04:00Z';
    const done = timelineOf(ended, progressView(ended), TIMELINE_NOW);
    expect(done.to).toBe(at(4));
    const last = done.apps.find((a) => a.app === 'web')!.spans.at(-1)!;
    expect([last.end, last.open]).toEqual([at(4), false]);
  });

  it('starts at the first span when the deployment has no start time', () => {
    const d2 = runningDetail('dep-nostart');
    d2.started_at = null;
    expect(timelineOf(d2, progressView(d2), TIMELINE_NOW).from).toBe(at(0));
  });
});

describe('spans on the axis', () => {
  it('are placed in percent of the axis', () => {
    expect(place({ start: 0, end: 250 }, 0, 1000)).toEqual({ left: 0, width: 25 });
    expect(place({ start: 500, end: 1000 }, 0, 1000)).toEqual({ left: 50, width: 50 });
    expect(place({ start: 1, end: 2 }, 0, 3)).toEqual({ left: 33.33, width: 33.33 });
  });

  it('stay visible when instant, and inside the axis', () => {
    expect(place({ start: 400, end: 400 }, 0, 1000)).toEqual({ left: 40, width: MIN_WIDTH });
    expect(place({ start: 1000, end: 1000 }, 0, 1000)).toEqual({ left: 100 - MIN_WIDTH, width: MIN_WIDTH });
    expect(place({ start: -50, end: 2000 }, 0, 1000)).toEqual({ left: 0, width: 100 });
  });
});

describe('the row of a failed host', () => {
  it('is its decision while it waits for one, else its failing line; names cannot run together', () => {
    expect(failureRowId({ app: 'web', target: 'w2', status: 'paused' })).toBe('decide:web:w2');
    expect(failureRowId({ app: 'cache', target: 'c2', status: 'failed' })).toBe('failure:cache:c2');
    expect(failureRowId({ app: 'a:b', target: 'c', status: 'failed' })).not.toBe(failureRowId({ app: 'a', target: 'b:c', status: 'failed' }));
  });
});
