import { z } from 'zod';
import { defineAction } from '../../core/action.js';
import { PermanentError } from '../../core/errors.js';
import { resolveInside } from '../../core/safe-path.js';
import { changedFiles } from './paths.js';
import { IN_CHECKOUT, checkoutDir } from '../lib/checkout.js';

/**
 * Commit exactly the paths a fix touched (additions, edits, deletions, renames) in the run's own worktree, with
 * the seed's message shape: a subject naming the fix, why, and a `Fixes:` line. Re-run safe: the commit
 * carries the step's idempotency key, and a commit with that key at HEAD is returned instead of a second one.
 * Local to runwright's scratch clone; publishing it is git.push's job.
 */
export default defineAction({
  name: 'git.commit',
  description: 'Commit exactly the given paths with subject, why and Fixes line',
  sideEffects: false,
  params: z.object({
    ...IN_CHECKOUT,
    paths: z.array(z.string().min(1)).min(1).max(500),
    subject: z.string().min(1).max(200),
    body: z.string().max(20_000).default(''),
    fixes: z.string().min(1).max(500),
    base: z.string().regex(/^[0-9a-f]{7,64}$/).optional(),
  }),
  async run(p, ctx) {
    const dir = await checkoutDir(ctx, p);
    for (const rel of p.paths) resolveInside(dir, rel);
    const subject = p.subject.replace(/[\r\n]+/g, ' ').trim();
    const message = [subject, '', p.body.trim(), '', `Fixes: ${p.fixes.replace(/[\r\n]+/g, ' ').trim()}`].filter((x, i, a) => !(x === '' && a[i - 1] === '')).join('\n');
    const { sha, created, status: after } = await ctx.ports.git.commit(dir, { paths: p.paths, message, key: ctx.idempotencyKey });
    const base = p.base ?? null;
    // What the commit changed and what it left uncommitted: two independent reads, side by side.
    const [diff, status] = await Promise.all([base ? ctx.ports.git.diff(dir, { from: base, to: sha }) : '', after ?? ctx.ports.git.status(dir)]);
    const files = base ? changedFiles(diff) : [];
    const allowed = new Set(p.paths);
    const extra = files.filter((f) => !allowed.has(f));
    if (extra.length) throw new PermanentError(`commit ${sha} touches files it was not asked to: ${extra.join(', ')}`, 'commit_scope', { extra });
    ctx.logger.info({ sha, created, files }, 'committed');
    return { sha, created, base, subject, message, files, clean: status.clean, leftover: status.files, diff: diff.length > 60_000 ? diff.slice(0, 60_000) + '\n[diff truncated]\n' : diff };
  },
});
