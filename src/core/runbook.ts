// Runbook loading and validation. A runbook is YAML; every problem is reported with file, line and step.
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { LineCounter, parseDocument, isMap, type Document, type Node as YNode } from 'yaml';
import { z } from 'zod';
import { ValidationError, type ValidationIssue } from './errors.js';
import { checkTemplates, compile, referencedInputs, templateHoles } from './expr.js';
import { edges, parseDurationMs, typeMatches, type ActionCatalog, type Runbook } from './runbook-model.js';

export { approvalCoverage, edges, matchesAlert, parseDurationMs, resolveInputs, stepKind, type ActionCatalog, type Runbook } from './runbook-model.js';

const STEP_ID = /^[a-z][a-z0-9_]*$/;
const END_STATUSES = ['succeeded', 'failed', 'escalated'] as const;

const durationSchema = z.union([z.number().int().min(0), z.string().regex(/^\s*\d+(\.\d+)?\s*(ms|s|m|h|d)?\s*$/, 'a duration such as 500ms, 30s, 5m, 4h')]);

const matchRule = z
  .object({
    text: z.string().min(1).optional(),
    pattern: z.string().min(1).optional(),
    labels: z.record(z.string(), z.string()).optional(),
    expr: z.string().min(1).optional(),
  })
  .strict()
  .refine((r) => Object.keys(r).length > 0, 'a match rule needs text, pattern, labels or expr');

const branch = z.object({ when: z.string().min(1), next: z.string() }).strict();
const switchCase = z.object({ when: z.string().min(1).optional(), next: z.string() }).strict();

const stepSchema = z
  .object({
    id: z.string().regex(STEP_ID, 'step ids are lower-case letters, digits and _ (so expressions can say steps.<id>)'),
    description: z.string().optional(),
    action: z.string().min(1).optional(),
    with: z.record(z.string(), z.any()).optional(),
    next: z.string().optional(),
    branches: z.array(branch).optional(),
    switch: z.array(switchCase).min(1).optional(),
    onError: z.string().optional(),
    retry: z
      .object({
        attempts: z.number().int().min(1).max(100),
        backoff: z.enum(['fixed', 'exponential']).default('exponential'),
        delay: durationSchema.default('1s'),
        maxDelay: durationSchema.optional(),
      })
      .strict()
      .optional(),
    timeout: durationSchema.optional(),
    maxVisits: z.number().int().min(1).max(1000).optional(),
    onExhausted: z.string().optional(),
    approval: z
      .object({
        prompt: z.string().min(1),
        options: z.array(z.string().min(1)).optional(),
        recommend: z.string().optional(),
        timeout: durationSchema.optional(),
        approvers: z.array(z.string()).optional(),
        findings: z.string().optional(),
        proposal: z.string().optional(),
      })
      .strict()
      .optional(),
    onReject: z.string().optional(),
    end: z.enum(END_STATUSES).optional(),
    outcome: z.string().optional(),
  })
  .strict();

const inputSchema = z
  .object({
    type: z.enum(['string', 'number', 'boolean', 'object', 'array']),
    default: z.any().optional(),
    required: z.boolean().optional(),
    enum: z.array(z.any()).optional(),
    description: z.string().optional(),
  })
  .strict();

const runbookSchema = z
  .object({
    id: z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'runbook ids are lower-case letters, digits and -'),
    title: z.string().min(1),
    description: z.string().optional(),
    match: z
      .object({ any: z.array(matchRule).optional(), all: z.array(matchRule).optional() })
      .strict()
      .refine((m) => (m.any?.length ?? 0) + (m.all?.length ?? 0) > 0, 'match needs at least one rule under any: or all:'),
    policy: z
      .object({
        targetLock: z.enum(['wait', 'refuse']).default('wait'),
        throttle: durationSchema.optional(),
        approvers: z.array(z.string()).optional(),
        pushToBranch: z.boolean().optional(),
      })
      .strict()
      .default({ targetLock: 'wait' }),
    inputs: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'input names are identifiers'), inputSchema).default({}),
    start: z.string().optional(),
    steps: z.array(stepSchema).min(1, 'a runbook needs at least one step'),
  })
  .strict();

