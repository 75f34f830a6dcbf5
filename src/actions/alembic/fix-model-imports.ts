import { z } from 'zod';
import { defineAction } from '../../core/action.js';
import { alembicSettings, diffOf, modelsRel, projectInfo, projectPaths, runTool } from './lib/common.js';
import { IN_CHECKOUT, checkoutDir } from '../lib/checkout.js';

/**
 * Autogenerate compares the database with target_metadata, which only holds tables whose model modules were
 * imported. Finds every module under the target's modelsDir that declares a table, follows env.py's imports
 * (packages' __init__ included) and imports the missing ones right where target_metadata is built.
 */
export default defineAction({
  name: 'alembic.fix_model_imports',
  description: 'Import every model module where env.py builds target_metadata',
  sideEffects: false, // edits the run's own scratch clone only
  params: z.object({ ...IN_CHECKOUT }),
  async run(p, ctx) {
    const s = alembicSettings(ctx);
    const paths = projectPaths(ctx, await checkoutDir(ctx, p), s);
    const info = await projectInfo(ctx, s, paths);
    const models = modelsRel(ctx, paths);
    await ctx.progress(`checking that ${paths.toRepo(info.envPy)} imports every model module`);
    const r = await runTool(ctx, s, 'imports-fix', { projectDir: paths.project, envPy: info.envPy, modelsDir: models, exclude: info.versionsDirs, roots: info.sysPathRoots, apply: true });
    const changedFiles: string[] = r.changedFiles.map(paths.toRepo);
    ctx.logger.info({ missing: r.missing, problems: r.problems }, 'model imports');
    return {
      envPy: paths.toRepo(info.envPy),
      modelsPackage: r.modelsPackage,
      modelModules: r.modelModules,
      missing: r.missing,
      targetMetadata: r.targetMetadata,
      problems: r.problems.length || changedFiles.length ? r.problems : [`every model module under ${ctx.target.modelsDir} is already imported where target_metadata is built: nothing to change`],
      fixed: r.problems.length === 0 && changedFiles.length > 0,
      changedFiles,
      diff: await diffOf(ctx, paths.repo, changedFiles),
    };
  },
});
