import { can } from '../api';
import { drafts, type Ctx } from '../ctx';
import { h } from '../dom';
import { formatElapsed, formatTime } from '../format';
import { confirmedByText } from '../history';
import {
  BatchParseError,
  destinationKey,
  destinations,
  dropApp,
  isLargePlan,
  mergeStages,
  moveAdjustments,
  parseBatches,
  parseDestination,
  parsePause,
  planColumns,
  setBatches,
  setPause,
  shiftStage,
  stageCounts,
  type Card,
  type Column,
} from '../plan';
import { isKey, type Key } from '../i18n';
import { WORST_FIRST, isQuiet, progressView, type AppView, type BatchView, type StageView, type TargetView } from '../progress';
import type { Adjustment, Analysis, DecisionProgress, DeploymentDetail, FailureAction, Hold, Notification, Override, TargetOutputs } from '../api.gen';
import { DEFAULT_OVERRIDE, OVERRIDE_DURATIONS, inForce, waivable } from '../policy';
import { confirmSummary, reportedVersions, skipText, someNames, type Reported } from '../review';
import { tone } from '../status';
import { failureRowId } from '../timeline';
import { badge, errorBox, holdReasons } from '../ui';
import { PAGE, disclosure, forgetLists, windowedList } from '../windowed';
import { reviewPanel } from './review-panel';
import { timelinePanel } from './timeline-panel';

/** Where the last error of the editor belongs: a card, a stage column, or the whole page. */
interface Failure {
  at: string;
  error: unknown;
}

let failure: Failure | null = null;
let notice: {
  at: string;
  key: 'plan.saved' | 'deployment.confirmed' | 'deployment.cancelled' | 'gate.decided' | 'policy.waived' | 'policy.overridden';
} | null = null;
let busy = false;
let shownId = '';
/** The deployment whose Confirm was pressed: its summary is shown until Back or the start. */
let confirming: string | null = null;

/** Agents read for the versions their hosts report, per environment at most. */
const AGENTS_READ = 1000;
/** How long the reported versions of a review are kept before they are read again. */
const REPORTED_MS = 30_000;
let reported: { id: string; at: number; versions: Reported } | null = null;

/** The versions the hosts of a planned deployment's environment report: one read of the agents
 * at most every REPORTED_MS, since the page is rebuilt every 2 s. A failed read leaves every host
 * unknown; the review still shows each host. */
async function reportedFor(ctx: Ctx, d: DeploymentDetail): Promise<Reported> {
  if (reported?.id === d.id && Date.now() - reported.at < REPORTED_MS) return reported.versions;
  let versions: Reported;
  try {
    versions = reportedVersions((await ctx.api.agents(AGENTS_READ, d.environment)).items);
  } catch {
    versions = new Map();
  }
  reported = { id: d.id, at: Date.now(), versions };
  return versions;
}

/** The drag payload of a plan card: its app name. */
const DRAG_TYPE = 'application/x-boreas-app';

/** Hook outputs fetched so far and which are open, by deployment, app, target and attempt: the
 * page is rebuilt every refresh, and an open output must stay open and not be fetched again. */
const outputs = new Map<string, TargetOutputs | Error>();
const openOutputs = new Set<string>();

/** A failed target's hook output, fetched when first opened; again for each attempt of a host
 * retried under `rollout.on_failure: pause`, whose earlier output is stale. */
function hookOutput(ctx: Ctx, id: string, app: string, target: string, attempt = 0): HTMLElement {
  const { t } = ctx;
  const key = `${id}\u0000${app}\u0000${target}\u0000${attempt}`;
  const body = h('div', { class: 'hook-output' });
  const fill = (): void => {
    const got = outputs.get(key);
    if (got === undefined) body.replaceChildren(h('p', { class: 'muted small' }, t('progress.output_loading')));
    else if (got instanceof Error) body.replaceChildren(errorBox(t, got, `output-error-${target.replace(/\W/g, '_')}`));
    else if (got.outputs.length === 0) body.replaceChildren(h('p', { class: 'muted small' }, t('progress.output_none')));
    else
      body.replaceChildren(
        ...got.outputs.map((o) =>
          h(
            'figure',
            null,
            h('figcaption', { class: 'small' }, o.action, o.truncated ? ` — ${t('progress.output_truncated')}` : ''),
            h('pre', { class: 'mono' }, o.output),
          ),
        ),
      );
  };
  fill();
  return h(
    'details',
    {
      open: openOutputs.has(key),
      ontoggle: (e: Event) => {
        if (!(e.currentTarget as HTMLDetailsElement).open) {
          openOutputs.delete(key);
          return;
        }
        openOutputs.add(key);
        if (outputs.has(key)) return;
        void ctx.api.targetOutput(id, app, target).then(
          (o) => outputs.set(key, o),
          (err: unknown) => outputs.set(key, err instanceof Error ? err : new Error(String(err))),
        ).finally(fill);
      },
    },
    h('summary', null, t('progress.output')),
    body,
  );
}

export async function deploymentPage(ctx: Ctx, id: string): Promise<HTMLElement> {
  if (shownId !== id) {
    failure = null;
    notice = null;
    confirming = null;
    shownId = id;
    forgetLists();
  }
  const d = await ctx.api.deployment(id);
  const hold = heldBack(d);
  const planned = d.status === 'planned';
  const [conditions, versions] = await Promise.all([
    // The environments are read only for what the waive form needs: an approver and a held deployment.
    hold && can(ctx.role, 'approver') ? waiverSuggestions(ctx, d) : [],
    planned ? reportedFor(ctx, d) : null,
  ]);
  const summary = planned && confirming === d.id;
  return h(
    'div',
    { class: 'stack' },
    header(ctx, d, hold, summary),
    policyPanel(ctx, d, hold, conditions),
    summary ? confirmPanel(ctx, d) : null,
    planned && !summary ? [reviewPanel(ctx, d, versions), planEditor(ctx, d)] : null,
    planned ? null : liveProgress(ctx, d),
  );
}

