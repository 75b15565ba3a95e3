// Long lists shown a window at a time, and sections folded behind a toggle, so that a deployment
// of thousands of apps and hosts keeps the document small: however long the list, only one
// window of its items is ever built.

import type { T } from './ctx';
import { h } from './dom';

/** Items in one window; a list no longer than this is shown whole, without filter or pager. */
export const PAGE = 50;

export interface ListState {
  open: boolean;
  filter: string;
  start: number;
}

/** What each list and toggle shows, by its id: the page is rebuilt on every poll and edit. */
const states = new Map<string, ListState>();

export function listState(id: string): ListState {
  let s = states.get(id);
  if (!s) {
    s = { open: false, filter: '', start: 0 };
    states.set(id, s);
  }
  return s;
}

/** Forgets every list's state, when another deployment is shown. */
export function forgetLists(): void {
  states.clear();
}

export interface Window<I> {
  items: I[];
  /** Index of the first shown item among the matching ones. */
  start: number;
  matching: number;
}

/** The `size` items from `start` among those whose name contains `filter`, in any case. */
export function windowOf<I>(items: I[], name: (x: I) => string, filter: string, start: number, size = PAGE): Window<I> {
  const f = filter.trim().toLowerCase();
  const matching = f === '' ? items : items.filter((x) => name(x).toLowerCase().includes(f));
  // A window past the end (the list shrank, or the filter narrowed it) falls back to the last one.
  const last = Math.max(0, Math.ceil(matching.length / size) - 1) * size;
  const from = Math.min(Math.max(0, start - (start % size)), last);
  return { items: matching.slice(from, from + size), start: from, matching: matching.length };
}

export interface ListOptions<I> {
  /** Unique on the page and stable across re-renders: it keys the state and prefixes element ids. */
  id: string;
  items: I[];
  name: (x: I) => string;
  render: (x: I) => HTMLElement;
  tag: 'ul' | 'ol' | 'div';
  listClass: string;
  filterLabel: string;
  /** Items per window, PAGE unless each item is large. */
  size?: number;
}

/**
 * `items` as a list; past a window's size, a window with a name filter and previous/next
 * buttons. Filtering and paging redraw only the list, so the filter keeps focus while typing.
 */
export function windowedList<I>(t: T, o: ListOptions<I>): HTMLElement {
  const size = o.size ?? PAGE;
  if (o.items.length <= size) return h(o.tag, { class: o.listClass }, o.items.map(o.render));
  const state = listState(o.id);
  const listId = `${o.id}-items`;
  const list = h(o.tag, { class: o.listClass, id: listId });
  const status = h('p', { class: 'muted small', id: `${o.id}-status`, role: 'status' });
  const page = (by: number) => () => {
    state.start += by;
    fill();
  };
  const prev = h('button', { type: 'button', class: 'btn small', id: `${o.id}-prev`, 'aria-controls': listId, onclick: page(-size) }, t('list.previous', { n: size }));
  const next = h('button', { type: 'button', class: 'btn small', id: `${o.id}-next`, 'aria-controls': listId, onclick: page(size) }, t('list.next', { n: size }));
  const fill = (): void => {
    const w = windowOf(o.items, o.name, state.filter, state.start, size);
    state.start = w.start;
    list.replaceChildren(...w.items.map(o.render));
    const range = { from: w.start + 1, to: w.start + w.items.length, total: w.matching, all: o.items.length, filter: state.filter.trim() };
    const text =
      w.matching === 0 ? t('list.none', range) : range.filter ? t('list.range_filtered', range) : t('list.range', range);
    status.replaceChildren(document.createTextNode(text));
    prev.disabled = w.start === 0;
    next.disabled = w.start + size >= w.matching;
  };
  fill();
  const filterId = `${o.id}-filter`;
  return h(
    'div',
    { class: 'windowed' },
    h(
      'div',
      { class: 'row windowed-filter' },
      h('label', { for: filterId }, o.filterLabel),
      h('input', {
        id: filterId,
        type: 'search',
        value: state.filter,
        'aria-controls': listId,
        oninput: (ev: Event) => {
          state.filter = (ev.target as HTMLInputElement).value;
          state.start = 0;
          fill();
        },
      }),
    ),
    status,
    list,
    h('div', { class: 'row pager' }, prev, next),
  );
}

/**
 * A toggle button (with `aria-expanded`) and the region it shows or hides; `body` is built only
 * while open. Whether it is open survives re-renders, by `id`.
 */
export function disclosure(id: string, label: string, body: () => HTMLElement): [HTMLElement, HTMLElement] {
  const state = listState(id);
  const regionId = `${id}-region`;
  const region = h('div', { id: regionId, class: 'disclosed' }, state.open ? body() : null);
  const toggle = h(
    'button',
    {
      type: 'button',
      class: 'btn small disclosure',
      id: `${id}-toggle`,
      'aria-expanded': String(state.open),
      'aria-controls': regionId,
      onclick: () => {
        state.open = !state.open;
        toggle.setAttribute('aria-expanded', String(state.open));
        region.replaceChildren(...(state.open ? [body()] : []));
      },
    },
    h('span', { class: 'caret', 'aria-hidden': 'true' }, '▸'),
    ' ',
    label,
  );
  return [toggle, region];
}
