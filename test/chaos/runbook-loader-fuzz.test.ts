// Fuzzing the runbook loader (fast-check): any text, any YAML document, and every shipped or test runbook with
// random mutations either loads as a Runbook or is refused with a ValidationError whose issues name a file —
// never another exception, never a hang. What loads is usable: its inputs resolve or are refused with a
// ValidationError, every step it can go to exists, and a walk from its start does not throw.
//
// `npm test` runs CI-sized counts; `npm run chaos` (RUNWRIGHT_CHAOS=full) ten times more.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import YAML from 'yaml';
import { parseRunbook, resolveInputs, edges, type Runbook } from '../../src/core/runbook.js';
import { enter } from '../../src/core/graph.js';
import { ValidationError, RunwrightError } from '../../src/core/errors.js';
import { defaultRegistry } from '../../src/actions/index.js';
import type { RunRecord } from '../../src/core/types.js';

const FULL = process.env.RUNWRIGHT_CHAOS === 'full';
const RUNS = FULL ? 3000 : 300;
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const catalog = defaultRegistry().catalog();

const SOURCES: { file: string; text: string }[] = [
  ...['runbooks', 'test/engine/runbooks', 'test/api/runbooks', 'bench/runbooks'].flatMap((d) => {
    const dir = path.join(ROOT, d);
    let names: string[] = [];
    try {
      names = readdirSync(dir).filter((f) => /\.ya?ml$/.test(f));
    } catch {
      /* a folder another part has not written yet */
    }
    return names.map((f) => ({ file: path.join(d, f), text: readFileSync(path.join(dir, f), 'utf8') }));
  }),
];

/** Load `source`; the only acceptable failure is a ValidationError naming the file. Returns the runbook or null. */
function load(source: string, file = 'fuzz.yaml'): Runbook | null {
  const t0 = Date.now();
  try {
    return parseRunbook(source, file, catalog);
  } catch (e) {
    if (!(e instanceof ValidationError)) {
      assert.fail(`the loader threw ${(e as Error)?.constructor?.name}: ${(e as Error)?.stack ?? String(e)}\n--- input (${source.length} chars):\n${source.slice(0, 2000)}`);
    }
    assert.ok(e.issues.length > 0, 'a ValidationError lists at least one issue');
    for (const i of e.issues) {
      assert.equal(i.file, file, `every issue names the file: ${JSON.stringify(i)}`);
      assert.equal(typeof i.message, 'string');
    }
    return null;
  } finally {
    const ms = Date.now() - t0;
    assert.ok(ms < 5_000, `loading took ${ms} ms`);
  }
}

/** What a loaded runbook promises the engine. */
async function usable(rb: Runbook): Promise<void> {
  assert.ok(rb.stepMap.has(rb.start), 'start exists');
  for (const s of rb.steps) for (const e of edges(s)) assert.ok(rb.stepMap.has(e.to), `step ${s.id} goes to '${e.to}', which exists`);
  let inputs: Record<string, unknown> = {};
  try {
    inputs = resolveInputs(rb, {});
  } catch (e) {
    if (!(e instanceof ValidationError)) throw e;
    return; // required inputs without defaults: a run needs them, and submission refuses it with this error
  }
  const t = new Date().toISOString();
  const run: RunRecord = { id: 'rfuzz', runbookId: rb.id, runbookHash: rb.hash, alert: { source: 'fuzz', fingerprint: 'f', severity: 'error', text: 'x', labels: {}, receivedAt: t }, target: { name: 't', repo: '/x', branch: 'main', modelsDir: 'm', platform: 'local', labels: {} }, inputs: inputs as RunRecord['inputs'], status: 'running', createdAt: t, updatedAt: t, dryRun: false, autoApprove: false, steps: {} };
  try {
    const adv = await enter(rb, run, {}, rb.start, undefined);
    assert.ok(['job', 'approval', 'end'].includes(adv.target.kind));
  } catch (e) {
    // A switch condition can fail at run time on this made-up context (JSONata type errors): that fails the
    // run through the graph, it is not a loader crash. Anything else is.
    if (!(e instanceof RunwrightError) && !isJsonataError(e)) throw e;
  }
}

function isJsonataError(e: unknown): boolean {
  return !!e && typeof e === 'object' && typeof (e as { code?: unknown }).code === 'string' && /^[TDS]\d{4}$/.test((e as { code: string }).code);
}

// ------------------------------------------------------------------ mutations of real runbooks

type Path = (string | number)[];

function paths(v: unknown, at: Path = [], out: Path[] = []): Path[] {
  out.push(at);
  if (Array.isArray(v)) v.forEach((x, i) => paths(x, [...at, i], out));
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) paths(x, [...at, k], out);
  return out;
}

