import { z } from 'zod';
import { defineAction } from '../../core/action.js';
import type { Json } from '../../core/types.js';
import { ownDir } from '../git/paths.js';
import { readSqlalchemyError } from './lib/error-text.js';
import { runCheck, worktreeAt } from './lib/tool.js';

/**
 * Pre-flight: run the target's check on the committed fix in a clean worktree of that commit (not the tree the
 * fix was made in). A failure is a finding, not an error: the output says which fix comes next (A → B, the
 * seed's Session 10 lesson) and the runbook decides; nothing is pushed from here.
 */
export default defineAction({
  name: 'sqlalchemy.preflight',
  description: "Run the target's check on the fixed commit in a clean worktree",
  sideEffects: false,
  params: z.object({
    dir: z.string().min(1),
    sha: z.string().regex(/^[0-9a-f]{40}$/),
    fix: z.enum(['A', 'B', 'C']),
    fallback: z.record(z.string(), z.enum(['A', 'B', 'C'])).default({}),
  }),
  async run(p, ctx) {
    const repo = ownDir(ctx, p.dir);
    const name = `preflight-${p.sha.slice(0, 12)}`;
    const wt = await worktreeAt(ctx, repo, p.sha, name);
    const status = await ctx.ports.git.status(wt);
    await ctx.progress(`pre-flight of fix ${p.fix} at ${p.sha.slice(0, 12)}`);
    const check = await runCheck(ctx, wt);
    await ctx.ports.git.removeWorktree(repo, wt);
    const reading = check.passed ? null : readSqlalchemyError(check.output);
    const next = check.passed ? undefined : p.fallback[p.fix];
    const summary = check.passed
      ? `fix ${p.fix} passes the check at ${p.sha.slice(0, 12)}`
      : `fix ${p.fix} still fails the check (${reading?.mapper?.class ?? 'mapper not named'}: ${reading?.cause?.kind ?? 'unreadable'})${next ? `; next: ${next}` : '; no fix left'}`;
    ctx.logger.info({ passed: check.passed, next }, summary);
    const out: Record<string, unknown> = { passed: check.passed, fix: p.fix, sha: p.sha, cleanWorktree: status.clean, summary, check, mapper: reading?.mapper ?? null, cause: reading?.cause ?? null };
    if (next) out.next = next; // absent (not null) when there is none: the runbook tests $exists(output.next)
    return out as Json;
  },
});
