// A small layered ("Sugiyama-style") layout for a runbook's step graph, top to bottom:
//  1. depth-first search from the start step marks back edges (the loops a runbook bounds with maxVisits);
//  2. every step gets the layer of its longest forward path from the start;
//  3. edges that span several layers get a virtual point per layer they cross;
//  4. a few barycenter sweeps order each layer to reduce crossings;
//  5. x positions are pulled toward connected neighbours (most strongly along `next`), keeping order and spacing;
//  6. back edges (loops) are routed up the left-hand side, each in its own lane; error edges (onError, onReject,
//     onExhausted) that skip layers run down a dashed "bus" on the right-hand side instead of through the graph,
//     so the many ways to `escalate` neither clutter nor pull the main path sideways.
// Pure functions only (no DOM): the run page draws the result as SVG and the unit tests check it directly.

export type LayoutEdgeKind = 'next' | 'branch' | 'switch' | 'onError' | 'onExhausted' | 'onReject';

export interface LayoutInput {
  /** Step ids in runbook order. */
  nodes: string[];
  edges: { from: string; to: string; kind: LayoutEdgeKind | string; label?: string }[];
  start: string;
  nodeWidth?: number;
  nodeHeight?: number;
}

export interface Point {
  x: number;
  y: number;
}

export interface LaidOutNode {
  id: string;
  layer: number;
  order: number;
  /** Top-left corner. */
  x: number;
  y: number;
  w: number;
  h: number;
}

export interface LaidOutEdge {
  from: string;
  to: string;
  kind: string;
  label?: string;
  /** A loop back to an earlier step (drawn on the left-hand side). */
  back: boolean;
  /** layered: between layers (smooth bends); bus / loop: orthogonal, around the graph. */
  route: 'layered' | 'bus' | 'loop';
  /** Polyline from the source's border to the target's border. */
  points: Point[];
}

export interface GraphLayout {
  width: number;
  height: number;
  nodes: LaidOutNode[];
  edges: LaidOutEdge[];
  layers: number;
}

const MARGIN = 16;
const COL_GAP = 28;
const LAYER_GAP = 50;
const DUMMY_W = 12;
const LANE_GAP = 14;
const ERROR_KINDS = new Set(['onError', 'onReject', 'onExhausted']);

interface Slot {
  key: string; // step id, or "~<edge index>~<layer>" for a virtual point
  real: boolean;
  w: number;
  x: number; // centre
}

