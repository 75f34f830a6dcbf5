/**
 * deploy.push — push the fix commit to the target's remote with simple-git. Never forces: a remote branch that
 * moved elsewhere makes the push fail (permanent), it is never overwritten.
 *
 * params
 *   checkout        the run's checkout holding the commit, by name (default `repo`, the run's clone); the
 *                   deprecated `dir` (an absolute path) is accepted for one release
 *   sha             the commit to push (40 hex)
 *   branch          remote branch to create/advance (default `runwright/<run id>`)
 *   toTargetBranch  push to the target's own branch (e.g. main) instead — only honoured when the runbook asks for
 *                   it AND the run carries an approval with decision `approved`; otherwise the run branch is used
 *                   and `note` says why
 * output
 *   { remote (credentials removed), branch, sha, pushed (false = the remote already had it), toTargetBranch, note? }
 */
import { z } from 'zod';
import { defineAction, type ActionContext } from '../../core/action.js';
import { PermanentError } from '../../core/errors.js';
import { SHA } from './lib/common.js';
import { IN_CHECKOUT, checkoutDir } from '../lib/checkout.js';
import { redactUrl } from '../git/redact.js';

const BRANCH = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._/-]{0,199}$/, 'a branch name: letters, digits, . _ / -')
  .refine((b) => !b.includes('..') && !b.includes('//') && !b.endsWith('/') && !b.endsWith('.') && !b.endsWith('.lock'), 'not a valid git branch name');

const params = z.object({
  ...IN_CHECKOUT,
  sha: SHA,
  branch: BRANCH.optional(),
  toTargetBranch: z.boolean().default(false),
});

function choose(p: z.infer<typeof params>, ctx: ActionContext): { branch: string; toTargetBranch: boolean; note?: string } {
  const runBranch = p.branch ?? `runwright/${ctx.run.id.replace(/[^A-Za-z0-9._-]/g, '-')}`;
  if (!p.toTargetBranch) return { branch: runBranch, toTargetBranch: false };
  if (ctx.approval?.decision === 'approved') return { branch: ctx.target.branch, toTargetBranch: true };
  return { branch: runBranch, toTargetBranch: false, note: `not pushed to ${ctx.target.branch}: the run has no approval` };
}

export default defineAction({
  name: 'deploy.push',
  description: "Push the fix commit to the target's remote (a run branch, or the target branch when approved); never forces",
  sideEffects: true,
  changesCheckouts: 'none', // pushes a commit; no working tree, index or HEAD changes
  params,
  async run(p, ctx) {
    const dir = await checkoutDir(ctx, p);
    const { branch, toTargetBranch, note } = choose(p, ctx);
    if (!BRANCH.safeParse(branch).success) throw new PermanentError(`cannot push to ${JSON.stringify(branch)}: not a valid branch name`, 'bad_branch');
    await ctx.progress(`pushing ${p.sha.slice(0, 12)} to ${branch}`);
    const r = await ctx.ports.git.push(dir, { branch, sha: p.sha });
    ctx.logger.info({ remote: redactUrl(r.remote), branch, sha: p.sha, pushed: r.pushed }, 'pushed');
    return { remote: redactUrl(r.remote), branch: r.branch, sha: r.sha, pushed: r.pushed, toTargetBranch, ...(note ? { note } : {}) };
  },
  async plan(p, ctx) {
    const { branch, toTargetBranch, note } = choose(p, ctx);
    return {
      description: `push ${p.sha.slice(0, 12)} to ${branch} on ${redactUrl(ctx.target.repo)} (no force)`,
      output: { remote: redactUrl(ctx.target.repo), branch, sha: p.sha, pushed: false, toTargetBranch, ...(note ? { note } : {}) },
    };
  },
});
