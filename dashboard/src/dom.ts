// A tiny element builder: h('button', {class: 'x', onclick: f}, 'text').

type Child = Node | string | number | null | undefined | false | Child[];
type Props = Record<string, unknown>;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Props | null = null,
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') {
      el.addEventListener(k.slice(2), v as EventListener);
    } else if (k === 'class') {
      el.className = String(v);
    } else if (k === 'value' && 'value' in el) {
      (el as HTMLInputElement).value = String(v);
    } else if (k === 'checked' || k === 'selected' || k === 'disabled') {
      (el as unknown as Record<string, boolean>)[k] = Boolean(v);
    } else {
      el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  append(el, children);
  return el;
}

function append(el: Node, children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.appendChild(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
  }
}

/**
 * Replaces the children of `el`, keeping focus on the element with the same id if it had it; when
 * that element is gone, focus goes to the element marked `data-focus`, if any (a summary that
 * replaced the button which opened it, or that button again once the summary closes).
 */
export function mount(el: HTMLElement, ...children: Child[]): void {
  const active = document.activeElement as HTMLElement | null;
  const focusId = active && el.contains(active) ? active.id : '';
  const field = active instanceof HTMLInputElement || active instanceof HTMLTextAreaElement ? active : null;
  const caret = field ? [field.selectionStart, field.selectionEnd] : null;
  el.replaceChildren();
  append(el, children);
  if (!focusId) return;
  const again = document.getElementById(focusId) ?? el.querySelector<HTMLElement>('[data-focus]');
  again?.focus();
  if (caret && (again instanceof HTMLInputElement || again instanceof HTMLTextAreaElement)) {
    try {
      again.setSelectionRange(caret[0], caret[1]);
    } catch {
      // Inputs without a text selection (password managers' types) keep the default caret.
    }
  }
}
