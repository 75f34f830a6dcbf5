import { z } from 'zod';
import { defineAction } from '../../core/action.js';
import type { Json } from '../../core/types.js';
import { IN_CHECKOUT, checkoutDir } from '../lib/checkout.js';
import { readSqlalchemyError } from './lib/error-text.js';
import { localisation, lostNames, runCheckAndProbe, type Mapped } from './lib/probe.js';
import { worktreeAt } from './lib/tool.js';

const MAPPED = z.object({ classes: z.array(z.string()), relationships: z.array(z.string()), declaredIn: z.record(z.string(), z.string()).default({}), complete: z.boolean().default(true) });
const EDIT = z.object({ op: z.string().optional(), class: z.string().optional(), attr: z.string().optional() }).passthrough();

export interface LossVerdict {
  lost: { classes: string[]; relationships: string[] };
  /** Lost and not meant by the fix: the fix is refused. */
  unexpected: string[];
  /** Lost and not shown broken by the reproduced failure (a class, or a relationship not tied to it): a person approves. */
  working: string[];
}

/**
 * Compare what was mapped at the base (before) with the fixed commit (after). `broken` are the relationships the
 * analysis found broken (losing them is the point); `meant` is what the fix says it removes (commented-out
 * relationships, disabled classes and their relationships); `tied` are the broken ones the reproduced failure
 * proves broken (default: all of `broken`) — losing any other needs a person, since only the analysis says so.
 */
export function judgeLoss(before: Mapped, after: Mapped, broken: string[], meant: { relationships: string[]; classes: string[] }, tied: string[] = broken): LossVerdict {
  const lost = lostNames(before, after);
  // an inherited relationship is named by its mapped class and by the class that declares it (a mixin): either counts
  const names = (r: string) => [r, before.declaredIn?.[r] ? `${before.declaredIn[r]}.${r.split('.')[1]}` : r];
  const meantRel = new Set([...meant.relationships, ...broken]);
  const meantCls = new Set(meant.classes);
  const ofMeantClass = (r: string) => meantCls.has(r.split('.')[0]!);
  const unexpected = [...lost.classes.filter((c) => !meantCls.has(c)), ...lost.relationships.filter((r) => !names(r).some((n) => meantRel.has(n)) && !ofMeantClass(r))];
  const brokenSet = new Set(tied);
  const working = [...lost.classes, ...lost.relationships.filter((r) => !names(r).some((n) => brokenSet.has(n)))];
  return { lost, unexpected, working };
}

/** Why a person must approve before the push (null: the fix may land unasked). */
export function approvalReason(o: { fix: string; needsPerson: boolean; requireApproval: boolean; working: string[]; before: Mapped | null | undefined; removesUnbroken: string[] }): string | null {
  const why: string[] = [];
  if (o.fix === 'B') why.push('fix B disables a model');
  if (o.working.length) why.push(`it removes what was working: ${o.working.join(', ')}`);
  if (!o.before) why.push('what was mapped before could not be listed, so nothing proves the fix keeps every working class and relationship');
  else if (!o.before.complete && o.removesUnbroken.length) why.push(`the models did not import before, and the fix removes ${o.removesUnbroken.join(', ')}`);
  if (o.needsPerson) why.push('the analysis says a person must write what is missing');
  if (o.requireApproval) why.push('the runbook asks for approval before every push');
  return why.length ? why.join('; ') : null;
}

/**
 * Pre-flight: run the target's check on the committed fix in a clean worktree of that commit (not the tree the fix
 * was made in), then the runtime probe there, and compare the mapped classes and relationships with the base's. A
 * fix passes only when the check passes AND it lost nothing it did not mean to. A failure is a finding, not an
 * error: the output says which fix comes next (A → B, the seed's Session 10 lesson) and the runbook decides.
 * It also decides whether a person approves before the push (needsApproval): B and anything that removes a
 * working class or relationship always, whatever the policy.
 */
