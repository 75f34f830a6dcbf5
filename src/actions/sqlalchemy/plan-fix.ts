import { z } from 'zod';
import { defineAction } from '../../core/action.js';
import type { Json } from '../../core/types.js';
import { PermanentError } from '../../core/errors.js';
import { IN_CHECKOUT, checkoutDir, checkoutName } from '../lib/checkout.js';
import { aheadFor, dryRunRequest, runTools } from './lib/tool.js';
import { PY_IDENT, type FixKind, type FixResult } from './lib/types.js';

const FIX = z.enum(['A', 'B', 'C']);

/** What sqlalchemy.confirm's probe says failed (only the fields used here). */
const FAILURE = z.object({ property: z.string().nullish(), mapper: z.string().nullish(), file: z.string().nullish(), line: z.number().int().nullish(), declaredIn: z.string().nullish() }).passthrough();

interface Tied {
  class: string;
  attr: string;
  path?: unknown;
  line?: unknown;
  end_line?: unknown;
}

/**
 * The problems that explain the failure the check reproduced: named by the inspector's reading of the error
 * (`explained`), or the property SQLAlchemy was configuring when it raised (or the mixin declaring it), or the statement the failure points at
 * (file and line, e.g. a NameError at import). Nothing else ties a problem to the failure.
 */
export function tiedProblems<T extends Tied>(problems: T[], explained: string[] | null | undefined, failure: z.infer<typeof FAILURE> | null | undefined): { tied: T[]; how: string[] } {
  const how: string[] = [];
  const tied = problems.filter((x) => {
    const name = `${x.class}.${x.attr}`;
    if (explained?.includes(name)) return how.push(`${name}: the error names it`), true;
    if (failure?.property && failure.property === name) return how.push(`${name}: SQLAlchemy was configuring it when it raised`), true;
    // a property inherited from where it is written (a mixin's @declared_attr): same attribute, declared by that class
    const attr = failure?.property?.split('.')[1];
    if (attr && attr === x.attr && failure?.declaredIn && failure.declaredIn === x.class)
      return how.push(`${name}: SQLAlchemy was configuring ${failure.property}, declared by ${x.class}`), true;
    const line = typeof x.line === 'number' ? x.line : null;
    const end = typeof x.end_line === 'number' ? x.end_line : line;
    if (failure?.file && failure.line && x.path === failure.file && line !== null && end !== null && failure.line >= line && failure.line <= end)
      return how.push(`${name}: the failure points at ${failure.file}:${failure.line}`), true;
    return false;
  });
  return { tied, how };
}

/**
 * Every relationship a problem makes broken: the problem's own Class.attr, and for a relationship a mixin declares
 * (`@declared_attr`), the same attribute on every mapped class that inherits it (the tool's `mapped_as`): commenting
 * those out is fixing the broken relationship, not removing a working one.
 */
export function brokenNames(problems: { class: string; attr: string; mapped_as?: unknown }[]): string[] {
  const names = problems.flatMap((x) => [`${x.class}.${x.attr}`, ...(Array.isArray(x.mapped_as) ? x.mapped_as.filter((c): c is string => typeof c === 'string').map((c) => `${c}.${x.attr}`) : [])]);
  return [...new Set(names)].sort();
}

/**
 * Choose fix A (comment out every broken relationship), B (disable the whole model) or C (mechanical repairs)
 * by the runbook's policy: `auto` takes the first fix in `preference` that can be applied to this tree (each
 * is tried as a dry run); A/B/C forces one, falling back along `fallback` when it cannot apply.
 *
 * The invariant: a fix is chosen only when at least one problem the analysis found is tied to the failure the
 * check reproduced (tiedProblems); otherwise nothing is offered and the runbook escalates. needsPerson is set for
 * a problem only a person can solve (a model class nobody wrote), for B, and for a fix that removes working
 * relationships; sqlalchemy.preflight makes the final call on the real before/after mapped sets.
 */
