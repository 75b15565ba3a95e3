// The timeline of a rollout: a row per app, its batches and the pauses between them
// placed on one time axis, each with its state in words for screen readers and as a tooltip, and
// under it links to the errors of its failed hosts.

import type { DeploymentDetail } from '../api.gen';
import type { Ctx } from '../ctx';
import { h } from '../dom';
import { formatElapsed, formatTime } from '../format';
import { isKey } from '../i18n';
import type { ProgressView, TargetView } from '../progress';
import { tone } from '../status';
import { failureRowId, place, timelineOf, type AppTimeline, type Span, type Timeline } from '../timeline';
import { badge } from '../ui';
import { windowedList } from '../windowed';

/** App rows per window. */
const ROWS_PER_WINDOW = 20;
/** Failed hosts linked under an app's row; the failing targets panel lists them all. */
const FAILED_SHOWN = 10;

/** The states a span can show, for the legend. */
const LEGEND = ['waiting', 'running', 'succeeded', 'failed', 'rolled_back'];

export function timelinePanel(ctx: Ctx, d: DeploymentDetail, view: ProgressView, now = Date.now()): HTMLElement {
  const { t } = ctx;
  const tl = timelineOf(d, view, now);
  const live = d.ended_at == null;
  return h(
    'section',
    { class: 'panel timeline-panel', id: 'timeline', 'aria-labelledby': 'timeline-title' },
    h('h2', { id: 'timeline-title' }, t('timeline.title')),
    h(
      'p',
      { class: 'muted small tl-axis' },
      t('timeline.axis', { from: formatTime(new Date(tl.from).toISOString()), to: live ? t('timeline.now') : formatTime(new Date(tl.to).toISOString()) }),
    ),
    h(
      'ul',
      { class: 'tl-legend', 'aria-label': t('timeline.legend') },
      LEGEND.map((s) => h('li', null, h('span', { class: `tl-swatch tone-${tone(s)}`, 'aria-hidden': 'true' }), statusText(ctx, s))),
    ),
    windowedList(t, {
      id: 'timeline-apps',
      items: tl.apps,
      name: (a) => a.app,
      render: (a) => appRow(ctx, tl, a, now),
      tag: 'ol',
      listClass: 'tl-apps',
      filterLabel: t('list.find_app'),
      size: ROWS_PER_WINDOW,
    }),
  );
}

function statusText(ctx: Ctx, status: string): string {
  const key = `status.${status}`;
  return isKey(key) ? ctx.t(key) : status;
}

/** A span in words: "Batch 2: running, 12:00:10 – now (40s)". */
function spanText(ctx: Ctx, s: Span, now: number): string {
  const { t } = ctx;
  const vars = {
    n: s.batch + 1,
    gate: s.gate ?? '',
    status: statusText(ctx, s.status),
    from: formatTime(new Date(s.start).toISOString()),
    to: s.open ? t('timeline.now') : formatTime(new Date(s.end).toISOString()),
    d: formatElapsed(new Date(s.start).toISOString(), s.open ? null : new Date(s.end).toISOString(), now),
  };
  if (s.kind === 'gate') return t('timeline.gate', vars);
  if (s.kind === 'wait') return t('timeline.wait', vars);
  return t('timeline.batch', vars);
}

function appRow(ctx: Ctx, tl: Timeline, a: AppTimeline, now: number): HTMLElement {
  const { t } = ctx;
  return h(
    'li',
    { class: 'tl-app', 'data-app': a.app },
    h('div', { class: 'tl-name' }, h('strong', null, a.app), badge(t, a.status)),
    h(
      'ol',
      { class: 'tl-track', 'aria-label': t('timeline.of', { app: a.app }) },
      a.spans.map((s) => {
        const { left, width } = place(s, tl.from, tl.to);
        const text = spanText(ctx, s, now);
        return h(
          'li',
          {
            class: `tl-span tl-${s.kind} tone-${tone(s.status)}`,
            'data-kind': s.kind,
            'data-batch': s.batch,
            'data-status': s.status,
            style: `left:${left}%;width:${width}%`,
            title: text,
          },
          h('span', { class: 'tl-mark', 'aria-hidden': 'true' }, s.kind === 'batch' ? String(s.batch + 1) : ''),
          h('span', { class: 'sr-only' }, text),
        );
      }),
    ),
    a.waiting.length > 0 ? h('p', { class: 'muted small tl-waiting' }, t('timeline.not_begun', { list: a.waiting.map((i) => i + 1).join(', ') })) : null,
    a.failed.length > 0 ? failedLinks(ctx, a.failed) : null,
  );
}

function failedLinks(ctx: Ctx, failed: TargetView[]): HTMLElement {
  const { t } = ctx;
  return h(
    'ul',
    { class: 'plain tl-failed' },
    failed.slice(0, FAILED_SHOWN).map((f) =>
      h(
        'li',
        null,
        h(
          'a',
          {
            href: `#${failureRowId(f)}`,
            'data-target': f.target,
            onclick: (ev: Event) => {
              // The page is routed by its hash: the link moves focus to the error, not the route.
              ev.preventDefault();
              reveal(failureRowId(f), f.status === 'paused' ? 'decisions-list-filter' : 'failures-filter', f.target);
            },
          },
          t('timeline.failed_target', { target: f.target, status: statusText(ctx, f.status) }),
        ),
      ),
    ),
    failed.length > FAILED_SHOWN ? h('li', { class: 'muted small' }, t('timeline.more_failed', { n: failed.length - FAILED_SHOWN })) : null,
  );
}

/** Scrolls to and focuses the row `id`; when a long list's window does not show it, narrows the
 * list's filter (`filterId`) to the host's name first. */
function reveal(id: string, filterId: string, name: string): void {
  let row = document.getElementById(id);
  const filter = document.getElementById(filterId);
  if (!row && filter instanceof HTMLInputElement) {
    filter.value = name;
    filter.dispatchEvent(new Event('input'));
    row = document.getElementById(id);
  }
  row?.scrollIntoView({ block: 'center' });
  row?.focus();
}
