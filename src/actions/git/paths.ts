import path from 'node:path';
import type { ActionContext } from '../../core/action.js';
import { PermanentError } from '../../core/errors.js';
import { resolveInside } from '../../core/safe-path.js';
import { runRelative } from '../../core/workspace.js';

/**
 * A directory the run owns (its clone or a worktree below ctx.workdir); anything else is refused. A path an
 * earlier step wrote on another machine names the same place in this machine's run folder (the engine's
 * workspace has already brought that checkout here at the run's recorded state before the step began).
 */
export function ownDir(ctx: ActionContext, dir: string): string {
  const rel = runRelative(ctx.run.id, ctx.workdir, dir);
  if (!rel || rel.startsWith('..')) throw new PermanentError(`refusing to work outside the run's workdir: ${dir}`, 'not_own_dir');
  return resolveInside(ctx.workdir, rel);
}

/** File names from a `git diff -M` patch (both sides of a rename). */
export function changedFiles(diff: string): string[] {
  const out = new Set<string>();
  for (const line of diff.split('\n')) {
    if (line.startsWith('rename from ')) out.add(line.slice('rename from '.length));
    else if (line.startsWith('rename to ')) out.add(line.slice('rename to '.length));
    else if (line.startsWith('--- a/')) out.add(line.slice(6));
    else if (line.startsWith('+++ b/')) out.add(line.slice(6));
  }
  return [...out].sort();
}
