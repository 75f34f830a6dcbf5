import { z } from 'zod';
import { defineAction } from '../../core/action.js';
import { PermanentError } from '../../core/errors.js';
import type { Json } from '../../core/types.js';
import { IN_CHECKOUT, checkoutDir, checkoutName } from '../lib/checkout.js';
import { runTool, worktreeAt } from './lib/tool.js';
import { PY_IDENT, type FixResult, type Problem } from './lib/types.js';
import { commitText } from './lib/message.js';

/**
 * Apply fix A, B or C in a fresh worktree of the base commit under the run's workdir (re-run safe: the
 * worktree is made anew each time, so a re-delivery gives the same tree). Edits are precise text edits at ast
 * positions made by python/sqla_tool.py; every touched path is inside the models folder.
 */
export default defineAction({
  name: 'sqlalchemy.apply_fix',
  description: 'Apply fix A/B/C to a fresh worktree of the base commit',
  sideEffects: false,
  params: z.object({
    ...IN_CHECKOUT,
    base: z.string().regex(/^[0-9a-f]{40}$/),
    fix: z.enum(['A', 'B', 'C']),
    model: z.string().regex(PY_IDENT).nullish(),
    cause: z.string().max(500).nullish(),
  }),
  async run(p, ctx) {
    const repo = await checkoutDir(ctx, p);
    const wt = await worktreeAt(ctx, repo, p.base, `fix-${p.fix}-v${ctx.step.visit}`);
    await ctx.progress(`applying fix ${p.fix}`);
    const r = await runTool<FixResult>(ctx, { cmd: 'fix', fix: p.fix, root: wt, models_dir: ctx.target.modelsDir, model: p.model ?? undefined, reason: p.cause ?? undefined });
    const models = ctx.target.modelsDir.replace(/\/+$/, '');
    const outside = r.touched.filter((t) => !t.startsWith(models + '/'));
    if (outside.length) throw new PermanentError(`fix ${p.fix} touched files outside ${models}: ${outside.join(', ')}`, 'fix_scope');
    const [status, diff] = await Promise.all([ctx.ports.git.status(wt), ctx.ports.git.diff(wt)]);
    const unexpected = status.files.filter((f) => !r.touched.includes(f) && !r.touched.some((t) => f.endsWith('/') && t.startsWith(f)));
    if (unexpected.length) throw new PermanentError(`fix ${p.fix} changed files it did not report: ${unexpected.join(', ')}`, 'fix_scope');
    const text = commitText(p.fix, r, p.model ?? null, r.problems as Problem[]);
    ctx.logger.info({ fix: p.fix, touched: r.touched }, text.subject);
    return {
      fix: p.fix,
      checkout: checkoutName(ctx, wt),
      dir: wt, // deprecated (one release): this worker's path; later steps name `checkout`
      base: p.base,
      touched: r.touched,
      summary: r.summary,
      edits: r.edits,
      disabled: r.disabled ?? null,
      renamed: r.renamed,
      subject: text.subject,
      body: text.body,
      diff,
    } as unknown as Json;
  },
});