export function layoutGraph(input: LayoutInput): GraphLayout {
  const W = input.nodeWidth ?? 176;
  const H = input.nodeHeight ?? 46;
  const ids = [...new Set(input.nodes)];
  const known = new Set(ids);
  const edges = input.edges.filter((e) => known.has(e.from) && known.has(e.to));
  const out = new Map<string, number[]>(ids.map((id) => [id, []]));
  edges.forEach((e, i) => out.get(e.from)!.push(i));

  // 1. DFS: discovery order and back edges.
  const state = new Map<string, 0 | 1 | 2>(); // 1 = on stack, 2 = done
  const discovery: string[] = [];
  const back = new Set<number>();
  const visit = (root: string) => {
    const stack: { id: string; next: number }[] = [{ id: root, next: 0 }];
    state.set(root, 1);
    discovery.push(root);
    while (stack.length) {
      const top = stack[stack.length - 1]!;
      const list = out.get(top.id)!;
      if (top.next >= list.length) {
        state.set(top.id, 2);
        stack.pop();
        continue;
      }
      const ei = list[top.next++]!;
      const to = edges[ei]!.to;
      const s = state.get(to);
      if (s === 1) back.add(ei);
      else if (s === undefined) {
        state.set(to, 1);
        discovery.push(to);
        stack.push({ id: to, next: 0 });
      }
    }
  };
  if (known.has(input.start)) visit(input.start);
  for (const id of ids) if (!state.has(id)) visit(id);

  // 2. Longest-path layers over forward edges (Kahn's order).
  const forward = edges.map((_, i) => i).filter((i) => !back.has(i));
  const indeg = new Map<string, number>(ids.map((id) => [id, 0]));
  for (const i of forward) indeg.set(edges[i]!.to, indeg.get(edges[i]!.to)! + 1);
  const layer = new Map<string, number>(ids.map((id) => [id, 0]));
  const queue = discovery.filter((id) => indeg.get(id) === 0);
  for (let qi = 0; qi < queue.length; qi++) {
    const u = queue[qi]!;
    for (const i of out.get(u)!) {
      if (back.has(i)) continue;
      const v = edges[i]!.to;
      layer.set(v, Math.max(layer.get(v)!, layer.get(u)! + 1));
      indeg.set(v, indeg.get(v)! - 1);
      if (indeg.get(v) === 0) queue.push(v);
    }
  }
  const nLayers = Math.max(0, ...layer.values()) + 1;

  // 3. Layers of slots, with virtual points for long forward edges.
  const layers: Slot[][] = Array.from({ length: nLayers }, () => []);
  const rank = new Map(discovery.map((id, i) => [id, i]));
  for (const id of [...ids].sort((a, b) => rank.get(a)! - rank.get(b)!)) layers[layer.get(id)!]!.push({ key: id, real: true, w: W, x: 0 });
  const chains = new Map<number, string[]>(); // edge index → slot keys from source to target
  const up = new Map<string, { k: string; w: number }[]>(); // slot → slots in the layer above it connects to
  const down = new Map<string, { k: string; w: number }[]>();
  const link = (a: string, b: string, w: number) => {
    (down.get(a) ?? down.set(a, []).get(a)!).push({ k: b, w });
    (up.get(b) ?? up.set(b, []).get(b)!).push({ k: a, w });
  };
  const bused = new Set<number>();
  for (const i of forward) {
    const e = edges[i]!;
    const la = layer.get(e.from)!;
    const lb = layer.get(e.to)!;
    if (ERROR_KINDS.has(e.kind) && lb - la > 1) {
      bused.add(i);
      continue;
    }
    const w = e.kind === 'next' ? 3 : ERROR_KINDS.has(e.kind) ? 0.5 : 1;
    const chain = [e.from];
    for (let l = la + 1; l < lb; l++) {
      const key = `~${i}~${l}`;
      layers[l]!.push({ key, real: false, w: DUMMY_W, x: 0 });
      chain.push(key);
    }
    chain.push(e.to);
    for (let k = 0; k + 1 < chain.length; k++) link(chain[k]!, chain[k + 1]!, w);
    chains.set(i, chain);
  }

  // 4. Barycenter ordering sweeps.
  const pos = new Map<string, number>();
  const index = () => layers.forEach((L) => L.forEach((s, i) => pos.set(s.key, i)));
  index();
  const bary = (s: Slot, nbrs: Map<string, { k: string; w: number }[]>) => {
    const n = nbrs.get(s.key);
    if (!n?.length) return pos.get(s.key)!;
    return n.reduce((a, x) => a + x.w * pos.get(x.k)!, 0) / n.reduce((a, x) => a + x.w, 0);
  };
  for (let sweep = 0; sweep < 6; sweep++) {
    const downward = sweep % 2 === 0;
    const order = downward ? layers.map((_, i) => i).slice(1) : layers.map((_, i) => i).reverse().slice(1);
    for (const l of order) {
      const L = layers[l]!;
      const keyed = L.map((s, i) => ({ s, b: bary(s, downward ? up : down), i }));
      keyed.sort((a, b) => a.b - b.b || a.i - b.i);
      layers[l] = keyed.map((k) => k.s);
      layers[l]!.forEach((s, i) => pos.set(s.key, i));
    }
  }

  // 5. x: start packed and centred, then pull toward neighbours a few times.
  const slot = new Map<string, Slot>();
  for (const L of layers) for (const s of L) slot.set(s.key, s);
  const pack = (L: Slot[]) => {
    let x = 0;
    for (const s of L) {
      s.x = x + s.w / 2;
      x += s.w + COL_GAP;
    }
  };
  layers.forEach(pack);
  const widest = Math.max(...layers.map((L) => (L.length ? L[L.length - 1]!.x + L[L.length - 1]!.w / 2 : 0)));
  for (const L of layers) {
    const wL = L.length ? L[L.length - 1]!.x + L[L.length - 1]!.w / 2 : 0;
    for (const s of L) s.x += (widest - wL) / 2;
  }
  const place = (L: Slot[], nbrs: Map<string, { k: string; w: number }[]>) => {
    const want = L.map((s) => {
      const n = nbrs.get(s.key);
      return n?.length ? n.reduce((a, x) => a + x.w * slot.get(x.k)!.x, 0) / n.reduce((a, x) => a + x.w, 0) : s.x;
    });
    // Left to right keep spacing, then right to left, averaging the two passes.
    const a = want.slice();
    for (let i = 1; i < L.length; i++) a[i] = Math.max(a[i]!, a[i - 1]! + (L[i - 1]!.w + L[i]!.w) / 2 + COL_GAP);
    const b = want.slice();
    for (let i = L.length - 2; i >= 0; i--) b[i] = Math.min(b[i]!, b[i + 1]! - (L[i + 1]!.w + L[i]!.w) / 2 - COL_GAP);
    const c = L.map((_, i) => (a[i]! + b[i]!) / 2);
    for (let i = 1; i < L.length; i++) c[i] = Math.max(c[i]!, c[i - 1]! + (L[i - 1]!.w + L[i]!.w) / 2 + COL_GAP);
    L.forEach((s, i) => (s.x = c[i]!));
  };
  // The spine (start, then `next` after `next`) is one straight column; the rest arrange around it.
  const spine = new Set<string>();
  for (let cur: string | undefined = input.start; cur && known.has(cur) && !spine.has(cur); ) {
    spine.add(cur);
    const from: string = cur;
    const i = edges.findIndex((e) => e.from === from && e.kind === 'next');
    const j = i >= 0 ? i : edges.findIndex((e) => e.from === from && e.kind === 'switch' && e.label === 'default');
    cur = j >= 0 && !back.has(j) ? edges[j]!.to : undefined;
  }
  const pinned = (L: Slot[], nbrs: Map<string, { k: string; w: number }[]>): boolean => {
    const si = L.findIndex((x) => spine.has(x.key));
    if (si < 0) return false;
    const want = L.map((x) => {
      const n = nbrs.get(x.key);
      return n?.length ? n.reduce((a, y) => a + y.w * slot.get(y.k)!.x, 0) / n.reduce((a, y) => a + y.w, 0) : x.x;
    });
    const sep = (i: number, j: number) => (L[i]!.w + L[j]!.w) / 2 + COL_GAP;
    L[si]!.x = 0;
    for (let i = si + 1; i < L.length; i++) L[i]!.x = Math.max(want[i]!, L[i - 1]!.x + sep(i - 1, i));
    for (let i = si - 1; i >= 0; i--) L[i]!.x = Math.min(want[i]!, L[i + 1]!.x - sep(i, i + 1));
    return true;
  };
  if (spine.size > 1) {
    for (const L of layers) if (!pinned(L, up)) place(L, up);
    for (let it = 0; it < 3; it++) {
      for (let l = layers.length - 2; l >= 0; l--) if (!pinned(layers[l]!, down)) place(layers[l]!, down);
      for (let l = 1; l < layers.length; l++) if (!pinned(layers[l]!, up)) place(layers[l]!, up);
    }
  } else {
    for (let it = 0; it < 4; it++) {
      for (let l = 1; l < layers.length; l++) place(layers[l]!, up);
      for (let l = layers.length - 2; l >= 0; l--) place(layers[l]!, down);
    }
  }
  let minX = Infinity;
  let maxX = -Infinity;
  for (const s of slot.values()) {
    minX = Math.min(minX, s.x - s.w / 2);
    maxX = Math.max(maxX, s.x + s.w / 2);
  }
  if (!Number.isFinite(minX)) minX = maxX = 0;
  const shift = MARGIN - minX;
  for (const s of slot.values()) s.x += shift;
  const top = (l: number) => MARGIN + l * (H + LAYER_GAP);

  const nodes: LaidOutNode[] = [];
  layers.forEach((L, l) =>
    L.forEach((s) => {
      if (s.real) nodes.push({ id: s.key, layer: l, order: L.indexOf(s), x: s.x - W / 2, y: top(l), w: W, h: H });
    }),
  );
  const nodeOf = new Map(nodes.map((n) => [n.id, n]));

  // 6. Edge polylines.
  let left = minX + shift;
  let right = maxX + shift;
  const laidEdges: LaidOutEdge[] = [];
  const spanRight = (lo: number, hi: number) => {
    let r = -Infinity;
    for (const n of nodes) if (n.layer >= lo && n.layer <= hi) r = Math.max(r, n.x + n.w);
    for (const L of layers.slice(lo, hi + 1)) for (const s of L) if (!s.real) r = Math.max(r, s.x + s.w / 2);
    return r;
  };
  const spanLeft = (lo: number, hi: number) => {
    let l = Infinity;
    for (const n of nodes) if (n.layer >= lo && n.layer <= hi) l = Math.min(l, n.x);
    for (const L of layers.slice(lo, hi + 1)) for (const s of L) if (!s.real) l = Math.min(l, s.x - s.w / 2);
    return l;
  };
  // Lanes: intervals of layers; an edge takes the first lane free over its interval.
  const takeLane = (lanes: [number, number][][], lo: number, hi: number): number => {
    let lane = 0;
    while (lanes[lane]?.some(([a, b]) => !(hi < a || lo > b))) lane++;
    (lanes[lane] ??= []).push([lo, hi]);
    return lane;
  };
  const backLanes: [number, number][][] = [];
  const busLanes: [number, number][][] = [];
  // One bus per error target: every error edge into it shares the bus.
  const busOf = new Map<string, { x: number; lo: number; hi: number }>();
  for (const i of bused) {
    const e = edges[i]!;
    const lo = layer.get(e.from)!;
    const hi = layer.get(e.to)!;
    const b = busOf.get(e.to);
    busOf.set(e.to, b ? { x: 0, lo: Math.min(b.lo, lo), hi: Math.max(b.hi, hi) } : { x: 0, lo, hi });
  }
  for (const [, b] of [...busOf.entries()].sort((a, c) => a[1].lo - c[1].lo)) {
    const lane = takeLane(busLanes, b.lo, b.hi);
    b.x = spanRight(b.lo, b.hi) + LANE_GAP * (lane + 1.5);
    right = Math.max(right, b.x);
  }
  edges.forEach((e, i) => {
    const a = nodeOf.get(e.from)!;
    const b = nodeOf.get(e.to)!;
    const base = { from: e.from, to: e.to, kind: e.kind, ...(e.label !== undefined ? { label: e.label } : {}) };
    if (bused.has(i)) {
      // Down from the source's bottom-right, along the bus, into the target's top-right.
      const bus = busOf.get(e.to)!;
      const ax = a.x + a.w * 0.78;
      const bx = b.x + b.w * 0.78;
      const y1 = a.y + a.h + LAYER_GAP * 0.32;
      const y2 = b.y - LAYER_GAP * 0.32;
      laidEdges.push({ ...base, back: false, route: 'bus', points: [{ x: ax, y: a.y + a.h }, { x: ax, y: y1 }, { x: bus.x, y: y1 }, { x: bus.x, y: y2 }, { x: bx, y: y2 }, { x: bx, y: b.y }] });
      return;
    }
    if (!back.has(i)) {
      const chain = chains.get(i)!;
      const pts: Point[] = [{ x: a.x + a.w / 2, y: a.y + a.h }];
      for (const k of chain.slice(1, -1)) {
        const s = slot.get(k)!;
        const l = layer.get(e.from)! + chain.indexOf(k);
        pts.push({ x: s.x, y: top(l) }, { x: s.x, y: top(l) + H });
      }
      pts.push({ x: b.x + b.w / 2, y: b.y });
      laidEdges.push({ ...base, back: false, route: 'layered', points: pts });
      return;
    }
    // A loop: up out of the source's top-left into the gap above it, left to a lane outside everything in
    // between, up to the gap below the target, and into the target's bottom-left (gaps hold no nodes).
    const lo = Math.min(a.layer, b.layer);
    const hi = Math.max(a.layer, b.layer);
    const lane = takeLane(backLanes, lo, hi);
    const x = spanLeft(lo, hi) - LANE_GAP * (lane + 1.5);
    left = Math.min(left, x);
    const ax = a.x + a.w * 0.22;
    const bx = b.x + b.w * 0.22;
    const y1 = a.y - LAYER_GAP * 0.3;
    const y2 = b.y + b.h + LAYER_GAP * 0.3;
    laidEdges.push({ ...base, back: true, route: 'loop', points: [{ x: ax, y: a.y }, { x: ax, y: y1 }, { x, y: y1 }, { x, y: y2 }, { x: bx, y: y2 }, { x: bx, y: b.y + b.h }] });
  });

  // Loops may have gone left of the margin: move everything right.
  const dx = Math.max(0, MARGIN - left);
  if (dx) {
    for (const n of nodes) n.x += dx;
    for (const e of laidEdges) for (const p of e.points) p.x += dx;
    right += dx;
  }

  return {
    width: Math.ceil(right + MARGIN),
    height: Math.ceil(top(Math.max(nLayers, 1) - 1) + H + MARGIN),
    nodes,
    edges: laidEdges,
    layers: nLayers,
  };
}

/** The steps a run went through, in order, and the edges between consecutive ones (the path taken). */
export function pathTaken(events: { step: string; kind: string; visit?: number }[], graphEdges: { from: string; to: string }[]): { steps: string[]; edges: Set<string> } {
  const entered: string[] = [];
  let last = '';
  for (const ev of events) {
    if (!ev.step || !['started', 'waiting', 'succeeded', 'failed', 'skipped'].includes(ev.kind)) continue;
    const key = `${ev.step}#${ev.visit ?? 0}`;
    // Retries (and an admin's retry-from-failed) start the same visit again: not a new step on the path.
    if (key === last) continue;
    last = key;
    entered.push(ev.step);
  }
  const exists = new Set(graphEdges.map((e) => `${e.from}->${e.to}`));
  const taken = new Set<string>();
  for (let i = 0; i + 1 < entered.length; i++) {
    const k = `${entered[i]}->${entered[i + 1]}`;
    if (exists.has(k)) taken.add(k);
  }
  return { steps: entered, edges: taken };
}