/** What holds the deployment back: only while planned, since a start clears the hold and a
 * cancelled or superseded deployment keeps its last one. */
function heldBack(d: DeploymentDetail): Hold | null {
  return d.status === 'planned' ? (d.policy.hold ?? null) : null;
}

/** Conditions to offer in the waive form. Suggestions only: the api checks the condition, so
 * when the environments cannot be read the field is left to free text. */
async function waiverSuggestions(ctx: Ctx, d: DeploymentDetail): Promise<string[]> {
  try {
    const envs = await ctx.api.environments();
    return waivable(envs.items, d.environment, d.repository, d.policy.waivers.map((w) => w.condition));
  } catch {
    return [];
  }
}

async function act(ctx: Ctx, at: string, run: () => Promise<unknown>, done?: NonNullable<typeof notice>['key']): Promise<void> {
  if (busy) return;
  busy = true;
  failure = null;
  notice = null;
  try {
    await run();
    if (done) notice = { at, key: done };
  } catch (e) {
    failure = { at, error: e };
  } finally {
    busy = false;
  }
  ctx.refresh();
}

function failureAt(ctx: Ctx, at: string): HTMLElement | null {
  if (failure?.at === at) return errorBox(ctx.t, failure.error, `error-${at.replace(/\W/g, '_')}`);
  if (notice?.at === at) return h('p', { class: 'notice', role: 'status' }, ctx.t(notice.key));
  return null;
}

function header(ctx: Ctx, d: DeploymentDetail, hold: Hold | null, summary: boolean): HTMLElement {
  const { t } = ctx;
  const canDeploy = can(ctx.role, 'deployer');
  return h(
    'header',
    { class: 'dep-head panel' },
    h(
      'div',
      null,
      h('p', { class: 'muted' }, h('a', { href: '#/' }, t('nav.overview')), ' / ', t('deployment.title')),
      h('h1', null, `${d.repository}@${d.version}`, h('span', { class: 'arrow' }, ' → '), d.environment),
      h(
        'p',
        { class: 'meta' },
        badge(t, d.status),
        hold ? h('span', { class: 'badge tone-waiting', 'data-policy': 'held' }, t('policy.held')) : null,
        h('span', { class: 'mono muted' }, d.id),
        h('span', null, t('deployment.created'), ' ', formatTime(d.created_at)),
        d.started_at ? h('span', null, t('deployment.started'), ' ', formatTime(d.started_at)) : null,
        d.ended_at ? h('span', null, t('deployment.ended'), ' ', formatTime(d.ended_at)) : null,
        d.started_at ? h('span', null, t('deployment.elapsed'), ' ', formatElapsed(d.started_at, d.ended_at)) : null,
        d.confirmed_by ? h('span', { class: 'confirmed-by' }, t('deployment.confirmed_by', { by: confirmedByText(t, d.confirmed_by) })) : null,
      ),
      d.error ? h('p', { class: 'error', role: 'alert' }, h('strong', null, t('deployment.error')), ' ', d.failed_target ? `${d.failed_target}: ` : '', d.error) : null,
    ),
    h(
      'div',
      { class: 'row actions' },
      d.status === 'planned' && canDeploy && !summary
        ? h(
            'button',
            {
              class: 'btn primary',
              id: 'confirm',
              // Back from the summary returns focus here (see mount).
              'data-focus': true,
              disabled: busy,
              onclick: () => {
                confirming = d.id;
                failure = null;
                notice = null;
                ctx.refresh();
              },
            },
            t('deployment.confirm'),
          )
        : null,
      (d.status === 'planned' || d.status === 'running') && canDeploy
        ? h(
            'button',
            {
              class: 'btn danger-outline',
              id: 'cancel',
              disabled: busy,
              onclick: () => {
                if (window.confirm(t('deployment.cancel_confirm'))) {
                  void act(ctx, 'page', () => ctx.api.cancel(d.id), 'deployment.cancelled');
                }
              },
            },
            t('deployment.cancel'),
          )
        : null,
    ),
    h('div', { class: 'full' }, failureAt(ctx, 'page')),
  );
}

// ---- confirmation ---------------------------------------------------------------------------

/** Stages listed by name in the summary; the rest are counted. */
const STAGES_SHOWN = 10;

/** What Confirm starts, on one screen. Only its Confirm sends the confirmation; Back (or Escape)
 * returns to the review. */
function confirmPanel(ctx: Ctx, d: DeploymentDetail): HTMLElement {
  const { t } = ctx;
  const s = confirmSummary(d.plan, d.review);
  const back = (): void => {
    confirming = null;
    ctx.refresh();
  };
  const fact = (key: Key, name: string, value: Node | string): HTMLElement[] => [h('dt', null, t(key)), h('dd', { 'data-fact': name }, value)];
  return h(
    'section',
    {
      class: 'panel confirm-summary',
      id: 'confirm-summary',
      'aria-labelledby': 'confirm-title',
      onkeydown: (ev: KeyboardEvent) => {
        if (ev.key === 'Escape') back();
      },
    },
    // Focus moves here when the summary opens (see mount), so it is read first.
    h('h2', { id: 'confirm-title', tabindex: '-1', 'data-focus': true }, t('confirm.title')),
    h('p', null, t('confirm.what', { repo: d.repository, version: d.version, env: d.environment })),
    h(
      'dl',
      { class: 'facts summary-facts' },
      fact('confirm.apps', 'apps', t('confirm.apps_in', { n: s.apps, stages: s.stages.length })),
      fact('confirm.batches', 'batches', String(s.batches)),
      fact('confirm.targets', 'targets', String(s.targets)),
      fact('confirm.gates', 'gates', s.gates.length === 0 ? t('confirm.no_gates') : t('confirm.count_names', { n: s.gates.length, names: someNames(t, s.gates) })),
      fact(
        'confirm.skipped',
        'skipped',
        s.skipped.length === 0
          ? t('confirm.none_skipped')
          : h(
              'ul',
              { class: 'plain' },
              s.skipped.map((g) => h('li', { 'data-reason': g.reason }, t('confirm.skipped_group', { reason: skipText(t, g.reason), n: g.apps.length, names: someNames(t, g.apps) }))),
            ),
      ),
      fact(
        'confirm.adjusted',
        'adjusted',
        s.adjustments === null ? t('confirm.no_review') : s.adjustments === 0 ? t('review.not_adjusted') : t('confirm.adjustments', { n: s.adjustments }),
      ),
    ),
    h('h3', null, t('confirm.order')),
    h(
      'ol',
      { class: 'plain summary-stages' },
      s.stages.slice(0, STAGES_SHOWN).map((st) => h('li', { 'data-stage': st.stage }, t('confirm.stage', { n: st.stage, apps: someNames(t, st.apps) }))),
      s.stages.length > STAGES_SHOWN ? h('li', { class: 'muted' }, t('confirm.more_stages', { n: s.stages.length - STAGES_SHOWN })) : null,
    ),
    h(
      'div',
      { class: 'row' },
      h(
        'button',
        {
          class: 'btn primary',
          id: 'confirm-start',
          disabled: busy,
          onclick: () =>
            act(ctx, 'page', async () => {
              await ctx.api.confirm(d.id);
              confirming = null;
            }, 'deployment.confirmed'),
        },
        t('confirm.start'),
      ),
      h('button', { class: 'btn', id: 'confirm-back', onclick: back }, t('confirm.back')),
    ),
  );
}