export type StepDef = z.infer<typeof stepSchema> & { line?: number };
export type InputDef = z.infer<typeof inputSchema>;
export type MatchRule = z.infer<typeof matchRule>;

/** Parse and validate one runbook's YAML text. Throws ValidationError listing every problem found. */
export function parseRunbook(source: string, file: string, actions: ActionCatalog): Runbook {
  const lc = new LineCounter();
  const doc = parseDocument(source, { lineCounter: lc, prettyErrors: true, uniqueKeys: true });
  const issues: ValidationIssue[] = [];
  const warnings: ValidationIssue[] = [];
  const lineOf = (p: (string | number)[]): number | undefined => nodeLine(doc, lc, p);
  for (const e of doc.errors) {
    // A key that runs over several lines ends where the stray `:` is — the line to fix (usually mis-indented);
    // the "nested mapping" complaint about the same key would point one line early, so it is left out.
    if (e.code === 'BLOCK_AS_IMPLICIT_KEY' && doc.errors.some((o) => o.code === 'MULTILINE_IMPLICIT_KEY' && o.pos[0] === e.pos[0])) continue;
    const pos = e.code === 'MULTILINE_IMPLICIT_KEY' ? e.linePos?.[1] : e.linePos?.[0];
    const what = e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
    const hint = e.code === 'MULTILINE_IMPLICIT_KEY' ? ' (check the indentation of this line and the one above)' : '';
    issues.push({ file, line: pos?.line, column: pos?.col, message: `YAML: ${what}${hint}` });
  }
  // Input names like toString, constructor or __proto__ would read as built-in properties of every object (and
  // __proto__ would vanish when the YAML becomes an object): refused here, on the YAML keys themselves.
  const inputsNode = doc.get('inputs', true);
  if (isMap(inputsNode)) {
    for (const pair of inputsNode.items) {
      const k = (pair.key as { value?: unknown } | null)?.value;
      if (typeof k === 'string' && k in Object.prototype) {
        const r = (pair.key as { range?: [number, number, number] }).range;
        issues.push({ file, line: r ? lc.linePos(r[0]).line : lineOf(['inputs']), path: `inputs.${k}`, message: `input name '${k}' is reserved: it names a built-in property of every object (toString, constructor, __proto__, …); choose another` });
      }
    }
  }
  if (issues.length) throw new ValidationError(issues);
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 50 });
  } catch (e) {
    // The yaml library refuses alias bombs (and other unresolvable documents) with a plain Error: report it as
    // the ValidationError this function promises, not as a crash of whoever loads the file.
    throw new ValidationError([{ file, line: 1, message: `YAML: ${(e as Error).message}` }]);
  }
  const parsed = runbookSchema.safeParse(data);
  if (!parsed.success) {
    for (const i of parsed.error.issues) {
      const p = i.path.filter((x): x is string | number => typeof x === 'string' || typeof x === 'number');
      const keys = (i as { keys?: string[] }).keys;
      const at = i.code === 'unrecognized_keys' && keys?.length ? [...p, keys[0]!] : p;
      issues.push({ file, line: lineOf(at), step: stepIdAt(data, p), path: formatPath(at), message: i.message });
    }
    throw new ValidationError(issues);
  }
  const rb = parsed.data;
  const steps: StepDef[] = rb.steps.map((s, i) => ({ ...s, line: lineOf(['steps', i]) }));
  const stepMap = new Map<string, StepDef>();
  steps.forEach((s, i) => {
    if (stepMap.has(s.id)) issues.push({ file, line: lineOf(['steps', i, 'id']), step: s.id, message: `duplicate step id '${s.id}'` });
    stepMap.set(s.id, s);
  });
  const start = rb.start ?? steps[0]!.id;
  if (!stepMap.has(start)) issues.push({ file, line: lineOf(['start']), path: 'start', message: `unknown step reference '${start}'` });

  // Per-step shape rules and references.
  steps.forEach((s, i) => {
    const at = (field: (string | number)[], message: string) =>
      issues.push({ file, line: lineOf(['steps', i, ...field]) ?? s.line, step: s.id, path: formatPath(['steps', i, ...field]), message });
    const kinds = [s.action ? 'action' : '', s.switch ? 'switch' : '', s.approval ? 'approval' : '', s.end ? 'end' : ''].filter(Boolean);
    if (kinds.length === 0) at([], 'a step needs one of: action, switch, approval, end');
    if (kinds.length > 1) at([], `a step is one of action, switch, approval or end, not ${kinds.join(' and ')}`);
    if (s.action && !actions.has(s.action)) at(['action'], `unknown action '${s.action}'${actions.names ? ` (known: ${actions.names().join(', ')})` : ''}`);
    if (s.action && actions.has(s.action) && actions.requiredParams) {
      const req = actions.requiredParams(s.action) ?? [];
      for (const r of req) if (!(s.with && r in s.with)) at(['with'], `action '${s.action}' needs parameter '${r}'`);
    }
    if (s.with && !s.action) at(['with'], '`with` only goes with an action');
    if (s.action && s.with && actions.has(s.action) && actions.deprecatedParams) {
      for (const [param, instead] of Object.entries(actions.deprecatedParams(s.action) ?? {})) {
        if (Object.hasOwn(s.with, param)) warnings.push({ file, line: lineOf(['steps', i, 'with', param]) ?? s.line, step: s.id, path: formatPath(['steps', i, 'with', param]), message: `'${param}' of ${s.action} is deprecated: ${instead}` });
      }
    }
    if (s.branches && !s.next && (s.action || s.approval)) at(['branches'], 'branches need a default `next` for when no condition holds');
    if (s.switch) {
      const last = s.switch[s.switch.length - 1]!;
      if (last.when !== undefined) at(['switch'], 'the last switch case must be a default (no `when`)');
      s.switch.slice(0, -1).forEach((c, j) => {
        if (c.when === undefined) at(['switch', j], 'only the last switch case may omit `when`');
      });
      if (s.next) at(['next'], 'a switch step chooses its next step in switch:, not next:');
    }
    if (s.end && (s.next || s.branches || s.onError)) at(['end'], 'an end step has no next, branches or onError');
    if (s.onReject && !s.approval) at(['onReject'], 'onReject only goes with approval');
    if (s.retry && !s.action) at(['retry'], 'retry only goes with an action');
    if (s.timeout !== undefined && !s.action) at(['timeout'], 'timeout only goes with an action');
    if (s.onExhausted && s.maxVisits === undefined) at(['onExhausted'], 'onExhausted needs maxVisits');
    for (const e of edges(s)) {
      if (!stepMap.has(e.to) && !steps.some((x) => x.id === e.to)) at(e.field.split(/[.[\]]+/).filter(Boolean).map((x) => (/^\d+$/.test(x) ? Number(x) : x)), `unknown step reference '${e.to}'`);
    }
    // Expressions: conditions and templates must compile; inputs they read must be declared.
    const exprs: { field: (string | number)[]; expr: string }[] = [];
    s.branches?.forEach((b, j) => exprs.push({ field: ['branches', j, 'when'], expr: b.when }));
    s.switch?.forEach((c, j) => c.when && exprs.push({ field: ['switch', j, 'when'], expr: c.when }));
    const templates: { field: (string | number)[]; value: unknown }[] = [];
    if (s.with) templates.push({ field: ['with'], value: s.with });
    if (s.outcome) templates.push({ field: ['outcome'], value: s.outcome });
    if (s.approval) templates.push({ field: ['approval'], value: { prompt: s.approval.prompt, recommend: s.approval.recommend, findings: s.approval.findings, proposal: s.approval.proposal } });
    for (const x of exprs) {
      try {
        compile(x.expr);
        for (const name of referencedInputs(x.expr)) if (!Object.hasOwn(rb.inputs, name)) at(x.field, `expression reads inputs.${name}, which the runbook does not declare`);
      } catch (e) {
        at(x.field, (e as Error).message);
      }
    }
    for (const t of templates) {
      for (const p of checkTemplates(t.value)) at([...t.field, ...splitPath(p.path)], p.message);
      for (const expr of allHoles(t.value)) {
        try {
          for (const name of referencedInputs(expr)) if (!Object.hasOwn(rb.inputs, name)) at(t.field, `expression reads inputs.${name}, which the runbook does not declare`);
        } catch {
          /* reported above */
        }
      }
    }
  });
  rb.match.any?.forEach((r, i) => checkRule(r, ['match', 'any', i]));
  rb.match.all?.forEach((r, i) => checkRule(r, ['match', 'all', i]));
  function checkRule(r: MatchRule, p: (string | number)[]) {
    if (r.pattern)
      try {
        new RegExp(r.pattern, 'i');
      } catch (e) {
        issues.push({ file, line: lineOf([...p, 'pattern']), path: formatPath(p), message: `bad pattern: ${(e as Error).message}` });
      }
    if (r.expr)
      try {
        compile(r.expr);
      } catch (e) {
        issues.push({ file, line: lineOf([...p, 'expr']), path: formatPath(p), message: (e as Error).message });
      }
  }
  for (const [name, def] of Object.entries(rb.inputs)) {
    if (def.default !== undefined && !typeMatches(def.type, def.default))
      issues.push({ file, line: lineOf(['inputs', name, 'default']), path: `inputs.${name}.default`, message: `default is not a ${def.type}` });
    if (def.enum && def.default !== undefined && !def.enum.includes(def.default))
      issues.push({ file, line: lineOf(['inputs', name, 'default']), path: `inputs.${name}.default`, message: `default ${JSON.stringify(def.default)} is not one of ${JSON.stringify(def.enum)}` });
  }
  if (issues.length) throw new ValidationError(issues);

  // Graph: reachability from start, and every cycle bounded by a step with maxVisits.
  const reach = new Set<string>();
  const stack = [start];
  while (stack.length) {
    const id = stack.pop()!;
    if (reach.has(id)) continue;
    reach.add(id);
    for (const e of edges(stepMap.get(id)!)) stack.push(e.to);
  }
  for (const s of steps) if (!reach.has(s.id)) issues.push({ file, line: s.line, step: s.id, message: `unreachable step '${s.id}' (no path from '${start}')` });
  for (const cycle of unboundedCycles(steps)) {
    const first = stepMap.get(cycle[0]!)!;
    issues.push({ file, line: first.line, step: first.id, message: `unbounded cycle ${[...cycle, cycle[0]].join(' → ')}: give one of these steps maxVisits` });
  }
  if (issues.length) throw new ValidationError(issues);

  return {
    id: rb.id,
    title: rb.title,
    description: rb.description,
    match: rb.match,
    policy: {
      targetLock: rb.policy.targetLock,
      throttleMs: rb.policy.throttle !== undefined ? parseDurationMs(rb.policy.throttle) : undefined,
      approvers: rb.policy.approvers,
      pushToBranch: rb.policy.pushToBranch,
    },
    inputs: rb.inputs,
    start,
    steps,
    stepMap,
    hash: createHash('sha256').update(source).digest('hex'),
    file,
    source,
    warnings,
  };
}

