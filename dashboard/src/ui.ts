// Small shared pieces: status badges, errors, tables.

import { ApiError } from './api';
import type { Hold } from './api.gen';
import type { T } from './ctx';
import { h } from './dom';
import { formatTime } from './format';
import { isKey, type Key } from './i18n';
import { tone } from './status';

export function badge(t: T, status: string): HTMLElement {
  const key = `status.${status}`;
  const label = isKey(key) ? t(key) : status;
  return h('span', { class: `badge tone-${tone(status)}`, 'data-status': status }, label);
}

/** An api error in words: 401 and 403 plainly, 422 with its rule, others with the api's message. */
export function errorText(t: T, e: unknown): { title: string; detail: string } {
  if (e instanceof ApiError) {
    if (e.status === 401) return { title: t('error.unauthorized'), detail: e.message };
    if (e.status === 403) return { title: t('error.forbidden'), detail: e.message };
    if (e.status === 0) return { title: t('error.network'), detail: e.message };
    const rule = `rule.${e.code}`;
    const title = isKey(rule) ? t(rule) : t('error.api', { status: e.status, code: e.code });
    return { title, detail: e.message };
  }
  return { title: t('error.unexpected'), detail: String(e instanceof Error ? e.message : e) };
}

export function errorBox(t: T, e: unknown, id?: string): HTMLElement {
  const { title, detail } = errorText(t, e);
  const code = e instanceof ApiError ? e.code : '';
  return h(
    'div',
    { class: 'error', role: 'alert', id, 'data-code': code },
    h('strong', null, title),
    detail ? h('div', { class: 'error-detail' }, detail) : null,
  );
}

export function section(t: T, title: Key, ...children: (Node | null)[]): HTMLElement {
  const id = `h-${title.replace(/\W/g, '-')}`;
  return h('section', { class: 'panel', 'aria-labelledby': id }, h('h2', { id }, t(title)), ...children);
}

/** A table with a header row; `attrs[i]`, when given, are the attributes of row i. */
export function table(t: T, head: Key[], rows: (Node | string)[][], attrs: Record<string, string>[] = []): HTMLElement {
  return h(
    'table',
    null,
    h('thead', null, h('tr', null, head.map((k) => h('th', { scope: 'col' }, t(k))))),
    h(
      'tbody',
      null,
      rows.map((r, i) => h('tr', attrs[i] ?? null, r.map((c) => h('td', null, c)))),
    ),
  );
}

export function empty(t: T, key: Key): HTMLElement {
  return h('p', { class: 'empty' }, t(key));
}

/** Why a deployment is held back, one line per reason, and when that was and will be judged. */
export function holdReasons(t: T, hold: Hold): HTMLElement {
  return h(
    'div',
    { class: 'hold' },
    h('ul', { class: 'reasons' }, hold.reasons.map((r) => h('li', { class: 'reason' }, r))),
    h(
      'p',
      { class: 'muted small' },
      t('policy.since', { at: formatTime(hold.since) }),
      hold.recheck_at ? ` · ${t('policy.recheck', { at: formatTime(hold.recheck_at) })}` : null,
    ),
  );
}
