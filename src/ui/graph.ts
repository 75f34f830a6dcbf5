// The runbook's step graph as SVG: drawn once per runbook version, then only states change (class/data-state),
// so a live update never re-creates nodes under the reader's cursor or keyboard focus.
import type { RunbookGraph } from './api.js';
import { s } from './dom.js';
import { layoutGraph, type Point } from './layout.js';
import { STEP_STATE_ICON, STEP_STATE_LABEL } from './format.js';

export type NodeState = 'pending' | 'running' | 'succeeded' | 'failed' | 'escalated' | 'skipped' | 'waiting' | 'stopped';

export interface GraphView {
  svg: SVGSVGElement;
  update(states: Record<string, NodeState>, taken: Set<string>, current: string | undefined): void;
}

const ERROR_KINDS = new Set(['onError', 'onReject', 'onExhausted']);

/** A polyline with rounded corners (orthogonal routes) or smooth bends (between layers). */
function pathD(pts: Point[], orthogonal: boolean): string {
  if (pts.length < 2) return '';
  let d = `M${pts[0]!.x},${pts[0]!.y}`;
  if (orthogonal) {
    for (let i = 1; i < pts.length - 1; i++) {
      const p = pts[i - 1]!;
      const c = pts[i]!;
      const n = pts[i + 1]!;
      const r = Math.min(7, Math.hypot(c.x - p.x, c.y - p.y) / 2, Math.hypot(n.x - c.x, n.y - c.y) / 2);
      const ux = Math.sign(c.x - p.x);
      const uy = Math.sign(c.y - p.y);
      const vx = Math.sign(n.x - c.x);
      const vy = Math.sign(n.y - c.y);
      d += ` L${c.x - ux * r},${c.y - uy * r} Q${c.x},${c.y} ${c.x + vx * r},${c.y + vy * r}`;
    }
    const last = pts[pts.length - 1]!;
    return `${d} L${last.x},${last.y}`;
  }
  for (let i = 1; i < pts.length; i++) {
    const p = pts[i - 1]!;
    const q = pts[i]!;
    if (p.x === q.x) d += ` L${q.x},${q.y}`;
    else {
      const my = (p.y + q.y) / 2;
      d += ` C${p.x},${my} ${q.x},${my} ${q.x},${q.y}`;
    }
  }
  return d;
}

const kindLabel = (k: string) => (k === 'onError' ? 'on error' : k === 'onReject' ? 'on reject' : k === 'onExhausted' ? 'when visits run out' : k === 'branch' ? 'branch' : k === 'switch' ? 'switch' : 'next');

