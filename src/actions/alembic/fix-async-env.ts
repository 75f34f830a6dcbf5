import { z } from 'zod';
import { defineAction } from '../../core/action.js';
import { alembicSettings, diffOf, projectInfo, projectPaths, runTool } from './lib/common.js';

/**
 * Make alembic/env.py run migrations on a driver that fits its engine. `sync` (default when the app is not
 * async throughout, or when a sync driver is installed): the async engine becomes engine_from_config() on the
 * sync form of the URL (postgresql+asyncpg:// → postgresql+psycopg2://), `asyncio.run(...)` a direct call.
 * `async` (auto when the app is async throughout and an async driver + greenlet import): keep the
 * connection.run_sync() recipe and give the engine the async form of the URL. Offline mode is left as it is.
 * What it cannot rewrite safely is returned in `problems` (nothing written).
 */
export default defineAction({
  name: 'alembic.fix_async_env',
  description: 'Fix the async/sync driver mismatch in alembic/env.py (sync engine on the sync URL, or the run_sync recipe)',
  sideEffects: false, // edits the run's own scratch clone only
  params: z.object({ dir: z.string().min(1), mode: z.enum(['auto', 'sync', 'async']).default('auto') }),
  async run(p, ctx) {
    const s = alembicSettings(ctx);
    const paths = projectPaths(ctx, p.dir, s);
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
      problems: r.problems,
      fixed: r.problems.length === 0,
      changed: changedFiles.length > 0,
      changedFiles,
      edits: r.changes.flatMap((c: any) => c.edits),
      offlineMode: r.offlineMode,
      diff: await diffOf(ctx, paths.repo, [paths.toRepo(info.envPy)]),
    };
  },
});
