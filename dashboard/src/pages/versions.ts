import { can } from '../api';
import { drafts, type Ctx } from '../ctx';
import { h } from '../dom';
import { formatTime, shortCommit } from '../format';
import { tone, versionState } from '../status';
import type { Version } from '../api.gen';
import { badge, empty, errorBox } from '../ui';

/** Versions grouped by repository, newest first, as the api lists them. */
export function byRepository(versions: Version[]): [string, Version[]][] {
  const groups = new Map<string, Version[]>();
  for (const v of versions) {
    const list = groups.get(v.repository) ?? [];
    list.push(v);
    groups.set(v.repository, list);
  }
  return [...groups.entries()].sort((a, b) => a[0].localeCompare(b[0]));
}

let reverting: string | null = null;
let revertError: unknown = null;

export async function versionsPage(ctx: Ctx): Promise<HTMLElement> {
  const { api, t } = ctx;
  const versions = await api.versions(500);
  const groups = byRepository(versions.items);
  return h(
    'div',
    { class: 'stack' },
    h('h1', null, t('nav.versions')),
    groups.length === 0 ? empty(t, 'versions.none') : null,
    groups.map(([repo, list]) =>
      h(
        'section',
        { class: 'panel', 'aria-label': t('versions.timeline_of', { repo }) },
        h('h2', null, repo),
        h('ol', { class: 'timeline' }, list.map((v) => versionItem(ctx, v))),
      ),
    ),
  );
}

function versionItem(ctx: Ctx, v: Version): HTMLElement {
  const { t } = ctx;
  const key = `${v.repository}\u0000${v.name}`;
  const state = versionState(v);
  const canRevert = can(ctx.role, 'approver') && v.state !== 'revert';
  const formId = `revert-${v.repository}-${v.name}`.replace(/[^\w-]/g, '_');
  return h(
    'li',
    { class: `tl-item tone-edge-${tone(state)}`, 'data-version': v.name },
    h(
      'div',
      { class: 'tl-head' },
      h('strong', { class: 'mono' }, v.name),
      badge(t, state),
      v.state === 'revert' && state !== 'revert' ? badge(t, 'revert') : null,
      h('span', { class: 'muted' }, t('versions.commit'), ' ', h('code', { title: v.commit }, shortCommit(v.commit))),
      h('span', { class: 'muted' }, t('versions.received'), ' ', formatTime(v.received_at)),
      v.pushed_by ? h('span', { class: 'muted pusher' }, t('versions.pushed_by'), ' ', h('strong', null, v.pushed_by)) : null,
      canRevert && reverting !== key
        ? h(
            'button',
            {
              class: 'btn small danger-outline',
              onclick: () => {
                reverting = key;
                revertError = null;
                ctx.refresh();
              },
            },
            t('versions.revert'),
          )
        : null,
    ),
    v.errors && v.errors.length > 0
      ? h(
          'ul',
          { class: 'errors', 'aria-label': t('versions.errors') },
          v.errors.map((e) => h('li', { class: 'mono' }, e)),
        )
      : null,
    reverting === key
      ? h(
          'form',
          {
            class: 'revert-form',
            onsubmit: async (ev: Event) => {
              ev.preventDefault();
              const reason = (drafts.get(formId) ?? '').trim();
              if (reason === '') return;
              try {
                await ctx.api.revert(v.repository, v.name, reason);
                reverting = null;
                drafts.delete(formId);
              } catch (e) {
                revertError = e;
              }
              ctx.refresh();
            },
          },
          h('label', { for: formId }, t('versions.reason')),
          h('textarea', {
            id: formId,
            required: true,
            rows: 2,
            value: drafts.get(formId) ?? '',
            oninput: (ev: Event) => drafts.set(formId, (ev.target as HTMLTextAreaElement).value),
          }),
          h('p', { class: 'muted' }, t('versions.revert_help')),
          revertError ? errorBox(t, revertError) : null,
          h(
            'div',
            { class: 'row' },
            h('button', { class: 'btn danger', type: 'submit' }, t('versions.revert_confirm')),
            h(
              'button',
              {
                class: 'btn',
                type: 'button',
                onclick: () => {
                  reverting = null;
                  ctx.refresh();
                },
              },
              t('action.cancel'),
            ),
          ),
        )
      : null,
  );
}
