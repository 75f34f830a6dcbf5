// DOM helpers. Every piece of data reaches the page as a text node or an attribute value set through the DOM API:
// there is no HTML parsing anywhere in the dashboard (and the page's CSP requires Trusted Types for HTML sinks).

type Child = Node | string | number | null | undefined | false | Child[];
type Attrs = Record<string, string | number | boolean | null | undefined | EventListener>;

const SVG_NS = 'http://www.w3.org/2000/svg';

function apply(el: Element, attrs: Attrs | undefined): void {
  if (!attrs) return;
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') {
      el.addEventListener(k.slice(2), v);
    } else if (k === 'href') {
      const safe = safeHref(String(v));
      if (safe) el.setAttribute('href', safe);
    } else {
      el.setAttribute(k, v === true ? '' : String(v));
    }
  }
}

function append(el: Node, children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (typeof c === 'string' || typeof c === 'number') el.appendChild(document.createTextNode(String(c)));
    else el.appendChild(c);
  }
}

/** An HTML element; strings become text nodes. */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs?: Attrs | null, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  apply(el, attrs ?? undefined);
  append(el, children);
  return el;
}

/** An SVG element. */
export function s<K extends keyof SVGElementTagNameMap>(tag: K, attrs?: Attrs | null, ...children: Child[]): SVGElementTagNameMap[K] {
  const el = document.createElementNS(SVG_NS, tag);
  apply(el, attrs ?? undefined);
  append(el, children);
  return el as SVGElementTagNameMap[K];
}

/** Same-origin paths and http(s) URLs only (never javascript:, data: ...). */
export function safeHref(v: string): string | undefined {
  if (v.startsWith('/') && !v.startsWith('//')) return v;
  try {
    const u = new URL(v);
    return u.protocol === 'https:' || u.protocol === 'http:' ? u.toString() : undefined;
  } catch {
    return undefined;
  }
}

export function clear(el: Element): void {
  while (el.firstChild) el.removeChild(el.firstChild);
}

export function replace(el: Element, ...children: Child[]): void {
  clear(el);
  append(el, children);
}

/** Polite announcement for screen readers (status changes that happen without a click). */
export function announce(msg: string): void {
  const region = document.getElementById('live-region');
  if (!region) return;
  region.textContent = '';
  window.setTimeout(() => (region.textContent = msg), 50);
}

/**
 * A refresh that runs at most once at a time: calls while one is waiting are merged, calls while one runs
 * schedule exactly one more after it. Errors are swallowed (the next call tries again).
 */
export function coalesced(fn: () => Promise<void>, delayMs: number): (ms?: number) => void {
  let timer: number | undefined;
  let inflight = false;
  let dirty = false;
  const schedule = (ms = delayMs) => {
    if (timer !== undefined) return;
    timer = window.setTimeout(async () => {
      timer = undefined;
      if (inflight) {
        dirty = true;
        return;
      }
      inflight = true;
      try {
        await fn();
      } catch {
        /* the next call retries */
      } finally {
        inflight = false;
        if (dirty) {
          dirty = false;
          schedule();
        }
      }
    }, ms);
  };
  return schedule;
}