function getAt(v: any, p: Path): any {
  return p.reduce((o, k) => (o == null ? undefined : o[k]), v);
}

const WEIRD = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  fc.constantFrom('{{', '}}', '{{ }}', '{{ $foo( }}', '{{ steps.nope.output }}', '{{ inputs.undeclared }}', '$$', "'", '"', '\n', '-1', '0', '1e309', 'NaN', '1h30', '99999999999d', '__proto__', 'constructor', 'a'.repeat(300), 'Ω≈ç√', '\u0000', '*alias', '&anchor', '!!binary AAAA', '? complex', '[', '{'),
  fc.string({ maxLength: 40 }),
);

type Mutation = { kind: 'delete' | 'replace' | 'rename-ref' | 'duplicate-step' | 'swap-type'; pick: number; value: unknown; key: string };
const mutation = fc.record({ kind: fc.constantFrom('delete', 'replace', 'rename-ref', 'duplicate-step', 'swap-type'), pick: fc.nat(), value: WEIRD, key: fc.oneof(fc.constantFrom('next', 'onError', 'onExhausted', 'onReject', 'start', 'maxVisits', 'retry', 'timeout', 'when', 'switch', 'branches', 'approval', 'end', 'with', 'action', 'inputs', 'match', 'policy', 'id'), fc.string({ maxLength: 8 })) }) as fc.Arbitrary<Mutation>;

function mutate(doc: any, m: Mutation): any {
  const all = paths(doc).filter((p) => p.length > 0);
  const p = all[m.pick % all.length]!;
  const parent = getAt(doc, p.slice(0, -1));
  const last = p[p.length - 1]!;
  switch (m.kind) {
    case 'delete':
      if (Array.isArray(parent)) parent.splice(Number(last), 1);
      else if (parent && typeof parent === 'object') delete parent[last];
      break;
    case 'replace':
      if (parent && typeof parent === 'object') parent[last] = m.value;
      break;
    case 'swap-type': {
      const cur = parent?.[last];
      if (parent && typeof parent === 'object') parent[last] = typeof cur === 'string' ? [cur] : typeof cur === 'number' ? String(cur) : Array.isArray(cur) ? Object.fromEntries(cur.map((x, i) => [String(i), x])) : cur && typeof cur === 'object' ? Object.values(cur) : { value: cur };
      break;
    }
    case 'rename-ref': {
      const steps: any[] = Array.isArray(doc?.steps) ? doc.steps : [];
      const s = steps[m.pick % Math.max(1, steps.length)];
      if (s && typeof s === 'object') s[m.key] = typeof m.value === 'string' ? m.value : steps[(m.pick >> 3) % steps.length]?.id;
      break;
    }
    case 'duplicate-step': {
      const steps: any[] = Array.isArray(doc?.steps) ? doc.steps : [];
      if (steps.length) steps.splice(m.pick % steps.length, 0, structuredClone(steps[(m.pick >> 2) % steps.length]));
      break;
    }
  }
  return doc;
}