// ---- environment policy ---------------------------------------------------------------------

/** Why the deployment is held, the conditions waived for it and its break-glass override; for an
 * approver, while it is held, the forms that waive a condition or override the freeze windows. */
function policyPanel(ctx: Ctx, d: DeploymentDetail, hold: Hold | null, conditions: string[]): HTMLElement | null {
  const { t } = ctx;
  const { waivers, override } = d.policy;
  if (!hold && waivers.length === 0 && !override) return null;
  return h(
    'section',
    { class: hold ? 'panel policy held' : 'panel policy', id: 'policy', 'aria-labelledby': 'policy-title' },
    h('h2', { id: 'policy-title' }, t('policy.title')),
    hold ? [h('p', null, h('strong', null, t('policy.held_title'))), holdReasons(t, hold)] : null,
    waivers.length > 0
      ? [
          h('h3', null, t('policy.waivers')),
          h(
            'ul',
            { class: 'plain' },
            waivers.map((w) =>
              h(
                'li',
                { class: 'waiver', 'data-condition': w.condition },
                h('code', null, w.condition),
                ' ',
                h('span', { class: 'muted small' }, t('policy.waived_by', { by: w.by, at: formatTime(w.at) })),
                ' ',
                h('span', { class: 'reason' }, `“${w.reason}”`),
              ),
            ),
          ),
        ]
      : null,
    override ? overrideLine(ctx, override) : null,
    failureAt(ctx, 'policy'),
    hold
      ? can(ctx.role, 'approver')
        ? h('div', { class: 'two' }, waiveForm(ctx, d, conditions), overrideForm(ctx, d))
        : h('p', { class: 'muted' }, t('policy.needs_approver'))
      : null,
  );
}

function overrideLine(ctx: Ctx, o: Override): HTMLElement[] {
  const { t } = ctx;
  const live = inForce(o);
  return [
    h('h3', null, t('policy.override')),
    h(
      'p',
      { class: 'override', 'data-in-force': String(live) },
      h('span', { class: `badge ${live ? 'tone-warn' : 'tone-idle'}` }, t(live ? 'policy.in_force' : 'policy.expired')),
      ' ',
      t('policy.override_line', { by: o.by, at: formatTime(o.at), until: formatTime(o.expires_at) }),
      ' ',
      h('span', { class: 'reason' }, `“${o.reason}”`),
    ),
  ];
}

/** A field of the policy forms, drafted per deployment so a poll keeps what was typed. */
function policyDraft(d: DeploymentDetail, field: string): string {
  return `${field}\u0000${d.id}`;
}

function waiveForm(ctx: Ctx, d: DeploymentDetail, conditions: string[]): HTMLElement {
  const { t } = ctx;
  const conditionKey = policyDraft(d, 'waive-condition');
  const reasonKey = policyDraft(d, 'waive-reason');
  const condition = () => drafts.get(conditionKey) ?? conditions[0] ?? '';
  return h(
    'form',
    {
      class: 'policy-form stack',
      'aria-labelledby': 'waive-title',
      onsubmit: (ev: Event) => {
        ev.preventDefault();
        const chosen = condition().trim();
        const reason = (drafts.get(reasonKey) ?? '').trim();
        if (chosen === '' || reason === '') return;
        void act(ctx, 'policy', async () => {
          await ctx.api.waive(d.id, chosen, reason);
          drafts.delete(conditionKey);
          drafts.delete(reasonKey);
        }, 'policy.waived');
      },
    },
    h('h3', { id: 'waive-title' }, t('policy.waive')),
    h('label', { for: 'waive-condition' }, t('policy.condition')),
    h('input', {
      id: 'waive-condition',
      required: true,
      autocomplete: 'off',
      list: 'waive-conditions',
      value: condition(),
      'aria-describedby': 'waive-condition-help',
      oninput: (ev: Event) => drafts.set(conditionKey, (ev.target as HTMLInputElement).value),
    }),
    h('datalist', { id: 'waive-conditions' }, conditions.map((c) => h('option', { value: c }))),
    h('small', { id: 'waive-condition-help', class: 'muted' }, t('policy.condition_help')),
    reasonField(ctx, 'waive-reason', reasonKey),
    h('div', { class: 'row' }, h('button', { class: 'btn primary', type: 'submit', disabled: busy }, t('policy.waive_submit'))),
  );
}

