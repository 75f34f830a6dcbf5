import path from 'node:path';
import { z } from 'zod';
import { defineAction } from '../../core/action.js';
import { PermanentError } from '../../core/errors.js';
import { alembicSettings, projectPaths } from './lib/common.js';
import { IN_CHECKOUT, checkoutDir } from '../lib/checkout.js';

const out = z.record(z.string(), z.any()).optional();

/**
 * What to commit and how to explain it: the files the fixes changed in the run's clone (from git status, limited
 * to Python files of the alembic project; anything else is reported and left out) plus the verified migration,
 * and a message saying why each change was made. Feeds git.commit.
 */
export default defineAction({
  name: 'alembic.commit_message',
  description: 'Paths and commit message for the alembic fix and its verified migration',
  sideEffects: false,
  params: z.object({
    ...IN_CHECKOUT,
    causes: z.array(z.string()).default([]),
    reserved: out,
    asyncEnv: out,
    imports: out,
    db: out,
    verify: z.record(z.string(), z.any()),
    /** The sync driver an async engine was given (alembic.classify's driver), for the message. */
    driver: z.string().nullish(),
    /** A driver module alembic could not import (alembic.classify's missingModule). */
    missingModule: z.string().nullish(),
  }),
  async run(p, ctx) {
    const s = alembicSettings(ctx);
    const paths = projectPaths(ctx, await checkoutDir(ctx, p), s);
    if (p.verify.ok !== true) throw new PermanentError('refusing to commit: the verification did not pass', 'not_verified');
    const mig = p.verify.migration as { revision: string; file: string; kept: boolean; summary: string[] } | null;
    const status = await ctx.ports.git.status(paths.repo);
    const inProject = (f: string) => paths.projectRel === '.' || f === paths.projectRel || f.startsWith(paths.projectRel + '/');
    const files = new Set<string>();
    const unexpected: string[] = [];
    for (const raw of status.files) {
      const f = raw.replace(/^"|"$/g, '');
      if (mig?.kept && f.endsWith('/') && mig.file.startsWith(f)) files.add(mig.file); // a new versions folder
      else if (inProject(f) && f.endsWith('.py')) files.add(f);
      else unexpected.push(f);
    }
    if (mig?.kept && !files.has(mig.file)) throw new PermanentError(`the verified migration ${mig.file} is not in the checkout any more`, 'migration_missing');

    const lines: string[] = [];
    const subjectParts: string[] = [];
    const renamed = (p.reserved?.renamed as any[] | undefined) ?? [];
    if (renamed.length) {
      subjectParts.push(`rename reserved ${renamed.map((r) => `${r.class}.${r.attribute}`).join(', ')}`);
      lines.push(
        `- Reserved attribute: ${renamed.map((r) => `${r.class}.${r.attribute} -> ${r.class}.${r.newAttribute}`).join(', ')}. SQLAlchemy reserves ` +
          `${[...new Set(renamed.map((r) => `'${r.attribute}'`))].join(', ')} on declarative classes (1.4/2.0 raise at class definition, 2.1 warns). ` +
          `The column keeps its name (${renamed.filter((r) => r.column).map((r) => `${r.table ?? r.class}.${r.column}`).join(', ')}) through an explicit Column/mapped_column name, so the database schema does not change.`,
      );
      const n = p.reserved?.usesUpdatedCount ?? 0;
      lines.push(`  Updated ${n} use${n === 1 ? '' : 's'} of the old attribute name.`);
      const un = (p.reserved?.unresolved as any[] | undefined) ?? [];
      if (un.length) {
        lines.push(`  ${p.reserved?.unresolvedCount ?? un.length} use(s) could not be resolved and need a person to look:`);
        for (const u of un.slice(0, 20)) lines.push(`    ${u.file}:${u.line}: ${String(u.code).slice(0, 120)}`);
      }
    }
    if (p.asyncEnv?.changed) {
      const a = p.asyncEnv;
      const driver = (p.driver as string | undefined) ?? null;
      const how = String(a.direction ?? '');
      if (a.mode === 'async') {
        subjectParts.push('run_sync migrations on the async driver');
        lines.push(`- ${a.envPy}: ${how}${driver ? ` (the loaded '${driver}' is not async)` : ''}. The app is async throughout, so migrations keep the connection.run_sync() recipe and the engine now gets the async form of the URL (postgresql:// -> postgresql+asyncpg://).`);
      } else if (a.analysis?.asyncEngine) {
        subjectParts.push('sync engine in env.py');
        lines.push(`- ${a.envPy}: ${how}${driver ? ` (the loaded '${driver}' is not async: "The asyncio extension requires an async driver to be used")` : ''}. Migrations now run on a sync engine built from the sync form of the URL (postgresql+asyncpg:// -> postgresql+psycopg2://); offline mode is unchanged.`);
      } else {
        subjectParts.push('sync driver for the env.py engine');
        const seen = p.missingModule ? `the async driver '${p.missingModule}' is not even installed where migrations run` : 'MissingGreenlet: "greenlet_spawn has not been called"';
        lines.push(`- ${a.envPy}: ${how} (${seen}). The sync engine now gets the sync form of the URL (postgresql+asyncpg:// -> postgresql+psycopg2://); offline mode is unchanged.`);
      }
    }
    const missing = (p.imports?.missing as string[] | undefined) ?? [];
    if (missing.length && (p.imports?.changedFiles as string[] | undefined)?.length) {
      subjectParts.push('import every model module');
      lines.push(`- ${p.imports!.envPy}: imports ${missing.join(', ')} before target_metadata; autogenerate only compares tables whose model modules were imported (without them it would drop those tables).`);
    }
    if (p.db && p.db.available === true && (p.db.attempts > 1 || p.db.started)) {
      lines.push(`- The database was unavailable at first; ${p.db.started ? `started it with the target's startDb (exit ${p.db.started.code}), ` : ''}it answered after ${p.db.attempts} probe(s).`);
    }
    if (mig?.kept) {
      subjectParts.push(`add migration ${mig.revision}`);
      lines.push('', `Migration ${mig.revision} (${path.basename(mig.file)}) holds exactly the schema change this fix implies (tables of the model modules now imported), generated by alembic revision --autogenerate and verified on a scratch database (upgrade head, autogenerate again, downgrade -1, offline SQL):`);
      for (const op of mig.summary) lines.push(`  ${op}`);
    } else {
      lines.push('', 'The fix implies no schema change: no migration added (verified on a scratch database: upgrade head, revision --autogenerate, offline SQL).');
    }
    const drift = (p.verify.drift as string[] | undefined) ?? [];
    if (drift.length) lines.push(`Not part of this commit: model changes that were pending before this fix (${drift.join(', ')}); they need a migration of their own, written by the people who made them.`);
    const before = p.verify.columns?.before as Record<string, string[]> | undefined;
    if (before && Object.keys(before).length) lines.push(`Existing columns keep their names: ${Object.entries(before).map(([t, cs]) => `${t}(${cs.join(', ')})`).join('; ')}.`);

    const seen = p.causes.length
      ? p.causes
      : [
          ...(p.db && (p.db.attempts > 1 || p.db.started) ? ['the database was unavailable'] : []),
          ...(renamed.length ? ['a reserved declarative attribute name'] : []),
          ...(p.asyncEnv?.changed ? ['an async/sync driver mismatch in env.py'] : []),
          ...(missing.length ? ['model modules missing where target_metadata is built'] : []),
        ];
    const why = seen.length ? `alembic revision --autogenerate failed: ${seen.join('; ')}.` : 'alembic revision --autogenerate was checked end to end.';
    const subject = `alembic: ${subjectParts.join('; ') || 'verify autogenerate'}`.slice(0, 200);
    return {
      nothingToCommit: files.size === 0,
      paths: [...files].sort(),
      unexpected,
      subject,
      body: [why, '', ...lines].join('\n'),
    };
  },
});