describe('runbook loader fuzz', () => {
  test(`the ${SOURCES.length} shipped and test runbooks load as they are (the fuzz starts from valid documents)`, async () => {
    assert.ok(SOURCES.length >= 5);
    for (const s of SOURCES) {
      const rb = load(s.text, s.file);
      assert.ok(rb, `${s.file} loads`);
      await usable(rb);
    }
  });

  test('any text: a Runbook or a ValidationError naming the file', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 400 }), fc.string({ unit: 'binary', maxLength: 400 }), fc.constantFrom(...SOURCES.map((s) => s.text)).chain((t) => fc.tuple(fc.nat(t.length), fc.nat(t.length), fc.string({ maxLength: 20 })).map(([a, b, ins]) => t.slice(0, Math.min(a, b)) + ins + t.slice(Math.max(a, b))))), (text) => {
        load(text);
      }),
      { numRuns: RUNS },
    );
  });

  test('any YAML document of any JSON shape, including runbook-like ones', async () => {
    const step = fc.record({ id: fc.oneof(fc.constantFrom('a', 'b', 'c', 'done'), fc.string({ maxLength: 6 })), action: fc.oneof(fc.constantFrom('noop', 'set', 'sleep', 'fail', 'nope'), WEIRD), with: fc.oneof(fc.dictionary(fc.string({ maxLength: 6 }), WEIRD), WEIRD), next: fc.oneof(fc.constantFrom('a', 'b', 'c', 'done'), WEIRD), end: fc.oneof(fc.constantFrom('succeeded', 'failed', 'escalated'), WEIRD), switch: fc.array(fc.record({ when: WEIRD, next: fc.constantFrom('a', 'b', 'done') }, { requiredKeys: [] }), { maxLength: 3 }), branches: fc.array(fc.record({ when: WEIRD, next: fc.constantFrom('a', 'b', 'done') }, { requiredKeys: [] }), { maxLength: 3 }), maxVisits: fc.oneof(fc.integer({ min: -2, max: 5 }), WEIRD), retry: fc.oneof(fc.record({ attempts: fc.integer({ min: -1, max: 200 }), backoff: fc.constantFrom('fixed', 'exponential', 'linear'), delay: WEIRD }, { requiredKeys: [] }), WEIRD), timeout: WEIRD, approval: fc.oneof(fc.record({ prompt: WEIRD, options: fc.array(fc.string({ maxLength: 3 }), { maxLength: 3 }), timeout: WEIRD }, { requiredKeys: [] }), WEIRD) }, { requiredKeys: ['id'] });
    const runbookish = fc.record({ id: fc.oneof(fc.constant('fuzz'), WEIRD), title: fc.oneof(fc.constant('Fuzz'), WEIRD), match: fc.oneof(fc.constant({ any: [{ text: 'x' }] }), fc.record({ any: fc.array(fc.record({ text: WEIRD, pattern: WEIRD, labels: WEIRD, expr: WEIRD }, { requiredKeys: [] }), { maxLength: 3 }) }, { requiredKeys: [] }), WEIRD), policy: fc.oneof(fc.record({ targetLock: fc.constantFrom('wait', 'refuse', 'x'), throttle: WEIRD }, { requiredKeys: [] }), WEIRD), inputs: fc.oneof(fc.dictionary(fc.string({ maxLength: 6 }), fc.record({ type: fc.constantFrom('string', 'number', 'boolean', 'object', 'array', 'date'), default: WEIRD, required: fc.boolean(), enum: fc.array(WEIRD, { maxLength: 3 }) }, { requiredKeys: ['type'] }), { maxKeys: 3 }), WEIRD), start: fc.oneof(fc.constantFrom('a', 'b', 'done'), WEIRD), steps: fc.oneof(fc.array(step, { minLength: 1, maxLength: 5 }), WEIRD) }, { requiredKeys: ['id', 'title', 'match', 'steps'] });
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.jsonValue({ maxDepth: 4 }), runbookish), async (doc) => {
        const rb = load(YAML.stringify(doc));
        if (rb) await usable(rb);
      }),
      { numRuns: RUNS },
    );
  });

  test('every real runbook, mutated: a Runbook that works or a ValidationError', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...SOURCES), fc.array(mutation, { minLength: 1, maxLength: 4 }), async (src, ms) => {
        let doc = YAML.parse(src.text);
        for (const m of ms) doc = mutate(doc, m);
        const rb = load(YAML.stringify(doc), src.file);
        if (rb) await usable(rb);
      }),
      { numRuns: RUNS * 2 },
    );
  });

  test('YAML hazards: alias bombs, deep nesting, huge scalars, duplicate keys, tags, binary', () => {
    const bomb = ['a: &a ["x","x","x","x","x","x","x","x","x","x"]', ...Array.from({ length: 9 }, (_, i) => `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [${Array(10).fill(`*${String.fromCharCode(97 + i)}`).join(',')}]`), 'id: bomb', 'title: t', 'match: { any: [{ text: x }] }', 'steps: [{ id: s, action: noop, with: { v: *j } }]'].join('\n');
    const cases = [
      bomb,
      `${'['.repeat(2000)}${']'.repeat(2000)}`,
      `${'a:\n  '.repeat(500)}b`,
      `id: big\ntitle: ${'x'.repeat(2_000_000)}\nmatch: { any: [{ text: x }] }\nsteps: [{ id: s, action: noop }]`,
      'id: dup\nid: dup\ntitle: t\nmatch: { any: [{ text: x }] }\nsteps: [{ id: s, action: noop }]',
      'id: !!js/function "function(){}"\ntitle: t\nmatch: { any: [{ text: x }] }\nsteps: [{ id: s, action: noop }]',
      '%YAML 1.1\n---\nid: y\n...\n---\nid: z',
      '\ufeff\u0000\u0001\u00ff',
      'id: p\ntitle: t\nmatch: { any: [{ text: x }] }\ninputs: { __proto__: { type: string } }\nsteps: [{ id: s, action: noop }]',
      'id: p\ntitle: t\nmatch: { any: [{ pattern: "(" }] }\nsteps: [{ id: s, action: noop, with: { v: "{{ $eval(\'1\') }}" } }]',
      'id: c\ntitle: t\nmatch: { any: [{ text: x }] }\nsteps:\n  - { id: a, action: noop, next: b }\n  - { id: b, switch: [{ next: a }] }',
    ];
    for (const c of cases) load(c);
  });
});