function overrideForm(ctx: Ctx, d: DeploymentDetail): HTMLElement {
  const { t } = ctx;
  const reasonKey = policyDraft(d, 'override-reason');
  const forKey = policyDraft(d, 'override-for');
  return h(
    'form',
    {
      class: 'policy-form stack',
      'aria-labelledby': 'override-title',
      onsubmit: (ev: Event) => {
        ev.preventDefault();
        const reason = (drafts.get(reasonKey) ?? '').trim();
        if (reason === '') return;
        const expiresIn = drafts.get(forKey) ?? DEFAULT_OVERRIDE;
        void act(ctx, 'policy', async () => {
          await ctx.api.override(d.id, reason, expiresIn);
          drafts.delete(reasonKey);
          drafts.delete(forKey);
        }, 'policy.overridden');
      },
    },
    h('h3', { id: 'override-title' }, t('policy.override_title')),
    h('p', { class: 'muted small' }, t('policy.override_help')),
    reasonField(ctx, 'override-reason', reasonKey),
    h('label', { for: 'override-for' }, t('policy.expires_in')),
    h(
      'select',
      { id: 'override-for', onchange: (ev: Event) => drafts.set(forKey, (ev.target as HTMLSelectElement).value) },
      OVERRIDE_DURATIONS.map((x) => h('option', { value: x, selected: x === (drafts.get(forKey) ?? DEFAULT_OVERRIDE) }, x)),
    ),
    h('div', { class: 'row' }, h('button', { class: 'btn danger', type: 'submit', disabled: busy }, t('policy.override_submit'))),
  );
}

function reasonField(ctx: Ctx, id: string, key: string): HTMLElement[] {
  return [
    h('label', { for: id }, ctx.t('policy.reason')),
    h('textarea', {
      id,
      required: true,
      rows: 2,
      value: drafts.get(key) ?? '',
      oninput: (ev: Event) => drafts.set(key, (ev.target as HTMLTextAreaElement).value),
    }),
  ];
}

// ---- plan editor ----------------------------------------------------------------------------

function planEditor(ctx: Ctx, d: DeploymentDetail): HTMLElement {
  const { t } = ctx;
  const columns = planColumns(d.plan);
  const large = isLargePlan(d.plan);
  const editable = can(ctx.role, 'deployer');
  const send = (at: string, adjustments: Adjustment[]) => {
    if (adjustments.length === 0) return;
    void act(ctx, at, () => ctx.api.adjust(d.id, adjustments), 'plan.saved');
  };
  return h(
    'section',
    { class: 'panel', 'aria-labelledby': 'plan-title', id: 'plan-editor' },
    h('h2', { id: 'plan-title' }, t('plan.title')),
    h('p', { class: 'muted' }, editable ? t('plan.help') : t('plan.read_only')),
    failureAt(ctx, 'editor'),
    h(
      'ol',
      { class: 'columns', 'aria-label': t('plan.stages') },
      columns.map((c) => stageColumn(ctx, d, c, columns.length, editable, large, send)),
    ),
    // One list of suggestions for every card's pause field.
    editable ? h('datalist', { id: 'pause-options' }, ['none', 'manual', '30s', '5m'].map((p) => h('option', { value: p }))) : null,
  );
}

type Send = (at: string, adjustments: Adjustment[]) => void;

function stageColumn(ctx: Ctx, d: DeploymentDetail, c: Column, count: number, editable: boolean, large: boolean, send: Send): HTMLElement {
  const { t } = ctx;
  const at = `stage-${c.stage}`;
  const earlier = shiftStage(d.plan, c.stage, -1);
  const later = shiftStage(d.plan, c.stage, 1);
  // Dragging a card onto another column is the mouse's way to the same move_app as the select.
  const drop = editable
    ? {
        ondragover: (ev: DragEvent) => {
          if (!ev.dataTransfer?.types.includes(DRAG_TYPE)) return;
          ev.preventDefault();
          (ev.currentTarget as HTMLElement).classList.add('drop-target');
        },
        ondragleave: (ev: DragEvent) => (ev.currentTarget as HTMLElement).classList.remove('drop-target'),
        ondrop: (ev: DragEvent) => {
          ev.preventDefault();
          (ev.currentTarget as HTMLElement).classList.remove('drop-target');
          const app = ev.dataTransfer?.getData(DRAG_TYPE);
          if (app) send(`app-${app}`, moveAdjustments(d.plan, app, { kind: 'stage', stage: c.stage }));
        },
      }
    : {};
  return h(
    'li',
    { class: 'column', 'data-stage': c.stage, 'aria-label': t('plan.stage_n', { n: c.stage }), ...drop },
    h(
      'div',
      { class: 'column-head' },
      h('h3', null, t('plan.stage_n', { n: c.stage })),
      h('span', { class: 'muted small' }, t('plan.parallelism', { n: c.parallelism })),
      editable
        ? h(
            'div',
            { class: 'row tight' },
            h(
              'button',
              {
                class: 'btn icon',
                disabled: !earlier || busy,
                'aria-label': t('plan.stage_earlier', { n: c.stage }),
                title: t('plan.stage_earlier', { n: c.stage }),
                onclick: () => earlier && send(at, [earlier]),
              },
              '◀',
            ),
            h(
              'button',
              {
                class: 'btn icon',
                disabled: !later || busy,
                'aria-label': t('plan.stage_later', { n: c.stage }),
                title: t('plan.stage_later', { n: c.stage }),
                onclick: () => later && send(at, [later]),
              },
              '▶',
            ),
            c.stage < count
              ? h(
                  'button',
                  {
                    class: 'btn small',
                    disabled: busy,
                    title: t('plan.merge_next', { n: c.stage }),
                    onclick: () => send(at, [mergeStages(c.stage)]),
                  },
                  t('plan.merge'),
                )
              : null,
          )
        : null,
    ),
    failureAt(ctx, at),
    large
      ? foldedCards(ctx, d, c, editable, send)
      : h(
          'ul',
          { class: 'cards' },
          c.cards.map((card) => appCard(ctx, d, card, editable, send)),
        ),
  );
}

