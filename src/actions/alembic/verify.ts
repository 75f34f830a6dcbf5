import { createHash } from 'node:crypto';
import { readFileSync, unlinkSync, existsSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { defineAction } from '../../core/action.js';
import {
  alembicSettings, cap, databaseUrl, modelsRel, projectInfo, projectPaths, redactDbUrl, runAlembic, runTool, scratchName, tail, withDatabase,
  type AlembicRun,
} from './lib/common.js';
import { IN_CHECKOUT, checkoutDir } from '../lib/checkout.js';
import { autogenerate, isDestructive, opSummary, removeOwnRevision, tablesOf, withScratchDb } from './lib/autogen.js';
import { json } from '../deploy/lib/common.js';

type Columns = Record<string, string[]>;

interface Stage {
  stage: string;
  args?: string[];
  code?: number | null;
  durationMs?: number;
}

/**
 * Prove the fixed tree migrates, on a scratch database created for this step and dropped after it:
 * `alembic upgrade head` (the existing history), `alembic revision --autogenerate`, of whose operations only the
 * fix's own schema change is kept (tables of the model modules an imports fix brought into target_metadata; a
 * reserved-name or env.py fix implies none) while model drift that existed before the fix is pruned from the file
 * and reported; `alembic upgrade head`; autogenerate again, which must find nothing but that drift; `alembic
 * downgrade -1` when a migration was kept; offline `upgrade head --sql`. Records the database's column names and
 * fails (ok=false, with the text that says why) when autogenerate newly wants to drop or rename what exists, when a
 * declared table is still missing, or when the downgrade does not restore the columns. A failed verification
 * removes the migration it generated; a passing one leaves the kept migration in the clone to commit.
 */
export default defineAction({
  name: 'alembic.verify',
  description: 'Scratch database: upgrade head, revision --autogenerate, upgrade head, downgrade -1, offline SQL; columns before/after',
  sideEffects: true, // creates and drops a scratch database on the target's server
  params: z.object({
    ...IN_CHECKOUT,
    message: z.string().max(200).default('autogenerate pending model changes'),
    offline: z.boolean().default(true),
    /** What autogenerate proposed at the base commit (alembic.reproduce's drift); null when it could not run there. */
    baseline: z.array(z.string()).nullish(),
    /** Model modules a fix brought into target_metadata: migrations for their tables are the fix's own change. */
    importedModules: z.array(z.string()).nullish(),
  }),
  async plan(p, ctx) {
    const s = alembicSettings(ctx);
    return {
      description: `create scratch database ${scratchName(ctx)} on ${redactDbUrl(databaseUrl(ctx, s))}, run alembic upgrade head / revision --autogenerate / upgrade head / downgrade -1${p.offline ? ' / upgrade head --sql' : ''}, drop it`,
      output: { ok: true, dryRun: true, migration: null },
    };
  },
  async run(p, ctx) {
    const s = alembicSettings(ctx);
    const paths = projectPaths(ctx, await checkoutDir(ctx, p), s);
    const info = await projectInfo(ctx, s, paths);
    const models = modelsRel(ctx, paths);
    const server = databaseUrl(ctx, s);
    const name = scratchName(ctx);
    const scratch = withDatabase(server, name);
    const rid = `rw${createHash('sha256').update(`${ctx.run.id}.${ctx.step.id}`).digest('hex').slice(0, 10)}`;
    const message = p.message.replace(/[^A-Za-z0-9 _.,:()-]+/g, ' ').replace(/\s+/g, ' ').trim().slice(0, 72) || 'autogenerate';
    const baseline = p.baseline ?? null;
    const stages: Stage[] = [];
    const t0 = Date.now();
    const columns: { before?: Columns; after?: Columns; afterDowngrade?: Columns } = {};
    let migration: any = null;
    let generated: string | null = null;
    let drift: string[] = [];

    removeOwnRevision(paths, info.versionsDirs, rid); // an earlier delivery of this step may have left it
    const base = { scratchDb: name, server: redactDbUrl(server), revision: rid };
    const fail = (stage: string, why: string, run?: AlembicRun) => {
      if (generated && existsSync(generated)) unlinkSync(generated);
      const out = run ? tail(`${run.stderr}\n${run.stdout}`.trim(), 6000) : '';
      ctx.logger.warn({ stage, why: why.slice(0, 300) }, 'alembic verification failed');
      return json({ ...base, ok: false, stage, reason: why, failureText: `${why}\n${out}`.trim(), migration, drift, columns, stages, durationMs: Date.now() - t0 });
    };
    const alembic = async (stage: string, args: string[]) => {
      await ctx.progress(`alembic ${args.join(' ')}`);
      const r = await runAlembic(ctx, s, paths, args, scratch);
      stages.push({ stage, args, code: r.code, durationMs: r.durationMs });
      return r;
    };
    const cols = async (): Promise<Columns | { error: string }> => {
      const r = await runTool(ctx, s, 'db-columns', { url: scratch });
      return r.ok ? sorted(r.tables as Columns) : { error: String(r.error) };
    };

    return await withScratchDb(ctx, s, server, name, async (created) => {
      stages.push({ stage: 'create_scratch_db', code: created.ok ? 0 : 1 });
      if (!created.ok) return fail('create_scratch_db', `cannot create scratch database ${name} on ${redactDbUrl(server)}: ${created.error}`);
      let r = await alembic('upgrade_existing', ['upgrade', 'head']);
      if (r.code !== 0) return fail('upgrade_existing', `alembic upgrade head failed on the existing migrations (exit ${r.code}${r.timedOut ? ', timed out' : ''})`, r);
      const before = await cols();
      if ('error' in before) return fail('columns_before', `cannot list columns: ${before.error}`);
      columns.before = before as Columns;

      await ctx.progress('alembic revision --autogenerate');
      const ag = await autogenerate(ctx, s, paths, info, scratch, rid, { message, keep: true });
      stages.push({ stage: 'autogenerate', args: ag.run.args, code: ag.run.code, durationMs: ag.run.durationMs });
      generated = ag.file;
      if (!ag.ok || !generated) return fail('autogenerate', `alembic revision --autogenerate failed (exit ${ag.run.code}${ag.run.timedOut ? ', timed out' : ''})`, ag.run);
      // The fix's own schema change: only the tables of model modules a fix brought into target_metadata.
      const keepTables = p.importedModules?.length ? Object.keys(await tablesOf(ctx, s, paths, info, models, p.importedModules)) : [];
      const own = ag.upgrade.filter((o) => o.table && keepTables.includes(o.table) && !isDestructive(o));
      const unexplained = ag.upgrade.filter(isDestructive).filter((o) => !(baseline ?? []).includes(opSummary(o)));
      if (unexplained.length) {
        const what = unexplained.map(opSummary).join(', ');
        const detected = ag.run.stderr.split('\n').filter((l) => /Detected (removed|renamed)/.test(l)).join('\n');
        return fail('review', `autogenerate wants to drop or rename what the database has (${what}), and it did not before the fix: models are missing from target_metadata, or a column was renamed\n${detected}`);
      }
      drift = ag.upgrade.filter((o) => !own.includes(o)).map(opSummary);
      const pruned = await runTool(ctx, s, 'migration-prune', { file: generated, keepTables });
      migration = {
        revision: ag.revision,
        downRevision: ag.downRevision,
        file: path.relative(paths.repo, generated),
        upgrade: pruned.kept.upgrade,
        downgrade: pruned.kept.downgrade,
        empty: pruned.empty,
        summary: own.map(opSummary),
        text: pruned.empty ? '' : cap(readFileSync(generated, 'utf8'), 20_000),
      };
      if (pruned.empty) {
        unlinkSync(generated); // the fix implies no schema change: nothing to migrate, nothing to commit
        generated = null;
      }

      r = await alembic('upgrade', ['upgrade', 'head']);
      if (r.code !== 0) return fail('upgrade', `alembic upgrade head failed on the new migration (exit ${r.code})`, r);
      const after = await cols();
      if ('error' in after) return fail('columns_after', `cannot list columns: ${after.error}`);
      columns.after = after as Columns;
      const dropped = lost(columns.before, columns.after);
      if (dropped.length) return fail('columns', `columns of the database changed name or disappeared: ${dropped.join(', ')}`);
      const declared = await tablesOf(ctx, s, paths, info, models, []);
      const pendingTables = new Set(ag.upgrade.filter((o) => o.op === 'create_table' && !own.includes(o)).map((o) => o.table));
      const missingTables = Object.keys(declared).filter((t) => !(t in columns.after!) && !pendingTables.has(t)).sort();
      if (missingTables.length) return fail('tables', `model tables missing from target_metadata: ${missingTables.join(', ')} (declared in ${missingTables.map((t) => declared[t]!.module).join(', ')}, absent after upgrade head)`);

      // After the fix's own migration, autogenerate must find nothing but the drift that is not ours to commit.
      const again = await autogenerate(ctx, s, paths, info, scratch, `${rid}c`);
      stages.push({ stage: 'recheck', args: again.run.args, code: again.run.code, durationMs: again.run.durationMs });
      if (!again.ok) return fail('recheck', `alembic revision --autogenerate failed after upgrade head (exit ${again.run.code})`, again.run);
      const residual = again.upgrade.map(opSummary).filter((o) => !drift.includes(o));
      if (residual.length) return fail('recheck', `after upgrade head autogenerate still proposes ${residual.join(', ')}`);

      if (generated) {
        r = await alembic('downgrade', ['downgrade', '-1']);
        if (r.code !== 0) return fail('downgrade', `alembic downgrade -1 failed (exit ${r.code})`, r);
        const down = await cols();
        if ('error' in down) return fail('columns_after_downgrade', `cannot list columns: ${down.error}`);
        columns.afterDowngrade = down as Columns;
        if (JSON.stringify(sorted(columns.afterDowngrade)) !== JSON.stringify(sorted(columns.before))) {
          return fail('downgrade_columns', `downgrade -1 did not restore the columns: before ${JSON.stringify(sorted(columns.before))}, after downgrade ${JSON.stringify(sorted(columns.afterDowngrade))}`);
        }
      }
      let offlineBytes: number | null = null;
      if (p.offline) {
        r = await alembic('offline', ['upgrade', 'head', '--sql']);
        if (r.code !== 0) return fail('offline', `offline mode (alembic upgrade head --sql) failed (exit ${r.code})`, r);
        offlineBytes = r.stdout.length;
      }
      const added = gained(columns.before, columns.after);
      ctx.logger.info({ revision: rid, ops: migration.summary, drift, added }, 'alembic verification passed');
      return json({
        ...base,
        ok: true,
        stage: 'done',
        migration: { ...migration, kept: !!generated },
        drift,
        baselineDrift: baseline,
        columns,
        columnsUnchanged: true,
        addedColumns: added,
        declaredTables: Object.keys(declared).sort(),
        offlineSqlBytes: offlineBytes,
        stages,
        durationMs: Date.now() - t0,
      });
    });
  },
});

function sorted(c: Columns): Columns {
  return Object.fromEntries(Object.keys(c).sort().map((k) => [k, [...c[k]!].sort()]));
}

/** table.column present in a and not in b. */
function lost(a: Columns, b: Columns): string[] {
  const out: string[] = [];
  for (const [t, cs] of Object.entries(a)) for (const c of cs) if (!b[t]?.includes(c)) out.push(`${t}.${c}`);
  return out.sort();
}
function gained(a: Columns, b: Columns): string[] {
  return lost(b, a);
}

