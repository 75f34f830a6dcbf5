import { existsSync, rmSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { defineAction } from '../../core/action.js';
import { resolveInside } from '../../core/safe-path.js';
import { redactUrl } from './redact.js';

/**
 * A fresh clone of the target's repo at its branch under the run's own workdir (never anyone's working copy).
 * Re-run safe: a clone already there is reused as it is.
 */
export default defineAction({
  name: 'git.checkout',
  description: "Clone the target's repository at its branch into the run's workdir",
  sideEffects: false,
  changesCheckouts: 'none', // a fresh clone, at the head the clone reported
  params: z.object({ name: z.string().regex(/^[A-Za-z0-9_-]{1,40}$/).default('repo').describe("the clone's checkout name in the run's folder (what later steps pass as `checkout`)") }),
  async run(p, ctx) {
    const dir = resolveInside(ctx.workdir, p.name);
    // At-least-once: an earlier delivery may have died mid-clone. Our own scratch folder: start it over.
    if (existsSync(dir)) {
      const usable = existsSync(path.join(dir, '.git')) && (await ctx.ports.git.status(dir).then(() => true, () => false));
      if (!usable) {
        ctx.logger.warn({ dir }, 'removing an unfinished clone from an earlier attempt');
        rmSync(dir, { recursive: true, force: true });
      }
    }
    await ctx.progress(`cloning ${ctx.target.name} (${ctx.target.branch})`);
    const { head } = await ctx.ports.git.clone(ctx.target, dir, { signal: ctx.signal });
    ctx.logger.info({ dir, head }, 'checked out');
    // `dir` (this worker's path) is kept for one release for runbooks that still pass it on; name `checkout` instead.
    return { checkout: p.name, head, branch: ctx.target.branch, repo: redactUrl(ctx.target.repo), dir };
  },
});
