import { z } from 'zod';
import { defineAction } from '../../core/action.js';
import { alembicSettings, diffOf, projectInfo, projectPaths, runTool } from './lib/common.js';
import { IN_CHECKOUT, checkoutDir } from '../lib/checkout.js';

/**
 * Make alembic/env.py run migrations on a driver that fits its engine. `sync` (default when the app is not
 * async throughout, or when a sync driver is installed): the async engine becomes engine_from_config() on the
 * sync form of the URL (postgresql+asyncpg:// → postgresql+psycopg2://), `asyncio.run(...)` a direct call.
 * `async` (auto when the app is async throughout and an async driver + greenlet import): keep the
 * connection.run_sync() recipe and give the engine the async form of the URL. Offline mode is left as it is.
 * What it cannot rewrite safely is returned in `problems` (nothing written).
 */
/** Which way the driver mismatch went, in words for the commit message. */
function direction(a: { asyncEngine: boolean; engineCalls: { func: string }[] }): string {
  return a.asyncEngine
    ? 'an async engine (async_engine_from_config / create_async_engine / AsyncEngine) was given a sync driver URL'
    : 'a sync engine (engine_from_config / create_engine) was given an async driver URL';
}

export default defineAction({
  name: 'alembic.fix_async_env',
  description: 'Fix the async/sync driver mismatch in alembic/env.py (sync engine on the sync URL, or the run_sync recipe)',
  sideEffects: false, // edits the run's own scratch clone only
  params: z.object({ ...IN_CHECKOUT, mode: z.enum(['auto', 'sync', 'async']).default('auto') }),
  async run(p, ctx) {
    const s = alembicSettings(ctx);
    const paths = projectPaths(ctx, await checkoutDir(ctx, p), s);
    const info = await projectInfo(ctx, s, paths);
    await ctx.progress(`checking ${paths.toRepo(info.envPy)} for an engine/driver mismatch`);
    const r = await runTool(ctx, s, 'env-fix', { projectDir: paths.project, envPy: info.envPy, mode: p.mode, exclude: [info.scriptLocation], apply: true });
    const changedFiles: string[] = r.changedFiles.map(paths.toRepo);
    ctx.logger.info({ mode: r.mode, changed: changedFiles.length, problems: r.problems.length }, 'env.py');
    return {
      envPy: paths.toRepo(info.envPy),
      mode: r.mode,
      requestedMode: r.requestedMode,
      analysis: r.analysis,
      problems: r.problems.length || changedFiles.length ? r.problems : [`${paths.toRepo(info.envPy)} already builds its engine for the driver its URL names (mode ${r.mode}): nothing to change, so this is not the cause`],
      // an action that changed nothing fixed nothing
      fixed: r.problems.length === 0 && changedFiles.length > 0,
      changed: changedFiles.length > 0,
      direction: direction(r.analysis),
      changedFiles,
      edits: r.changes.flatMap((c: any) => c.edits),
      offlineMode: r.offlineMode,
      diff: await diffOf(ctx, paths.repo, [paths.toRepo(info.envPy)]),
    };
  },
});