/** A stage of a large plan: its counts, and its cards behind a toggle, a window at a time. */
function foldedCards(ctx: Ctx, d: DeploymentDetail, c: Column, editable: boolean, send: Send): HTMLElement[] {
  const { t } = ctx;
  const id = `plan-stage-${c.stage}`;
  const counts = stageCounts(d.plan.stages[c.stage - 1]);
  const [toggle, region] = disclosure(id, t('plan.stage_apps', { n: c.stage }), () =>
    windowedList(t, {
      id: `${id}-apps`,
      items: c.cards,
      name: (card) => card.app,
      render: (card) => appCard(ctx, d, card, editable, send),
      tag: 'ul',
      listClass: 'cards',
      filterLabel: t('list.find_app'),
    }),
  );
  return [h('p', { class: 'muted small stage-counts' }, t('plan.stage_counts', { ...counts })), h('div', { class: 'fold' }, toggle, region)];
}

function appCard(ctx: Ctx, d: DeploymentDetail, card: Card, editable: boolean, send: Send): HTMLElement {
  const { t } = ctx;
  const at = `app-${card.app}`;
  const safe = card.app.replace(/[^\w-]/g, '_');
  const moveId = `move-${safe}`;
  const batchesId = `batches-${safe}`;
  const pauseId = `pause-${safe}`;
  const dests = destinations(d.plan, card.app);
  const moveKey = drafts.get(moveId) ?? (dests[0] ? destinationKey(dests[0]) : '');
  return h(
    'li',
    { class: 'card', 'data-app': card.app, 'aria-label': t('plan.app_card', { app: card.app }) },
    h(
      'div',
      {
        class: 'card-head',
        // The head is the handle, so text in the card's fields stays selectable.
        draggable: editable ? 'true' : undefined,
        ondragstart: editable
          ? (ev: DragEvent) => {
              ev.dataTransfer?.setData(DRAG_TYPE, card.app);
              if (ev.dataTransfer) ev.dataTransfer.effectAllowed = 'move';
            }
          : undefined,
      },
      h('strong', null, card.app),
      h('span', { class: `kind kind-${card.kind}` }, card.kind === 'k8s' ? t('kind.k8s') : t('kind.pm')),
    ),
    h(
      'dl',
      { class: 'facts' },
      h('dt', null, t('plan.targets')),
      h('dd', null, String(card.targets)),
      h('dt', null, t('plan.batches')),
      h('dd', { class: 'chips' }, card.batches.map((b) => h('span', { class: 'chip' }, b))),
      h('dt', null, t('plan.pause')),
      h('dd', null, pauseLabel(ctx, card.pause)),
      card.dependsOn.length > 0 ? [h('dt', null, t('plan.depends_on')), h('dd', null, card.dependsOn.join(', '))] : null,
      card.currentVersion ? [h('dt', null, t('plan.current')), h('dd', { class: 'mono' }, card.currentVersion)] : null,
    ),
    failureAt(ctx, at),
    editable
      ? h(
          'div',
          { class: 'card-edit' },
          h(
            'form',
            {
              class: 'field-row',
              onsubmit: (ev: Event) => {
                ev.preventDefault();
                const dest = parseDestination(drafts.get(moveId) ?? moveKey);
                if (!dest) return;
                drafts.delete(moveId);
                send(at, moveAdjustments(d.plan, card.app, dest));
              },
            },
            h('label', { for: moveId }, t('plan.move_to')),
            h(
              'select',
              { id: moveId, onchange: (ev: Event) => drafts.set(moveId, (ev.target as HTMLSelectElement).value) },
              dests.map((dest) => {
                const key = destinationKey(dest);
                const label =
                  dest.kind === 'stage'
                    ? t('plan.to_stage', { n: dest.stage })
                    : dest.after === 0
                      ? t('plan.to_new_first')
                      : t('plan.to_new_after', { n: dest.after });
                return h('option', { value: key, selected: key === moveKey }, label);
              }),
            ),
            h('button', { class: 'btn small', type: 'submit', disabled: busy || dests.length === 0 }, t('plan.move')),
          ),
          h(
            'form',
            {
              class: 'field-row',
              onsubmit: (ev: Event) => {
                ev.preventDefault();
                const text = drafts.get(batchesId) ?? card.batches.join(', ');
                try {
                  const sizes = parseBatches(text);
                  drafts.delete(batchesId);
                  send(at, [setBatches(card.app, sizes)]);
                } catch (e) {
                  if (!(e instanceof BatchParseError)) throw e;
                  failure = {
                    at,
                    error: new Error(e.reason === 'empty' ? t('plan.batches_empty') : t('plan.batches_bad', { part: e.part })),
                  };
                  ctx.refresh();
                }
              },
            },
            h('label', { for: batchesId }, t('plan.batches')),
            h('input', {
              id: batchesId,
              value: drafts.get(batchesId) ?? card.batches.join(', '),
              'aria-describedby': `${batchesId}-help`,
              oninput: (ev: Event) => drafts.set(batchesId, (ev.target as HTMLInputElement).value),
            }),
            h('button', { class: 'btn small', type: 'submit', disabled: busy }, t('action.save')),
            h('small', { id: `${batchesId}-help`, class: 'muted help' }, t('plan.batches_help')),
          ),
          h(
            'form',
            {
              class: 'field-row',
              onsubmit: (ev: Event) => {
                ev.preventDefault();
                const pause = parsePause(drafts.get(pauseId) ?? card.pause);
                if (pause === null) {
                  failure = { at, error: new Error(t('plan.pause_bad')) };
                  ctx.refresh();
                  return;
                }
                drafts.delete(pauseId);
                send(at, [setPause(card.app, pause)]);
              },
            },
            h('label', { for: pauseId }, t('plan.pause')),
            h('input', {
              id: pauseId,
              value: drafts.get(pauseId) ?? card.pause,
              list: 'pause-options',
              'aria-describedby': `${pauseId}-help`,
              oninput: (ev: Event) => drafts.set(pauseId, (ev.target as HTMLInputElement).value),
            }),
            h('button', { class: 'btn small', type: 'submit', disabled: busy }, t('action.save')),
            h('small', { id: `${pauseId}-help`, class: 'muted help' }, t('plan.pause_help')),
          ),
          h(
            'button',
            {
              class: 'btn small danger-outline',
              disabled: busy,
              onclick: () => {
                if (window.confirm(t('plan.drop_confirm', { app: card.app }))) send(at, [dropApp(card.app)]);
              },
            },
            t('plan.drop'),
          ),
        )
      : null,
  );
}

