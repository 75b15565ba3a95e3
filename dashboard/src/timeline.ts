// A rollout on one time axis: each app's batches, and the pauses between them (a gate's wait runs
// from its batch's end to the next batch's start), as spans of milliseconds. A span still going
// ends now, so it grows on every refresh of a live deployment.

import type { DeploymentDetail } from './api.gen';
import type { AppView, ProgressView, TargetView } from './progress';

export interface Span {
  kind: 'batch' | 'gate' | 'wait';
  /** The batch, or the batch the pause follows. */
  batch: number;
  gate: string | null;
  status: string;
  start: number;
  end: number;
  /** Still going: it ends now. */
  open: boolean;
}

export interface AppTimeline {
  app: string;
  status: string;
  spans: Span[];
  /** Indexes of the batches not begun. */
  waiting: number[];
  /** Hosts that failed: failed, rollback failed, or failed and waiting for a decision. */
  failed: TargetView[];
}

export interface Timeline {
  from: number;
  to: number;
  /** Every app, in plan order; one not begun has no span. */
  apps: AppTimeline[];
}

const FAILED = new Set(['failed', 'rollback_failed', 'paused']);

function isFailedTarget(t: TargetView): boolean {
  return FAILED.has(t.status);
}

function ms(iso: string | null | undefined): number | null {
  if (!iso) return null;
  const v = Date.parse(iso);
  return Number.isNaN(v) ? null : v;
}

export function timelineOf(d: DeploymentDetail, view: ProgressView, now: number): Timeline {
  const ended = ms(d.ended_at);
  const apps = view.stages.flatMap((s) => s.apps.map((a) => appTimeline(a, ended, now)));
  const spans = apps.flatMap((a) => a.spans);
  const from = ms(d.started_at) ?? Math.min(now, ...spans.map((s) => s.start));
  const to = Math.max(ended ?? now, ...spans.map((s) => s.end));
  return { from, to, apps };
}

function appTimeline(a: AppView, deploymentEnd: number | null, now: number): AppTimeline {
  // Where whatever the records leave open stopped: the app's end, else the deployment's.
  const stop = ms(a.endedAt) ?? deploymentEnd;
  // Batches that went through and were then rolled back show as rolled back.
  const undone = a.status === 'rolled_back' || a.status === 'rolling_back';
  const spans: Span[] = [];
  const waiting: number[] = [];
  a.batches.forEach((b, i) => {
    const start = ms(b.startedAt);
    if (start === null) {
      waiting.push(b.index);
      return;
    }
    const done = ms(b.endedAt);
    const end = done ?? stop;
    const status = undone && b.status === 'succeeded' ? a.status : b.status;
    spans.push({ kind: 'batch', batch: b.index, gate: null, status, start, end: end ?? now, open: end === null });
    if (done === null || b.status !== 'succeeded' || b.pause.type === 'none') return;
    const next = ms(a.batches[i + 1]?.startedAt);
    const pauseEnd = next ?? stop;
    const gate = b.pause.type === 'gate' ? b.pause.gate : null;
    const pauseStatus = b.pause.type === 'gate' ? (b.gate?.status ?? 'waiting') : next === null ? 'waiting' : 'succeeded';
    spans.push({ kind: b.pause.type, batch: b.index, gate, status: pauseStatus, start: done, end: pauseEnd ?? now, open: pauseEnd === null });
  });
  const failed = a.batches.flatMap((b) => b.targets.filter(isFailedTarget));
  return { app: a.app, status: a.status, spans, waiting, failed };
}

/** Spans narrower than this (percent of the axis) are drawn this wide, so an instant shows. */
export const MIN_WIDTH = 0.6;

/** Where a span sits on the axis from `from` to `to`, in percent, rounded to 0.01. */
export function place(span: { start: number; end: number }, from: number, to: number): { left: number; width: number } {
  const total = Math.max(1, to - from);
  const round = (x: number) => Math.round(x * 100) / 100;
  const left = Math.min(Math.max(0, ((span.start - from) / total) * 100), 100 - MIN_WIDTH);
  const width = Math.min(Math.max(MIN_WIDTH, ((span.end - span.start) / total) * 100), 100 - left);
  return { left: round(left), width: round(width) };
}

/** The id of the row that shows a failed host's error: its decision while it waits for one,
 * else its line among the failing targets. Percent-encoded names keep the parts apart. */
export function failureRowId(t: Pick<TargetView, 'app' | 'target' | 'status'>): string {
  const kind = t.status === 'paused' ? 'decide' : 'failure';
  return `${kind}:${encodeURIComponent(t.app)}:${encodeURIComponent(t.target)}`;
}
