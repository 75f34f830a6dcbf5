import { z } from 'zod';
import { defineAction } from '../../core/action.js';
import { PermanentError } from '../../core/errors.js';
import { IN_CHECKOUT, checkoutDir } from '../lib/checkout.js';
import { redactUrl } from './redact.js';

/**
 * Push one commit to the target's branch on its origin. Never forces: a remote that moved on is a refusal,
 * not something to overwrite. Re-run safe: a branch already at that commit is success (pushed: false).
 */
export default defineAction({
  name: 'git.push',
  description: "Push a commit to the target's branch (fast-forward only)",
  sideEffects: true,
  changesCheckouts: 'none', // pushes a commit; no working tree, index or HEAD changes
  params: z.object({
    ...IN_CHECKOUT,
    sha: z.string().regex(/^[0-9a-f]{40}$/),
    branch: z.string().regex(/^[A-Za-z0-9._\/-]{1,200}$/).optional(),
  }),
  async plan(p, ctx) {
    const branch = p.branch ?? ctx.target.branch;
    return { description: `push ${p.sha.slice(0, 12)} to ${branch} of ${redactUrl(ctx.target.repo)} (fast-forward only)`, output: { sha: p.sha, branch, pushed: false } };
  },
  async run(p, ctx) {
    const branch = p.branch ?? ctx.target.branch;
    if (branch.includes('..') || branch.startsWith('-')) throw new PermanentError(`bad branch name ${JSON.stringify(branch)}`, 'bad_branch');
    const dir = await checkoutDir(ctx, p);
    await ctx.progress(`pushing ${p.sha.slice(0, 12)} to ${branch}`);
    const r = await ctx.ports.git.push(dir, { branch, sha: p.sha });
    ctx.logger.info({ branch, sha: p.sha, pushed: r.pushed }, 'pushed');
    return { remote: redactUrl(r.remote), branch: r.branch, sha: r.sha, pushed: r.pushed };
  },
});