export default defineAction({
  name: 'sqlalchemy.preflight',
  description: "Run the target's check and the runtime probe on the fixed commit in a clean worktree",
  sideEffects: false,
  params: z.object({
    ...IN_CHECKOUT,
    sha: z.string().regex(/^[0-9a-f]{40}$/),
    fix: z.enum(['A', 'B', 'C']),
    fallback: z.record(z.string(), z.enum(['A', 'B', 'C'])).default({}),
    /** What was mapped at the base (sqlalchemy.confirm's `mapped`). */
    before: MAPPED.nullish(),
    /** The relationships the analysis found broken (sqlalchemy.plan_fix's `broken`). */
    broken: z.array(z.string()).default([]),
    /** The broken relationships tied to the reproduced failure (sqlalchemy.plan_fix's `tied`); default: all broken. */
    tied: z.array(z.string()).nullish(),
    /** What the fix did (sqlalchemy.apply_fix's `edits` and `disabled`). */
    edits: z.array(EDIT).default([]),
    disabled: z.array(z.string()).nullish(),
    needsPerson: z.boolean().default(false),
    requireApproval: z.boolean().default(false),
  }),
  async run(p, ctx) {
    const repo = await checkoutDir(ctx, p);
    // Always a fresh worktree of the commit, this execution's own: clean by construction, so no status is asked
    // before the check.
    const wt = await worktreeAt(ctx, repo, p.sha, `preflight-${p.sha.slice(0, 12)}`);
    await ctx.progress(`pre-flight of fix ${p.fix} at ${p.sha.slice(0, 12)}`);
    let check, probed;
    try {
      ({ check, probed } = await runCheckAndProbe(ctx, wt, { onlyIfPassed: true })); // a failing fix is judged by the check alone
    } finally {
      await ctx.ports.git.removeWorktree(repo, wt);
    }
    const reading = check.passed ? null : readSqlalchemyError(check.output);
    const after = probed?.ok ? probed.probe.mapped : null;
    const meant = {
      relationships: p.edits.filter((e) => e.op === 'comment_out' && e.class && e.attr).map((e) => `${e.class}.${e.attr}`),
      classes: p.disabled ?? [],
    };
    const tied = p.tied ?? p.broken;
    const loss = p.before && after ? judgeLoss(p.before, after, p.broken, meant, tied) : null;
    const afterFailure = probed?.ok ? probed.probe.failure : null;
    // The check passing is necessary, not sufficient: the probe must configure, and nothing unmeant may be lost.
    let refusal: string | null = null;
    if (check.passed && probed && !probed.ok) refusal = `the probe could not list what is mapped after the fix (${probed.error})`;
    else if (check.passed && afterFailure) refusal = `the check passes but the models do not configure: ${localisation(afterFailure)}`;
    else if (loss?.unexpected.length) refusal = `fix ${p.fix} lost what it did not mean to: ${loss.unexpected.join(', ')}`;
    const passed = check.passed && !refusal;
    const next = passed ? undefined : p.fallback[p.fix];
    const removesUnbroken = meant.relationships.filter((r) => !tied.includes(r));
    const why = passed ? approvalReason({ fix: p.fix, needsPerson: p.needsPerson, requireApproval: p.requireApproval, working: loss?.working ?? removesUnbroken, before: p.before, removesUnbroken }) : null;
    const summary = passed
      ? `fix ${p.fix} passes the check at ${p.sha.slice(0, 12)} and keeps every working class and relationship${loss?.lost.relationships.length || loss?.lost.classes.length ? ` (removed: ${[...loss.lost.classes, ...loss.lost.relationships].join(', ')})` : ''}`
      : `fix ${p.fix} ${refusal ?? `still fails the check (${reading?.mapper?.class ?? 'mapper not named'}: ${reading?.cause?.kind ?? 'unreadable'})`}${next ? `; next: ${next}` : '; no fix left'}`;
    ctx.logger.info({ passed: check.passed, refused: !!refusal, next, needsApproval: !!why }, summary);
    const out: Record<string, unknown> = {
      passed,
      checkPassed: check.passed,
      fix: p.fix,
      sha: p.sha,
      cleanWorktree: true,
      summary,
      check,
      mapper: reading?.mapper ?? null,
      cause: reading?.cause ?? null,
      mapped: after,
      lost: loss ? [...loss.lost.classes, ...loss.lost.relationships] : null,
      unexpectedLoss: loss?.unexpected ?? null,
      needsApproval: !!why,
      approvalReason: why,
    };
    if (next) out.next = next; // absent (not null) when there is none: the runbook tests $exists(output.next)
    return out as Json;
  },
});
