import { z } from 'zod';
import { defineAction } from '../../core/action.js';
import type { Json } from '../../core/types.js';

const STEP = z.object({ status: z.string().optional(), output: z.any().optional(), error: z.object({ message: z.string().optional(), code: z.string().optional() }).passthrough().nullish() }).passthrough();

/** The steps of runbooks/sqlalchemy-mapper-failure.yaml whose failure is worth naming, in run order. */
const STEP_ORDER = ['identify', 'checkout', 'confirm', 'inspect', 'plan', 'apply', 'commit', 'preflight', 'prepare_branch', 'push'] as const;

const FAILED: Record<string, string> = { apply: 'Fix could not be applied', push: 'Push refused', prepare_branch: 'The review branch could not be pushed' };

type Steps = Record<string, z.infer<typeof STEP> | undefined>;
type Approval = { decision?: string; actor?: string; comment?: string | null; choice?: string | null } | null | undefined;

function clip(s: unknown, n = 400): string {
  const t = typeof s === 'string' ? s.replace(/\s+/g, ' ').trim() : '';
  return t.length > n ? `${t.slice(0, n)}…` : t;
}

/**
 * What a person needs to read when the runbook stops: why (refused alert, unexplained failure, a fix that failed
 * pre-flight, a rejection, an error), what the check printed (its error line), where SQLAlchemy failed (mapper,
 * property, exception, file:line from the runtime probe), what was inspected and what was found, and that nothing
 * was pushed to the target branch.
 */
export function escalationText(target: { name: string; branch: string }, steps: Steps, approval: Approval): string {
  const out = (id: string): any => steps[id]?.output ?? null;
  const parts: string[] = [`Needs a person (${target.name}):`];
  const id = out('identify');
  if (id?.route === 'refused') parts.push(`The alert's names were all refused as unsafe: ${clip(id.why)}.`);
  const cf = out('confirm');
  if (cf) {
    if (cf.healthy === true) parts.push(`The check passes at ${String(cf.head ?? '').slice(0, 12)}: the repo looks healthy, but the alert cannot be trusted.`);
    else {
      if (cf.localisation) parts.push(`${cf.failure?.phase === 'import' ? 'The models fail to import at' : 'SQLAlchemy fails configuring'} ${clip(cf.localisation, 300)}.`);
      else parts.push(`${clip(cf.summary, 600)}.`);
      if (cf.checkSaid) parts.push(`The check printed: "${clip(cf.checkSaid)}".`);
    }
  }
  const ins = out('inspect');
  if (ins) {
    const mods = Array.isArray(ins.modules) ? ins.modules.length : 0;
    const rels = (Array.isArray(ins.relationships) ? ins.relationships.length : 0) + (typeof ins.otherRelationships === 'number' ? ins.otherRelationships : 0);
    const found = Array.isArray(ins.summary) ? ins.summary.slice(0, 6).map((s: unknown) => clip(s, 200)).join('; ') : '';
    parts.push(`Inspected ${mods} module(s) of ${clip(ins.package?.import_name ?? ins.package?.dir ?? 'the models package', 100)} and ${rels} relationship(s): ${found || 'nothing found'}.`);
  }
  const plan = out('plan');
  if (plan?.reason) parts.push(`${clip(plan.reason, 600)}.`);
  const pf = out('preflight');
  if (pf && pf.passed === false) parts.push(`Pre-flight failed: ${clip(pf.summary, 600)}.`);
  for (const s of STEP_ORDER) {
    const st = steps[s];
    if (st?.status === 'failed' && st.error?.message) parts.push(`${FAILED[s] ?? `${s} failed`}: ${clip(st.error.message)}.`);
  }
  if (approval?.decision === 'rejected') parts.push(`Rejected by ${clip(approval.actor, 100) || 'someone'}${approval.comment ? ` (${clip(approval.comment, 200)})` : ''}.`);
  const review = out('prepare_branch');
  parts.push(`Nothing pushed to ${target.branch}${review?.branch ? `; the prepared fix stays on ${clip(review.branch, 200)} for review` : ''}.`);
  // one sentence each: capitalised, one full stop
  return parts.map((x) => (x[0]!.toUpperCase() + x.slice(1)).replace(/([.:])\.$/, '$1').replace(/:\.$/, '.')).join(' ');
}

/** The escalation outcome of the SQLAlchemy runbook, written from what the steps recorded (see escalationText). */
export default defineAction({
  name: 'sqlalchemy.escalation',
  description: 'Write the escalation text: why the run stopped, what the check printed, what was inspected',
  sideEffects: false,
  params: z.object({
    steps: z.record(z.string(), STEP.nullish()).default({}),
    approval: z.object({ decision: z.string().optional(), actor: z.string().optional(), comment: z.string().nullish(), choice: z.string().nullish() }).passthrough().nullish(),
  }),
  async run(p, ctx) {
    const text = escalationText({ name: ctx.target.name, branch: ctx.target.branch }, p.steps as Steps, p.approval);
    ctx.logger.info({ chars: text.length }, 'escalation');
    return { text } as unknown as Json;
  },
});
