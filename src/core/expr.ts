// Conditions and templates in JSONata: a sandboxed expression language (no eval, no Function, no I/O).
// A condition is a bare expression; a template is a string with {{ expression }} holes. A string that is
// exactly one hole keeps the value's type (object, number, boolean).
import { createRequire } from 'node:module';
import type jsonataFn from 'jsonata';

export type Compiled = ReturnType<typeof jsonataFn>;

// JSONata (a CommonJS module, ≈ 1 MB of heap and 4–5 MB of RSS with its compiled code) is loaded when the first
// expression is compiled: an idle `serve --role worker` whose runbooks were validated off-thread never loads it.
let jsonataLib: typeof jsonataFn | undefined;
const jsonata = (expression: string): Compiled => (jsonataLib ??= createRequire(import.meta.url)('jsonata') as typeof jsonataFn)(expression);

const HOLE = /\{\{([\s\S]*?)\}\}/g;
const cache = new Map<string, Compiled>();

export class ExpressionError extends Error {
  constructor(readonly expression: string, message: string, readonly position?: number) {
    super(message);
    this.name = 'ExpressionError';
  }
}

/** Compile (cached). Throws ExpressionError with JSONata's message and position. */
export function compile(expression: string): Compiled {
  const hit = cache.get(expression);
  if (hit) return hit;
  try {
    const c = jsonata(expression);
    if (cache.size > 5000) cache.clear();
    cache.set(expression, c);
    return c;
  } catch (e) {
    const err = e as { message?: string; position?: number };
    throw new ExpressionError(expression, `bad expression ${JSON.stringify(expression)}: ${err.message ?? String(e)}`, err.position);
  }
}

/** Every {{ }} hole of a template string (trimmed expressions). */
export function templateHoles(s: string): string[] {
  const out: string[] = [];
  for (const m of s.matchAll(HOLE)) out.push(m[1]!.trim());
  return out;
}

/** Validate every expression inside a (possibly nested) params value; returns messages with their path. */
export function checkTemplates(value: unknown, path = ''): { path: string; message: string }[] {
  const out: { path: string; message: string }[] = [];
  if (typeof value === 'string') {
    for (const h of templateHoles(value)) {
      if (!h) out.push({ path, message: 'empty {{ }} expression' });
      else
        try {
          compile(h);
        } catch (e) {
          out.push({ path, message: (e as Error).message });
        }
    }
  } else if (Array.isArray(value)) value.forEach((v, i) => out.push(...checkTemplates(v, `${path}[${i}]`)));
  else if (value && typeof value === 'object')
    for (const [k, v] of Object.entries(value)) out.push(...checkTemplates(v, path ? `${path}.${k}` : k));
  return out;
}

export async function evaluate(expression: string, context: object): Promise<unknown> {
  try {
    return await compile(expression).evaluate(context);
  } catch (e) {
    if (e instanceof ExpressionError) throw e;
    throw new ExpressionError(expression, `expression ${JSON.stringify(expression)} failed: ${(e as Error).message}`);
  }
}

/** A condition is true only when it evaluates to boolean true (undefined paths are false). */
export async function test(expression: string, context: object): Promise<boolean> {
  return (await evaluate(expression, context)) === true;
}

/** Resolve templates in a params value (deeply). */
export async function render(value: unknown, context: object): Promise<unknown> {
  if (typeof value === 'string') {
    const holes = [...value.matchAll(HOLE)];
    if (holes.length === 0) return value;
    if (holes.length === 1 && holes[0]![0] === value.trim()) {
      const v = await evaluate(holes[0]![1]!.trim(), context);
      return normalise(v);
    }
    let out = '';
    let last = 0;
    for (const m of holes) {
      out += value.slice(last, m.index);
      const v = normalise(await evaluate(m[1]!.trim(), context));
      out += v === undefined || v === null ? '' : typeof v === 'string' ? v : JSON.stringify(v);
      last = m.index! + m[0].length;
    }
    return out + value.slice(last);
  }
  if (Array.isArray(value)) return Promise.all(value.map((v) => render(v, context)));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = await render(v, context);
    return out;
  }
  return value;
}

/** JSONata returns special sequence arrays; make them plain JSON values. */
function normalise(v: unknown): unknown {
  if (v === undefined) return undefined;
  return JSON.parse(JSON.stringify(v));
}

/** Root identifiers an expression reads (e.g. `inputs.fixPolicy` → paths starting with inputs). */
export function referencedInputs(expression: string): string[] {
  const found = new Set<string>();
  walk((compile(expression) as any).ast?.() ?? null, (node) => {
    if (node?.type === 'path' && Array.isArray(node.steps) && node.steps[0]?.type === 'name' && node.steps[0].value === 'inputs') {
      const second = node.steps[1];
      if (second?.type === 'name') found.add(second.value);
    }
  });
  return [...found];
}

function walk(node: any, fn: (n: any) => void): void {
  if (!node || typeof node !== 'object') return;
  fn(node);
  for (const v of Object.values(node)) {
    if (Array.isArray(v)) v.forEach((x) => walk(x, fn));
    else if (v && typeof v === 'object') walk(v, fn);
  }
}