/** Cycles that contain no step with maxVisits (strongly connected components of the unbounded subgraph). */
function unboundedCycles(steps: StepDef[]): string[][] {
  const free = new Map(steps.filter((s) => s.maxVisits === undefined).map((s) => [s.id, s]));
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const st: string[] = [];
  const out: string[][] = [];
  let i = 0;
  const visit = (v: string) => {
    index.set(v, i);
    low.set(v, i);
    i++;
    st.push(v);
    onStack.add(v);
    for (const e of edges(free.get(v)!)) {
      if (!free.has(e.to)) continue;
      if (!index.has(e.to)) {
        visit(e.to);
        low.set(v, Math.min(low.get(v)!, low.get(e.to)!));
      } else if (onStack.has(e.to)) low.set(v, Math.min(low.get(v)!, index.get(e.to)!));
    }
    if (low.get(v) === index.get(v)) {
      const comp: string[] = [];
      let w: string;
      do {
        w = st.pop()!;
        onStack.delete(w);
        comp.push(w);
      } while (w !== v);
      const self = comp.length === 1 && edges(free.get(v)!).some((e) => e.to === v);
      if (comp.length > 1 || self) out.push(comp.reverse());
    }
  };
  for (const id of free.keys()) if (!index.has(id)) visit(id);
  return out;
}

