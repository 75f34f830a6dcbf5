import { z } from 'zod';
import { defineAction } from '../../core/action.js';
import { alembicSettings, diffOf, projectInfo, projectPaths, runTool } from './lib/common.js';
import { IN_CHECKOUT, checkoutDir } from '../lib/checkout.js';

/**
 * Rename declarative attributes SQLAlchemy reserves (`metadata`; `registry` on 2.x) while keeping the database
 * column: `tenant_metadata = Column("metadata", JSONB, ...)`, so no schema change follows. Updates the uses it
 * can resolve (class attribute access, `Tenant(metadata=...)`, `filter_by`, instances that are clearly the model,
 * @validates, "Tenant.metadata" strings, getattr) across the alembic project folder, migrations excluded, and
 * lists what it could not resolve. Works only in the run's own clone. Re-run safe: a second pass finds nothing.
 */
export default defineAction({
  name: 'alembic.fix_reserved_attr',
  description: 'Rename reserved declarative attributes (metadata, registry on 2.x) keeping the column name; update the uses',
  sideEffects: false, // edits the run's own scratch clone only
  params: z.object({
    ...IN_CHECKOUT,
    /** Optional explicit names: {"Tenant.metadata": "tenant_metadata"}. */
    rename: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_]*$/), z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/)).optional(),
  }),
  async run(p, ctx) {
    const s = alembicSettings(ctx);
    const paths = projectPaths(ctx, await checkoutDir(ctx, p), s);
    const info = await projectInfo(ctx, s, paths);
    await ctx.progress('looking for reserved declarative attribute names');
    const r = await runTool(ctx, s, 'reserved-fix', { root: paths.project, exclude: info.versionsDirs, roots: info.sysPathRoots, rename: p.rename ?? {}, apply: true });
    const changedFiles: string[] = r.changedFiles.map(paths.toRepo);
    const unresolved = (r.unresolved as any[]).map((u) => ({ ...u, file: paths.toRepo(u.file) }));
    ctx.logger.info({ renamed: r.renamed.length, changed: changedFiles.length, unresolved: unresolved.length }, 'reserved attributes');
    return {
      found: r.renamed.length > 0,
      // an action that changed nothing fixed nothing (e.g. `registry` on a SQLAlchemy that accepts it)
      fixed: r.renamed.length > 0 && changedFiles.length > 0,
      probe: r.probe ?? null,
      sqlalchemyVersion: r.sqlalchemyVersion,
      reservedNames: r.reservedNames,
      renamed: (r.renamed as any[]).map((x) => ({ ...x, file: paths.toRepo(x.file) })),
      usesUpdated: (r.usesUpdated as any[]).slice(0, 200).map((u) => ({ ...u, file: paths.toRepo(u.file) })),
      usesUpdatedCount: r.usesUpdated.length,
      unresolved: unresolved.slice(0, 100),
      unresolvedCount: unresolved.length,
      changedFiles,
      skippedFiles: r.skippedFiles,
      diff: await diffOf(ctx, paths.repo, changedFiles),
    };
  },
});