export function drawGraph(g: RunbookGraph, onSelect: (step: string) => void): GraphView {
  const layout = layoutGraph({ nodes: g.steps.map((x) => x.id), edges: g.edges, start: g.start });
  const byId = new Map(g.steps.map((x) => [x.id, x]));
  const marker = (id: string, cls: string) =>
    s('marker', { id, viewBox: '0 0 10 10', refX: '9', refY: '5', markerWidth: '9', markerHeight: '9', markerUnits: 'userSpaceOnUse', orient: 'auto-start-reverse', class: cls }, s('path', { d: 'M0,0 L10,5 L0,10 z' }));
  const svg = s('svg', {
    class: 'graph',
    viewBox: `0 0 ${layout.width} ${layout.height}`,
    width: layout.width,
    height: layout.height,
    role: 'group',
    'aria-label': `Step graph of ${g.title}: ${g.steps.length} steps`,
  });
  // Scale down to the card (never up); on a phone keep it legible and let the card scroll sideways instead.
  svg.style.maxWidth = `${layout.width}px`;
  svg.style.minWidth = `${Math.min(layout.width, 460)}px`;
  svg.appendChild(s('defs', null, marker('arrow', 'arrow'), marker('arrow-taken', 'arrow taken'), marker('arrow-error', 'arrow error')));

  const edgeEls: { el: SVGPathElement; key: string; error: boolean }[] = [];
  const edgeLayer = s('g', { class: 'edges' });
  for (const e of layout.edges) {
    const error = ERROR_KINDS.has(e.kind);
    const el = s('path', {
      class: `edge kind-${e.kind}${error ? ' error' : ''}${e.back ? ' back' : ''}`,
      d: pathD(e.points, e.route !== 'layered'),
      'marker-end': `url(#${error ? 'arrow-error' : 'arrow'})`,
      'data-from': e.from,
      'data-to': e.to,
    });
    el.appendChild(s('title', null, `${e.from} → ${e.to} (${kindLabel(e.kind)}${e.label ? `: ${e.label}` : ''})`));
    edgeLayer.appendChild(el);
    edgeEls.push({ el, key: `${e.from}->${e.to}`, error });
  }
  svg.appendChild(edgeLayer);

  const nodeEls = new Map<string, SVGGElement>();
  const nodeLayer = s('g', { class: 'nodes' });
  for (const n of layout.nodes) {
    const step = byId.get(n.id)!;
    const sub = step.kind === 'action' ? step.action ?? '' : step.kind === 'end' ? `end: ${step.end ?? ''}` : step.kind === 'approval' ? `approval${step.options?.length ? ` · ${step.options.join('/')}` : ''}` : 'switch';
    const rx = step.kind === 'end' ? n.h / 2 : step.kind === 'approval' ? 3 : 8;
    const g1 = s(
      'g',
      { class: `node kind-${step.kind}`, 'data-step': n.id, 'data-state': 'pending', transform: `translate(${n.x},${n.y})`, tabindex: 0, role: 'button' },
      s('rect', { class: 'box', width: n.w, height: n.h, rx, ry: rx }),
      step.kind === 'approval' ? s('rect', { class: 'gate', x: 0, y: 0, width: 5, height: n.h, rx: 2 }) : null,
      s('text', { class: 'label', x: 14, y: 19 }, n.id.length > 22 ? `${n.id.slice(0, 21)}…` : n.id),
      s('text', { class: 'sub', x: 14, y: 35 }, sub.length > 26 ? `${sub.slice(0, 25)}…` : sub),
      s('text', { class: 'icon', x: n.w - 12, y: 28, 'text-anchor': 'end', 'aria-hidden': 'true' }, ''),
      s('title', null, ''),
    );
    const select = () => onSelect(n.id);
    g1.addEventListener('click', select);
    g1.addEventListener('keydown', (ev) => {
      const k = (ev as KeyboardEvent).key;
      if (k === 'Enter' || k === ' ') {
        ev.preventDefault();
        select();
      }
    });
    nodeLayer.appendChild(g1);
    nodeEls.set(n.id, g1);
  }
  svg.appendChild(nodeLayer);

  return {
    svg,
    update(states, taken, current) {
      for (const [id, el] of nodeEls) {
        const st = states[id] ?? 'pending';
        const step = byId.get(id)!;
        if (el.getAttribute('data-state') !== st) el.setAttribute('data-state', st);
        el.classList.toggle('current', id === current);
        el.querySelector('.icon')!.textContent = st === 'stopped' ? '⊘' : STEP_STATE_ICON[st] ?? '';
        const label = `${id}${step.action ? ` (${step.action})` : ` (${step.kind})`}: ${st === 'stopped' ? 'stopped' : STEP_STATE_LABEL[st] ?? st}${id === current ? ', current step' : ''}`;
        el.setAttribute('aria-label', label);
        el.querySelector('title')!.textContent = `${label}${step.description ? `\n${step.description}` : ''}`;
      }
      for (const e of edgeEls) {
        const on = taken.has(e.key);
        e.el.classList.toggle('taken', on);
        e.el.setAttribute('marker-end', `url(#${on ? 'arrow-taken' : e.error ? 'arrow-error' : 'arrow'})`);
      }
      // Taken edges on top of the others.
      const layer = edgeEls[0]?.el.parentNode;
      if (layer) for (const e of edgeEls) if (e.el.classList.contains('taken')) layer.appendChild(e.el);
    },
  };
}
