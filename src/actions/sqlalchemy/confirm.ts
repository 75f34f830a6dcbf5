import { z } from 'zod';
import { defineAction } from '../../core/action.js';
import type { Json } from '../../core/types.js';
import { ownDir } from '../git/paths.js';
import { readSqlalchemyError } from './lib/error-text.js';
import { runCheck, worktreeAt } from './lib/tool.js';

/**
 * The repo, not the alert, is the truth: run the target's check (e.g. import the models and
 * configure_mappers()) in a clean worktree of the cloned head, and read what SQLAlchemy says there.
 */
export default defineAction({
  name: 'sqlalchemy.confirm',
  description: "Run the target's check in a clean checkout and read the real mapper error",
  sideEffects: false,
  params: z.object({
    dir: z.string().min(1),
    head: z.string().regex(/^[0-9a-f]{40}$/),
    alertMapper: z.string().nullish(),
  }),
  async run(p, ctx) {
    const repo = ownDir(ctx, p.dir);
    const wt = await worktreeAt(ctx, repo, p.head, `base-${p.head.slice(0, 12)}`);
    await ctx.progress(`running the check of ${ctx.target.name} at ${p.head.slice(0, 12)}`);
    const check = await runCheck(ctx, wt);
    const reading = check.passed ? null : readSqlalchemyError(check.output);
    const mapper = reading?.mapper ?? null;
    const agrees = check.passed ? null : !p.alertMapper || !mapper ? null : p.alertMapper === mapper.class;
    const summary = check.passed
      ? `the check passes at ${p.head.slice(0, 12)}: the repo is healthy`
      : `the check fails at ${p.head.slice(0, 12)}: ${reading?.readable ? `mapper ${mapper?.class ?? '(not named)'}, cause ${reading.cause?.kind ?? 'unknown'}` : 'not a mapper error it can read'}${agrees === false ? ` (the alert said ${p.alertMapper}; following the repo)` : ''}`;
    ctx.logger.info({ passed: check.passed, mapper: mapper?.class, agrees }, summary);
    return {
      healthy: check.passed,
      dir: wt,
      head: p.head,
      mapper,
      cause: reading?.cause ?? null,
      form: reading?.form ?? null,
      version: reading?.version ?? null,
      readable: reading?.readable ?? null,
      agreesWithAlert: agrees,
      summary,
      check,
    } as unknown as Json;
  },
});