function pauseLabel(ctx: Ctx, pause: string): string {
  if (pause === 'none') return ctx.t('pause.none');
  if (pause === 'manual') return ctx.t('pause.manual');
  return ctx.t('pause.wait', { d: pause });
}

// ---- live progress --------------------------------------------------------------------------

function liveProgress(ctx: Ctx, d: DeploymentDetail): HTMLElement {
  const { t } = ctx;
  const view = progressView(d);
  const large = isLargePlan(d.plan);
  const pct = view.total === 0 ? 0 : Math.round((view.done / view.total) * 100);
  return h(
    'div',
    { class: 'stack', id: 'live-progress' },
    h(
      'section',
      { class: 'panel summary', 'aria-label': t('progress.summary') },
      h(
        'div',
        { class: 'meter big tone-ok', role: 'progressbar', 'aria-valuemin': 0, 'aria-valuemax': 100, 'aria-valuenow': pct, 'aria-label': t('progress.summary') },
        h('span', { style: `width:${pct}%` }),
      ),
      h('p', null, t('progress.targets_done', { done: view.done, total: view.total, pct })),
      d.status === 'running' ? h('p', { class: 'muted small' }, t('progress.refreshing')) : null,
    ),
    view.waitingGates.length > 0 ? gatesPanel(ctx, d, view.waitingGates.map((g) => g.gate)) : null,
    failureAt(ctx, 'gates'),
    view.waitingDecisions.length > 0 ? decisionsPanel(ctx, d, view.waitingDecisions) : null,
    failureAt(ctx, 'decisions'),
    view.failures.length > 0
      ? h(
          'section',
          { class: 'panel failures', 'aria-labelledby': 'fail-title' },
          h('h2', { id: 'fail-title' }, t('progress.failures')),
          hostList(ctx, 'failures', view.failures, (f) =>
            // The row a timeline link to a failed host leads to.
            h('li', { id: failureRowId(f), tabindex: '-1' }, h('strong', { class: 'mono' }, f.target), ' ', badge(t, f.status), ' ', f.errorType ? h('code', null, f.errorType) : null, ' ', f.error ?? '', hookOutput(ctx, d.id, f.app, f.target, f.decision?.attempt)),
          ),
        )
      : null,
    view.skipped.length > 0
      ? h(
          'section',
          { class: 'panel skipped', 'aria-labelledby': 'skip-title' },
          h('h2', { id: 'skip-title' }, t('progress.skipped')),
          h('p', { class: 'muted small' }, t('progress.skipped_note')),
          hostList(ctx, 'skipped', view.skipped, (s) =>
            h('li', null, h('strong', { class: 'mono' }, s.target), ' ', h('span', { class: 'muted' }, s.app), ' ', s.error ?? '', s.decision ? decidedLine(ctx, s.decision) : null),
          ),
        )
      : null,
    timelinePanel(ctx, d, view),
    d.analyses.length > 0 ? analysesPanel(ctx, d.analyses) : null,
    d.notifications.length > 0 ? notificationsPanel(ctx, d.notifications) : null,
    h(
      'ol',
      { class: 'stages', 'aria-label': t('plan.stages') },
      view.stages.map((s) =>
        h(
          'li',
          { class: `stage panel tone-edge-${tone(s.status)}`, 'data-stage': s.stage },
          h('div', { class: 'stage-head' }, h('h2', null, t('plan.stage_n', { n: s.stage })), badge(t, s.status)),
          large ? foldedApps(ctx, s) : h('ul', { class: 'apps' }, s.apps.map((a) => appProgress(ctx, a))),
        ),
      ),
    ),
    reviewPanel(ctx, d, null),
  );
}

const NOTIFY_TONE: Record<Notification['state'], string> = {
  sending: '',
  delivered: 'tone-ok',
  retrying: 'tone-warn',
  failed: 'tone-bad',
  skipped: '',
};

/** What was sent about the deployment where (commit statuses, chat, webhooks), and how it went. */
function notificationsPanel(ctx: Ctx, notifications: Notification[]): HTMLElement {
  const { t } = ctx;
  return h(
    'section',
    { class: 'panel notifications', 'aria-labelledby': 'notify-title' },
    h('h2', { id: 'notify-title' }, t('notify.title')),
    h(
      'ul',
      null,
      notifications.map((n) =>
        h(
          'li',
          { class: `notification ${NOTIFY_TONE[n.state]}`, 'data-sink': n.sink, 'data-event': n.event, 'data-state': n.state },
          h('strong', null, n.sink),
          ' ',
          h('code', null, n.event),
          ' ',
          h('span', { class: 'state' }, t(`notify.${n.state}`)),
          ' ',
          h('span', { class: 'muted small' }, t('notify.attempts', { n: n.attempts })),
          n.error ? h('span', { class: 'error' }, ` ${n.error}`) : null,
        ),
      ),
    ),
  );
}

type Measured = Analysis['measurements'][number];

const OUTCOME_TONE: Record<Measured['outcome'], string> = {
  pass: 'tone-ok',
  fail: 'tone-bad',
  inconclusive: 'tone-warn',
  error: 'tone-bad',
};

/** A measurement in words: its value (and samples), no data, or the provider's error. */
function measuredText(ctx: Ctx, m: Measured['measurement']): string {
  switch (m.kind) {
    case 'value':
      return m.samples == null ? String(m.value) : `${m.value} (n=${m.samples})`;
    case 'no_data':
      return ctx.t('analysis.no_data');
    case 'error':
      return `${ctx.t('analysis.error')}: ${m.message}`;
  }
}

/**
 * Each analysed batch's checks: the condition, the verdict, a small bar chart of the measurements
 * (oldest first, each bar toned by how it was judged and labelled with its value) and the verdict's
 * sentence, which names the last value and the condition.
 */
