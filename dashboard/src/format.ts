// Numbers and times as people read them.

/** Coverage share (0–1) as a whole percentage, floored so 99.6% never reads as 100%. */
export function formatCoverage(coverage: number | null | undefined): string {
  if (coverage === null || coverage === undefined || Number.isNaN(coverage)) return '—';
  const pct = Math.floor(Math.min(Math.max(coverage, 0), 1) * 1000) / 10;
  return Number.isInteger(pct) ? `${pct}%` : `${pct.toFixed(1)}%`;
}

/** A tone for a coverage share: full, partial or none. */
export function coverageTone(coverage: number | null | undefined): 'ok' | 'warn' | 'bad' | 'idle' {
  if (coverage === null || coverage === undefined) return 'idle';
  if (coverage >= 1) return 'ok';
  if (coverage > 0) return 'warn';
  return 'bad';
}

/** "2026-11-29T18:06:58Z" as local "2026-11-29 18:06:58"; other text unchanged. */
export function formatTime(iso: string | null | undefined): string {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const pad = (n: number) => String(n).padStart(2, '0');
  return (
    `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`
  );
}

/** Elapsed time between two instants ("now" when the end is missing), as 1h 2m 3s. */
export function formatElapsed(
  start: string | null | undefined,
  end: string | null | undefined,
  now: number = Date.now(),
): string {
  if (!start) return '—';
  const a = Date.parse(start);
  const b = end ? Date.parse(end) : now;
  if (Number.isNaN(a) || Number.isNaN(b)) return '—';
  let s = Math.max(0, Math.round((b - a) / 1000));
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  if (h > 0) return `${h}h ${m}m ${s}s`;
  if (m > 0) return `${m}m ${s}s`;
  return `${s}s`;
}

/** First 8 characters of a commit id. */
export function shortCommit(commit: string): string {
  return commit.slice(0, 8);
}
