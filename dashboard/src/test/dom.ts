// A document just big enough for src/dom.ts's h(): the unit tests run in node, with no browser,
// and render pages to check what they show and what their buttons send.

export class FakeText {
  constructor(readonly data: string) {}
}

type Listener = (ev: { type: string; target: FakeElement; currentTarget: FakeElement; preventDefault: () => void }) => void;

export class FakeElement {
  className = '';
  value = '';
  disabled = false;
  checked = false;
  selected = false;
  readonly attributes = new Map<string, string>();
  childNodes: (FakeElement | FakeText)[] = [];
  private readonly listeners = new Map<string, Listener[]>();

  constructor(readonly tagName: string) {}

  setAttribute(name: string, value: string): void {
    this.attributes.set(name, value);
  }
  getAttribute(name: string): string | null {
    return this.attributes.get(name) ?? null;
  }
  appendChild<N extends FakeElement | FakeText>(node: N): N {
    this.childNodes.push(node);
    return node;
  }
  replaceChildren(...nodes: (FakeElement | FakeText)[]): void {
    this.childNodes = nodes;
  }
  addEventListener(type: string, listener: Listener): void {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), listener]);
  }
  dispatch(type: string): void {
    for (const l of this.listeners.get(type) ?? []) l({ type, target: this, currentTarget: this, preventDefault: () => {} });
  }
  /** How many nodes, elements and texts, are below this one: what a page costs the browser. */
  get size(): number {
    return this.childNodes.reduce((n, c) => n + 1 + (c instanceof FakeElement ? c.size : 0), 0);
  }
  get textContent(): string {
    return this.childNodes.map((c) => (c instanceof FakeText ? c.data : c.textContent)).join('');
  }
  /** Every element below this one (depth first) that `match` accepts. */
  findAll(match: (el: FakeElement) => boolean): FakeElement[] {
    return this.childNodes.flatMap((c) => (c instanceof FakeElement ? [...(match(c) ? [c] : []), ...c.findAll(match)] : []));
  }
  /** Elements below this one whose class list has `name`. */
  byClass(name: string): FakeElement[] {
    return this.findAll((el) => el.className.split(' ').includes(name));
  }
}

export const fakeDocument = {
  createElement: (tag: string) => new FakeElement(tag),
  createTextNode: (data: string) => new FakeText(data),
};

/** The fake behind an element h() built while `fakeDocument` stood in for `document`. */
export function fake(el: unknown): FakeElement {
  if (!(el instanceof FakeElement)) throw new Error('not rendered with the fake document');
  return el;
}