function analysesPanel(ctx: Ctx, analyses: Analysis[]): HTMLElement {
  const { t } = ctx;
  return h(
    'section',
    { class: 'panel analyses', 'aria-labelledby': 'analysis-title' },
    h('h2', { id: 'analysis-title' }, t('analysis.title')),
    h(
      'ul',
      { class: 'plain' },
      analyses.map((a) => {
        const values = a.measurements.map((m) => (m.measurement.kind === 'value' ? Math.abs(m.measurement.value) : 0));
        const top = Math.max(...values, Number.MIN_VALUE);
        const verdict = a.verdict ?? 'measuring';
        return h(
          'li',
          { class: 'analysis', 'data-app': a.app, 'data-batch': a.batch, 'data-check': a.check, 'data-verdict': verdict },
          h('strong', null, a.check),
          ' ',
          h('span', { class: 'muted small' }, t('analysis.batch', { app: a.app, n: a.batch + 1 })),
          ' ',
          h('code', null, a.condition),
          ' ',
          h('span', { class: `badge ${a.verdict ? OUTCOME_TONE[a.verdict] : ''}` }, t(`analysis.${verdict}`)),
          h(
            'span',
            { class: 'chart', role: 'img', 'aria-label': t('analysis.chart', { n: a.measurements.length }) },
            a.measurements.map((m, i) =>
              h('span', {
                class: `bar ${OUTCOME_TONE[m.outcome]}`,
                'data-outcome': m.outcome,
                style: `height: ${Math.max(8, Math.round((100 * values[i]!) / top))}%`,
                title: `${formatTime(m.at)} ${measuredText(ctx, m.measurement)}`,
              }),
            ),
          ),
          a.message ? h('p', { class: 'message small' }, a.message) : null,
        );
      }),
    ),
  );
}

/** Failing or skipped hosts, a window at a time when there are many. */
function hostList(ctx: Ctx, id: string, hosts: TargetView[], render: (x: TargetView) => HTMLElement): HTMLElement {
  return windowedList(ctx.t, {
    id,
    items: hosts,
    name: (x) => `${x.target} ${x.app}`,
    render,
    tag: 'ul',
    listClass: 'plain',
    filterLabel: ctx.t('list.find_host'),
  });
}

/** Apps per window in a large deployment's progress: each shows every host of its batches. */
const APPS_PER_WINDOW = 20;

/**
 * A stage of a large deployment: its apps counted by status; the running, failed and rolled-back
 * ones in view, the succeeded and pending ones folded behind a toggle each; every list a window
 * at a time.
 */
function foldedApps(ctx: Ctx, s: StageView): (HTMLElement | null)[] {
  const { t } = ctx;
  const id = `progress-stage-${s.stage}`;
  const list = (group: string, apps: AppView[]) =>
    windowedList(t, {
      id: `${id}-${group}`,
      items: apps,
      name: (a) => a.app,
      render: (a) => appProgress(ctx, a),
      tag: 'ul',
      listClass: 'apps',
      filterLabel: t('list.find_app'),
      size: APPS_PER_WINDOW,
    });
  const fold = (status: 'succeeded' | 'pending', label: 'progress.succeeded_apps' | 'progress.pending_apps') => {
    const apps = s.apps.filter((a) => a.status === status);
    return apps.length === 0 ? null : h('div', { class: 'fold' }, ...disclosure(`${id}-${status}`, t(label, { n: apps.length }), () => list(status, apps)));
  };
  const active = s.apps.filter((a) => !isQuiet(a));
  const counts = new Map<string, number>();
  for (const a of s.apps) counts.set(a.status, (counts.get(a.status) ?? 0) + 1);
  const statuses = [...counts.keys()].sort((a, b) => WORST_FIRST.indexOf(a) - WORST_FIRST.indexOf(b));
  const parts = statuses.map((st) => {
    const key = `status.${st}`;
    return t('progress.status_count', { n: counts.get(st) ?? 0, status: isKey(key) ? t(key) : st });
  });
  return [
    h('p', { class: 'muted small stage-counts' }, [t('progress.app_count', { n: s.apps.length }), ...parts].join(' · ')),
    active.length > 0 ? list('active', active) : null,
    fold('succeeded', 'progress.succeeded_apps'),
    fold('pending', 'progress.pending_apps'),
  ];
}

function appProgress(ctx: Ctx, a: AppView): HTMLElement {
  const { t } = ctx;
  return h(
    'li',
    { class: 'app-progress', 'data-app': a.app },
    h(
      'div',
      { class: 'app-head' },
      h('strong', null, a.app),
      badge(t, a.status),
      h('span', { class: 'muted small' }, t('progress.targets_done_short', { done: a.done, total: a.total })),
      a.startedAt ? h('span', { class: 'muted small' }, formatTime(a.startedAt), ' · ', formatElapsed(a.startedAt, a.endedAt)) : null,
    ),
    h('ol', { class: 'batches' }, a.batches.map((b) => batchRow(ctx, b))),
  );
}

function batchRow(ctx: Ctx, b: BatchView): HTMLElement {
  const { t } = ctx;
  return h(
    'li',
    { class: `batch tone-edge-${tone(b.status)}`, 'data-batch': b.index, 'data-status': b.status },
    h(
      'div',
      { class: 'batch-head' },
      h('span', null, t('progress.batch_n', { n: b.index + 1 })),
      b.weight !== null ? h('span', { class: 'muted small' }, `${b.weight}%`) : null,
      badge(t, b.status),
      b.startedAt ? h('span', { class: 'muted small' }, formatElapsed(b.startedAt, b.endedAt)) : null,
    ),
    h(
      'ul',
      { class: 'targets' },
      b.targets.map((tv) =>
        h(
          'li',
          {
            class: `target tone-${tone(tv.status)}`,
            'data-status': tv.status,
            title: [tv.target, t(`status.${tv.status}` as 'status.running'), tv.error ?? ''].filter(Boolean).join(' — '),
          },
          h('span', { class: 'dot', 'aria-hidden': 'true' }),
          h('span', { class: 'mono' }, tv.target),
          h('span', { class: 'sr-only' }, ` ${t(`status.${tv.status}` as 'status.running')}`),
          tv.error ? h('span', { class: 'target-error' }, tv.error) : null,
          tv.decision ? decidedLine(ctx, tv.decision) : null,
        ),
      ),
    ),
    b.pause.type === 'gate'
      ? h(
          'p',
          { class: 'gate-line' },
          h('span', { class: 'pause-icon', 'aria-hidden': 'true' }),
          t('progress.gate', { gate: b.pause.gate }),
          ' ',
          badge(t, b.gate?.status ?? 'pending'),
          b.gate?.by ? h('span', { class: 'muted small' }, ` ${t('progress.decided_by', { by: b.gate.by })}`) : null,
          b.gate?.comment ? h('span', { class: 'muted small' }, ` “${b.gate.comment}”`) : null,
        )
      : b.pause.type === 'wait'
        ? h('p', { class: 'gate-line muted small' }, t('progress.wait', { s: b.pause.seconds }))
        : null,
  );
}