function allHoles(v: unknown): string[] {
  if (typeof v === 'string') return templateHoles(v);
  if (Array.isArray(v)) return v.flatMap(allHoles);
  if (v && typeof v === 'object') return Object.values(v).flatMap(allHoles);
  return [];
}

function splitPath(p: string): (string | number)[] {
  return p ? p.split(/[.[\]]+/).filter(Boolean).map((x) => (/^\d+$/.test(x) ? Number(x) : x)) : [];
}

function formatPath(p: (string | number)[]): string {
  return p.map((x, i) => (typeof x === 'number' ? `[${x}]` : i === 0 ? x : `.${x}`)).join('');
}

function stepIdAt(data: any, p: (string | number)[]): string | undefined {
  if (p[0] === 'steps' && typeof p[1] === 'number') {
    const id = data?.steps?.[p[1]]?.id;
    return typeof id === 'string' ? id : `#${p[1] + 1}`;
  }
  return undefined;
}

/** Line of the deepest existing node along the path (1-based). */
function nodeLine(doc: Document, lc: LineCounter, p: (string | number)[]): number | undefined {
  for (let n = p.length; n >= 0; n--) {
    const sub = p.slice(0, n);
    const node = (sub.length ? doc.getIn(sub, true) : doc.contents) as YNode | undefined;
    if (node && (node as any).range) {
      // For a map entry prefer the key's line (where the field is written).
      if (n > 0 && n === p.length) {
        const parent = (n > 1 ? doc.getIn(p.slice(0, n - 1), true) : doc.contents) as any;
        if (isMap(parent)) {
          const pair = (parent.items as any[]).find((it) => (it.key?.value ?? it.key) === p[n - 1]);
          if (pair?.key?.range) return lc.linePos(pair.key.range[0] as number).line;
        }
      }
      return lc.linePos((node as any).range[0] as number).line;
    }
  }
  return undefined;
}

/** Load every *.yaml / *.yml runbook in a folder. Throws one ValidationError with all files' problems. */
export function loadRunbooksDir(dir: string, actions: ActionCatalog): Map<string, Runbook> {
  const files = readdirSync(dir)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort()
    .map((f) => path.join(dir, f));
  return loadRunbookFiles(files, actions);
}

export function loadRunbookFiles(files: string[], actions: ActionCatalog): Map<string, Runbook> {
  const out = new Map<string, Runbook>();
  const issues: ValidationIssue[] = [];
  for (const f of files) {
    try {
      const rb = parseRunbook(readFileSync(f, 'utf8'), f, actions);
      const prev = out.get(rb.id);
      if (prev) issues.push({ file: f, line: 1, message: `runbook id '${rb.id}' is also used by ${prev.file}` });
      else out.set(rb.id, rb);
    } catch (e) {
      if (e instanceof ValidationError) issues.push(...e.issues);
      else issues.push({ file: f, message: (e as Error).message });
    }
  }
  if (issues.length) throw new ValidationError(issues);
  return out;
}
