// How an action that works in a checkout names it: by the run-relative checkout name (`checkout`), never by a path.
// Steps exchange commits and names, not a worker's disk: ctx.checkout brings the named checkout to whichever
// worker runs the step. `dir` (an absolute path an earlier step wrote) is still accepted for one release, with a
// deprecation warning from `runwright validate` (the loader reads the `deprecated` mark of the param).
import { randomBytes } from 'node:crypto';
import { existsSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import type { ActionContext } from '../../core/action.js';
import { PermanentError } from '../../core/errors.js';
import { resolveInside } from '../../core/safe-path.js';
import { MAIN_CHECKOUT, checkoutNameProblem } from '../../core/workspace.js';
import { ownDir } from '../git/paths.js';

export const CHECKOUT = z
  .string()
  .superRefine((v, c) => {
    const bad = checkoutNameProblem(v);
    if (bad) c.addIssue({ code: 'custom', message: bad });
  })
  .describe(`the run's checkout to work in, by its run-relative name: \`${MAIN_CHECKOUT}\` (the run's clone, the default) or a worktree an earlier step made (its \`output.checkout\`, e.g. \`wt/fix-A-v1\`)`);

/** Deprecated: an absolute path to the checkout (an earlier step's `output.dir`). Accepted for one release. */
export const DEPRECATED_DIR = z
  .string()
  .min(1)
  .meta({ deprecated: true, description: 'an absolute path to the checkout (an earlier step\'s `output.dir`), accepted for one release; name the checkout instead: leave it out for the run\'s clone, or `checkout: "{{ steps.<step>.output.checkout }}"` for a worktree an earlier step made' });

/** The params of an action that works in one of the run's checkouts. */
export const IN_CHECKOUT = { checkout: CHECKOUT.optional(), dir: DEPRECATED_DIR.optional() };

/** The absolute path, on this machine, of the checkout a step's params name (`checkout`, else the deprecated `dir`, else the run's clone). */
export async function checkoutDir(ctx: ActionContext, p: { checkout?: string; dir?: string }): Promise<string> {
  if (p.checkout !== undefined && p.dir !== undefined) throw new PermanentError('give checkout or the deprecated dir, not both', 'bad_params');
  if (p.dir !== undefined) {
    ctx.logger.warn({ dir: p.dir }, "param 'dir' is deprecated: name the checkout instead (checkout: repo, or an earlier step's output.checkout)");
    return ownDir(ctx, p.dir);
  }
  const name = p.checkout ?? MAIN_CHECKOUT;
  const dir = await ctx.checkout(name);
  if (!existsSync(path.join(dir, '.git'))) throw new PermanentError(`the run has no checkout ${JSON.stringify(name)} yet (a git.checkout step makes ${MAIN_CHECKOUT})`, 'no_checkout', { checkout: name });
  return dir;
}

/** The run-relative name of a checkout at `abs` (below ctx.workdir), for a step's output.checkout. */
export function checkoutName(ctx: ActionContext, abs: string): string {
  const rel = path.relative(realpathSync(ctx.workdir), realpathSync(abs));
  if (!rel || rel.startsWith('..') || path.isAbsolute(rel)) throw new PermanentError(`checkout ${abs} is not in the run's folder`, 'not_own_dir');
  return rel.split(path.sep).join('/');
}

/**
 * `<workdir>/wt/<name>-<8 hex>`: a worktree path no other execution uses. A step BullMQ re-delivers while its first
 * delivery still runs (that worker's lock lost on a stalled event loop) must never share a tree with it.
 */
export function scratchWorktree(ctx: ActionContext, name: string): string {
  return resolveInside(ctx.workdir, path.join('wt', `${name}-${randomBytes(4).toString('hex')}`));
}