function gatesPanel(ctx: Ctx, d: DeploymentDetail, gates: string[]): HTMLElement {
  const { t } = ctx;
  const canDecide = can(ctx.role, 'approver') && d.status === 'running';
  return h(
    'section',
    { class: 'panel gates', 'aria-labelledby': 'gates-title' },
    h('h2', { id: 'gates-title' }, t('gate.waiting_title')),
    manyOrAll(ctx, 'gates-list', gates, (gate) => gate, t('list.find_gate'), (gate) => {
      const id = `comment-${gate.replace(/[^\w-]/g, '_')}`;
      return h(
        'div',
        { class: 'gate', 'data-gate': gate },
        h('p', null, t('gate.waiting', { gate })),
        canDecide
          ? [
              ...commentBox(ctx, id),
              h(
                'div',
                { class: 'row' },
                decideButton(ctx, 'gates', id, 'btn primary', t('gate.approve'), (comment) => ctx.api.decide(d.id, gate, true, comment)),
                decideButton(ctx, 'gates', id, 'btn danger', t('gate.reject'), (comment) => ctx.api.decide(d.id, gate, false, comment)),
              ),
            ]
          : h('p', { class: 'muted' }, t('gate.needs_approver')),
      );
    }),
  );
}

/** The comment box of one pending decision; its draft survives the page's refreshes. */
function commentBox(ctx: Ctx, id: string): HTMLElement[] {
  return [
    h('label', { for: id }, ctx.t('gate.comment')),
    h('textarea', {
      id,
      rows: 2,
      value: drafts.get(id) ?? '',
      oninput: (ev: Event) => drafts.set(id, (ev.target as HTMLTextAreaElement).value),
    }),
  ];
}

/** A button that sends a decision with the drafted comment of `id`, then forgets the draft. */
function decideButton(
  ctx: Ctx,
  at: 'gates' | 'decisions',
  id: string,
  cls: string,
  label: string,
  send: (comment: string) => Promise<unknown>,
  attrs: Record<string, string> = {},
): HTMLElement {
  return h(
    'button',
    {
      ...attrs,
      class: cls,
      disabled: busy,
      onclick: () => {
        const comment = drafts.get(id) ?? '';
        void act(ctx, at, async () => {
          await send(comment);
          drafts.delete(id);
        }, 'gate.decided');
      },
    },
    label,
  );
}

/** What an approver answered to a failed host: "retried by X “comment”". */
function decidedLine(ctx: Ctx, x: DecisionProgress): HTMLElement | null {
  if (x.action === null) return null;
  const said = { retry: 'decision.retried', skip: 'decision.skipped', rollback: 'decision.rolled_back' } as const;
  return h('span', { class: 'decided muted small' }, ` ${ctx.t(said[x.action], { by: x.by ?? '—' })}`, x.comment ? ` “${x.comment}”` : '');
}

function decisionsPanel(ctx: Ctx, d: DeploymentDetail, waiting: DecisionProgress[]): HTMLElement {
  const { t } = ctx;
  const canDecide = can(ctx.role, 'approver') && d.status === 'running';
  return h(
    'section',
    { class: 'panel decisions', 'aria-labelledby': 'decisions-title' },
    h('h2', { id: 'decisions-title' }, t('decision.waiting_title')),
    h('p', { class: 'muted small' }, t('decision.note')),
    manyOrAll(ctx, 'decisions-list', waiting, (x) => `${x.target} ${x.app}`, t('list.find_host'), (x) => {
      const id = `decision-${`${x.app}-${x.target}`.replace(/[^\w-]/g, '_')}`;
      const button = (action: FailureAction, cls: string, label: string): HTMLElement =>
        decideButton(ctx, 'decisions', id, cls, label, (comment) => ctx.api.decideTarget(d.id, x.app, x.target, action, comment), { 'data-action': action });
      return h(
        'div',
        { class: 'decision', id: failureRowId({ ...x, status: 'paused' }), tabindex: '-1', 'data-app': x.app, 'data-target': x.target },
        h('p', null, t('decision.waiting', { target: x.target, app: x.app, batch: x.batch + 1, attempt: x.attempt + 1 })),
        hookOutput(ctx, d.id, x.app, x.target, x.attempt),
        canDecide
          ? [
              ...commentBox(ctx, id),
              h(
                'div',
                { class: 'row' },
                button('retry', 'btn primary', t('decision.retry')),
                button('skip', 'btn', t('decision.skip')),
                button('rollback', 'btn danger', t('decision.rollback')),
              ),
            ]
          : h('p', { class: 'muted' }, t('decision.needs_approver')),
      );
    }),
  );
}

/** Waiting gates or hosts, side by side in their panel; a window at a time when there are many. */
function manyOrAll<I>(ctx: Ctx, id: string, items: I[], name: (x: I) => string, filterLabel: string, render: (x: I) => HTMLElement): HTMLElement[] | HTMLElement {
  if (items.length <= PAGE) return items.map(render);
  return windowedList(ctx.t, { id, items, name, render, tag: 'div', listClass: 'stack', filterLabel });
}