export default defineAction({
  name: 'sqlalchemy.plan_fix',
  description: 'Choose fix A/B/C by policy, trying each as a dry run',
  sideEffects: false,
  changesCheckouts: 'none', // dry runs only: the tool writes nothing
  params: z.object({
    ...IN_CHECKOUT,
    mapper: z.string().regex(PY_IDENT).nullish(),
    problems: z.array(z.object({ kind: z.string(), class: z.string(), attr: z.string(), needs_person: z.boolean().optional() }).passthrough()).default([]),
    policy: z.enum(['auto', 'A', 'B', 'C']).default('auto'),
    preference: z.array(FIX).min(1).default(['C', 'A', 'B']),
    fallback: z.record(z.string(), FIX).default({ C: 'A', A: 'B' }),
    /** Problems the inspector found the reproduced error naming (sqlalchemy.inspect's `explained`). */
    explained: z.array(z.string()).nullish(),
    /** Where SQLAlchemy failed in the target's runtime (sqlalchemy.confirm's `failure`). */
    failure: FAILURE.nullish(),
  }),
  async run(p, ctx) {
    const dir = await checkoutDir(ctx, p);
    const broken = brokenNames(p.problems);
    const { tied, how } = tiedProblems(p.problems, p.explained, p.failure);
    if (tied.length === 0) {
      // "Nothing found" is never a reason to try a fix: no dry run, no option offered, a person is asked.
      const reason = p.problems.length
        ? `nothing the analysis found explains the reproduced failure (${p.failure?.property ? `SQLAlchemy failed on ${p.failure.property}` : 'no failing property named'}; found: ${broken.join(', ')}), so no fix is offered`
        : `the analysis found no broken relationship that explains the reproduced failure, so no fix is offered`;
      const none = { applicable: false, why: 'not offered: nothing found explains the failure' };
      ctx.logger.info({ fix: null, problems: p.problems.length }, reason);
      return { fix: null, explained: false, tied: [], needsPerson: true, reason, policy: p.policy, model: null, broken, sequence: [], fallback: {}, options: { A: none, B: none, C: none } } as unknown as Json;
    }
    const model = p.mapper ?? (new Set(p.problems.map((x) => x.class)).size === 1 ? p.problems[0]!.class : null);
    const options: Record<FixKind, { applicable: boolean; touched?: string[]; summary?: string[]; why?: string; leftoverUses?: Json; edits?: Json }> = {} as any;
    // The dry run of every fix: made ahead by sqlalchemy.confirm on this worker for this checkout (B there disables the
    // one class the problems are in: the same request when that is this model), else here, in one process.
    const kinds = ['A', 'B', 'C'] as const;
    const owners = [...new Set(p.problems.map((x) => x.class))];
    const ahead = aheadFor(ctx, checkoutName(ctx, dir))?.dryRuns;
    const usable = ahead && (model === null || (owners.length === 1 && owners[0] === model));
    const dry = usable
      ? kinds.map((f) => {
          const a = ahead[f];
          return a.ok ? { ok: true as const, value: a.value } : { ok: false as const, error: new PermanentError(a.error.message, a.error.code) };
        })
      : await runTools<FixResult>(ctx, kinds.map((fix) => dryRunRequest(dir, ctx.target.modelsDir, fix, model)));
    kinds.forEach((fix, i) => {
      const d = dry[i]!;
      if (!d.ok) {
        if (!d.error.code.startsWith('sqla_')) throw d.error;
        options[fix] = { applicable: false, why: d.error.message.replace(/^sqla_tool: /, '') };
        return;
      }
      const r = d.value;
      const leftovers = r.leftover_uses ?? [];
      options[fix] = leftovers.length
        ? { applicable: false, why: `disabling leaves ${leftovers.length} use(s) of ${model} in other modules`, touched: r.touched, summary: r.summary, leftoverUses: leftovers as unknown as Json }
        : { applicable: true, touched: r.touched, summary: r.summary, edits: r.edits as unknown as Json };
    });
    // Removing more than the broken relationships (A's mended counterparts), or a whole model (B), waits for a person.
    const removes = (f: FixKind) => ((options[f] as { edits?: { op?: string; class?: string; attr?: string }[] }).edits ?? []).filter((e) => e.op === 'comment_out').map((e) => `${e.class}.${e.attr}`).filter((n) => !broken.includes(n));
    const chain = (start: FixKind): FixKind[] => {
      const out: FixKind[] = [];
      for (let f: FixKind | undefined = start; f && !out.includes(f); f = p.fallback[f] as FixKind | undefined) out.push(f);
      return out;
    };
    let fix: FixKind | null = null;
    let reason: string;
    if (p.policy === 'auto') {
      fix = p.preference.find((f) => options[f].applicable) ?? null;
      reason = fix
        ? `policy auto: ${fix} is the first applicable of ${p.preference.join(' > ')}${p.preference.filter((f) => f !== fix && p.preference.indexOf(f) < p.preference.indexOf(fix!)).map((f) => ` (${f}: ${options[f].why})`).join('')}`
        : `policy auto: no fix applies (${(['A', 'B', 'C'] as const).map((f) => `${f}: ${options[f].why}`).join('; ')})`;
    } else {
      fix = chain(p.policy).find((f) => options[f].applicable) ?? null;
      reason = fix === p.policy ? `policy ${p.policy}` : fix ? `policy ${p.policy} cannot apply (${options[p.policy].why}); falling back to ${fix}` : `policy ${p.policy}: neither it nor its fallbacks apply`;
    }
    const sequence = fix ? chain(fix).filter((f) => options[f].applicable) : [];
    const missing = p.problems.some((x) => x.needs_person === true);
    const extra = fix ? removes(fix) : [];
    const needsPerson = missing || fix === 'B' || extra.length > 0;
    if (missing) reason += '; a person must write what is missing, so the fix is prepared and a person approves it';
    if (fix === 'B') reason += '; disabling a model removes mapped classes, so a person approves it whatever the policy';
    if (extra.length) reason += `; fix ${fix} also removes working relationships (${extra.join(', ')}), so a person approves it`;
    const fallback: Record<string, string> = {};
    for (let i = 0; i + 1 < sequence.length; i++) fallback[sequence[i]!] = sequence[i + 1]!;
    ctx.logger.info({ fix, needsPerson, sequence }, reason);
    for (const f of ['A', 'B', 'C'] as const) delete options[f].edits;
    return { fix, explained: true, tied: tied.map((x) => `${x.class}.${x.attr}`), tiedBy: how, needsPerson, reason, policy: p.policy, model, broken, sequence, fallback, options, dryRunsFrom: usable ? 'confirm' : 'plan' } as unknown as Json;
  },
});
