import { createHash } from 'node:crypto';
import { z } from 'zod';
import { defineAction } from '../../core/action.js';
import { PermanentError } from '../../core/errors.js';
import { json } from '../deploy/lib/common.js';
import { IN_CHECKOUT, checkoutDir, scratchWorktree } from '../lib/checkout.js';
import { autogenerate, opSummary, readOnlyEnv, scriptHeads, tablesOf, withScratchDb, type Op } from './lib/autogen.js';
import { alembicSettings, databaseUrl, modelsRel, projectInfo, projectPaths, redactDbUrl, runAlembic, runTool, scratchName, tail, withDatabase } from './lib/common.js';
import { classifyText } from './classify.js';

interface TargetDb {
  reachable: boolean;
  /** true: agrees with the scratch reproduction; false: disagrees (see problem); null: nothing to compare. */
  agrees: boolean | null;
  revisions?: string[] | null;
  heads?: string[];
  drift?: string[];
  problem?: string;
  note?: string;
  output?: string;
}

/**
 * Reproduce first: in a clean worktree of the base commit, the target's own `alembic upgrade head` and
 * `alembic revision --autogenerate` on a scratch database (created here, dropped after), classified from what
 * alembic really printed. A passing autogenerate is `healthy`; what it proposes is model drift that exists before
 * any fix (reported, never committed). A table the models declare that autogenerate wants to drop means model
 * modules are missing from target_metadata. When healthy, the target's own database (its URL from the target) is
 * read without writing to it: its alembic_version against the scripts' heads, and (libpq drivers, the session
 * read-only) the project's own autogenerate against it — a database that disagrees makes the alert not stale.
 */
export default defineAction({
  name: 'alembic.reproduce',
  description: "Run the target's alembic upgrade head + revision --autogenerate on a scratch database at the base commit; classify what it prints; read the target's database read-only",
  sideEffects: true, // creates and drops a scratch database
  params: z.object({
    ...IN_CHECKOUT,
    head: z.string().regex(/^[0-9a-f]{40}$/),
    /** Compare with the target's own database when the scratch reproduction is healthy. */
    targetDb: z.boolean().default(true),
  }),
  async plan(p, ctx) {
    const s = alembicSettings(ctx);
    return {
      description: `clean worktree of ${p.head.slice(0, 12)}; scratch database ${scratchName(ctx)} on ${redactDbUrl(databaseUrl(ctx, s))}: alembic upgrade head, revision --autogenerate; dropped after`,
      output: { healthy: null, dryRun: true },
    };
  },
  async run(p, ctx) {
    const s = alembicSettings(ctx);
    const repo = await checkoutDir(ctx, p);
    const wt = await ctx.ports.git.worktree(repo, p.head, scratchWorktree(ctx, `alembic-base-${p.head.slice(0, 12)}-${ctx.step.visit}`));
    const paths = projectPaths(ctx, wt, s);
    let info;
    try {
      info = await projectInfo(ctx, s, paths);
    } catch (e) {
      if (e instanceof PermanentError && e.code === 'alembic_tool') return json(unplaced(p.head, 'project', (e as Error).message));
      throw e;
    }
    const models = modelsRel(ctx, paths);
    const server = databaseUrl(ctx, s);
    const name = scratchName(ctx);
    const scratch = withDatabase(server, name);
    const rid = `rwb${createHash('sha256').update(`${ctx.run.id}.${ctx.step.id}.${ctx.step.visit}`).digest('hex').slice(0, 9)}`;
    const short = p.head.slice(0, 12);

    const scratchResult = await withScratchDb(ctx, s, server, name, async (created) => {
      if (!created.ok) return { stage: 'create_scratch_db', ok: false, text: `cannot create a scratch database on ${redactDbUrl(server)}: ${created.error}` };
      await ctx.progress(`alembic upgrade head at ${short} on a scratch database`);
      const up = await runAlembic(ctx, s, paths, ['upgrade', 'head'], scratch);
      if (up.code !== 0) return { stage: 'upgrade_head', ok: false, text: tail(`${up.stderr}\n${up.stdout}`.trim(), 8000) };
      await ctx.progress(`alembic revision --autogenerate at ${short}`);
      const ag = await autogenerate(ctx, s, paths, info, scratch, rid);
      const text = tail(`${ag.run.stderr}\n${ag.run.stdout}`.trim(), 8000);
      if (!ag.ok) return { stage: 'autogenerate', ok: false, text };
      const inDb = await runTool(ctx, s, 'db-columns', { url: scratch });
      return { stage: 'autogenerate', ok: true, text, upgrade: ag.upgrade, dbTables: inDb.ok ? Object.keys(inDb.tables as Record<string, unknown>) : null };
    });

    const declared = await tablesOf(ctx, s, paths, info, models, []);
    const ops: Op[] = (scratchResult as { upgrade?: Op[] }).upgrade ?? [];
    // autogenerate dropping a table a model declares: that model's module never reached target_metadata
    const removedDeclared = ops.filter((o) => o.op === 'drop_table' && o.table && o.table in declared).map((o) => o.table!);
    // a table a model declares that is neither in the database at head nor created by autogenerate: its module never
    // reached target_metadata (a new model: autogenerate made an EMPTY migration) - only when env.py's imports
    // really miss that module (include_object filters and other databases' models are left alone)
    const unseenDeclared = scratchResult.ok ? await unseenTables(ctx, s, paths, info, models, declared, ops, (scratchResult as { dbTables?: string[] | null }).dbTables ?? null) : [];
    const cls = classifyText(scratchResult.text);
    let causes = cls.causes.filter((c) => c !== 'missing_imports' || removedDeclared.length > 0 || unseenDeclared.length > 0);
    if ((removedDeclared.length || unseenDeclared.length) && !causes.includes('missing_imports')) causes = [...causes, 'missing_imports'];
    if (scratchResult.ok && causes.some((c) => c === 'db_unavailable')) causes = causes.filter((c) => c !== 'db_unavailable'); // a passing run's log text
    const healthy = scratchResult.ok && causes.length === 0;
    const drift = healthy ? ops.map(opSummary) : [];
    let targetDb: TargetDb | null = null;
    if (healthy && p.targetDb) targetDb = await readTargetDb(ctx, s, paths, info, server, drift, `${rid}t`);

    const failureText = healthy
      ? ''
      : scratchResult.text +
        (removedDeclared.length ? `\nmodel tables missing from target_metadata: autogenerate would drop ${removedDeclared.join(', ')}` : '') +
        (unseenDeclared.length ? `\nmodel tables missing from target_metadata: ${unseenDeclared.map((u) => `${u.table} (${u.module})`).join(', ')} - in no migration and unseen by autogenerate, their modules never imported where target_metadata is built` : '');
    const summary = healthy
      ? `alembic upgrade head and revision --autogenerate pass at ${short} on a scratch database${drift.length ? ` (pending model changes that exist before any fix: ${drift.join(', ')})` : ' and find nothing to migrate'}`
      : `alembic fails at ${short} (${scratchResult.stage}): ${causes.length ? causes.join(', ') : `a failure this runbook does not know${errorLine(scratchResult.text) ? ` - ${errorLine(scratchResult.text)}` : ''}`}`;
    ctx.logger.info({ healthy, stage: scratchResult.stage, causes, drift: drift.length, targetAgrees: targetDb?.agrees }, summary);
    return json({
      healthy,
      head: p.head,
      stage: scratchResult.stage,
      causes,
      primary: causes[0] ?? 'unknown',
      placed: healthy || causes.length > 0,
      hits: cls.hits.map((h) => ({ ...h, evidence: h.evidence.slice(0, 300) })),
      drift,
      driftOps: healthy ? ops : [],
      // what autogenerate proposed at the base commit, except the drops a missing model import caused (null: it did not run)
      baseline: scratchResult.ok ? ops.filter((o) => !(o.op === 'drop_table' && removedDeclared.includes(o.table!))).map(opSummary) : null,
      removedDeclared,
      unseenDeclared,
      failureText,
      error: healthy ? null : errorLine(scratchResult.text),
      output: scratchResult.text,
      targetDb,
      scratchDb: name,
      summary,
    });
  },
});

/**
 * The error alembic ended with, in its own words: its `FAILED: ...` line, else the last exception line of the
 * traceback (`pkg.module.SomeError: message`; for a SyntaxError with the file and line it names). Fixed,
 * line-by-line patterns only (the text is the target's output).
 */
export function errorLine(text: string): string | null {
  const lines = text.split(/\r?\n/).slice(-400);
  for (let i = lines.length - 1; i >= 0; i--) {
    const m = /^\s*FAILED: (.{1,400})/.exec(lines[i]!);
    if (m) return `FAILED: ${m[1]!.trim()}`;
  }
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i]!;
    const m = /^([A-Za-z_][A-Za-z0-9_.]{0,120}(?:Error|Exception|Exit|Interrupt|Warning|Missing\w{0,40}))(?:: (.{0,400}))?$/.exec(line);
    if (!m) continue;
    let where = '';
    if (/SyntaxError|IndentationError|TabError/.test(m[1]!)) {
      for (let j = i - 1; j >= Math.max(0, i - 6); j--) {
        const f = /^\s*File "([^"]{1,300})", line (\d{1,7})/.exec(lines[j]!);
        if (f) {
          where = ` (${f[1]!.split('/').slice(-2).join('/')}, line ${f[2]})`;
          break;
        }
      }
    }
    return `${m[1]}${m[2] ? `: ${m[2].trim()}` : ''}${where}`;
  }
  return null;
}

/** Declared tables neither in the database at head nor created by autogenerate, whose modules env.py's imports miss. */
async function unseenTables(ctx: Parameters<typeof alembicSettings>[0], s: ReturnType<typeof alembicSettings>, paths: ReturnType<typeof projectPaths>, info: Awaited<ReturnType<typeof projectInfo>>, models: string, declared: Record<string, { module: string }>, ops: Op[], dbTables: string[] | null): Promise<{ table: string; module: string }[]> {
  if (!dbTables) return [];
  const created = new Set(ops.filter((o) => o.op === 'create_table' && o.table).map((o) => o.table!));
  const unseen = Object.entries(declared).filter(([t]) => !dbTables.includes(t) && !created.has(t));
  if (!unseen.length) return [];
  const r = await runTool(ctx, s, 'imports-fix', { projectDir: paths.project, envPy: info.envPy, modelsDir: models, exclude: info.versionsDirs, roots: info.sysPathRoots, apply: false });
  const missing = new Set<string>(r.problems?.length ? [] : r.missing);
  return unseen.filter(([, d]) => missing.has(d.module)).map(([table, d]) => ({ table, module: d.module }));
}

function unplaced(head: string, stage: string, why: string) {
  return { healthy: false, error: why.split('\n')[0] ?? null, head, stage, causes: [], primary: 'unknown', placed: false, hits: [], drift: [], driftOps: [], baseline: null, removedDeclared: [], unseenDeclared: [], failureText: why, output: why, targetDb: null, summary: `cannot read the alembic project at ${head.slice(0, 12)}: ${why}` };
}

/** The target's own database, read only: which revision it is at, and what the project's autogenerate says there. */
async function readTargetDb(ctx: Parameters<typeof alembicSettings>[0], s: ReturnType<typeof alembicSettings>, paths: ReturnType<typeof projectPaths>, info: Awaited<ReturnType<typeof projectInfo>>, url: string, scratchDrift: string[], rid: string): Promise<TargetDb> {
  await ctx.progress(`reading the target's database ${redactDbUrl(url)} (read-only)`);
  const st = await runTool(ctx, s, 'db-state', { url });
  if (!st.ok) return { reachable: false, agrees: null, note: `the target's database could not be read (${st.kind}): ${String(st.error).split('\n')[0]}` };
  if (!st.hasVersionTable) {
    return { reachable: true, agrees: null, revisions: null, note: st.tables.length ? `the target's database has tables but no alembic_version: not managed by these migrations, not compared` : "the target's database is empty (no alembic_version): nothing to compare" };
  }
  const { heads } = await scriptHeads(ctx, s, paths, url);
  const revisions: string[] = st.revisions ?? [];
  if (revisions.join(',') !== heads.join(',')) {
    const unknown = revisions.filter((r) => !heads.includes(r));
    return {
      reachable: true,
      agrees: false,
      revisions,
      heads,
      problem: `the target's database is at revision ${revisions.join(', ') || '(none)'} while the scripts' head is ${heads.join(', ') || '(none)'}${unknown.length ? ' (not up to date, or at a revision these scripts do not have)' : ''}`,
    };
  }
  const ro = readOnlyEnv(url);
  if (!ro) return { reachable: true, agrees: null, revisions, heads, note: 'at head; the async driver cannot be held read-only, so autogenerate was not run against the target database' };
  const ag = await autogenerate(ctx, s, paths, info, url, rid, { env: ro });
  const output = tail(`${ag.run.stderr}\n${ag.run.stdout}`.trim(), 6000);
  if (!ag.ok) return { reachable: true, agrees: false, revisions, heads, problem: `alembic revision --autogenerate fails against the target's database although it passes on a scratch database`, output };
  const drift = ag.upgrade.map(opSummary);
  const extra = drift.filter((d) => !scratchDrift.includes(d));
  const missing = scratchDrift.filter((d) => !drift.includes(d));
  if (extra.length || missing.length) {
    return { reachable: true, agrees: false, revisions, heads, drift, problem: `the target's database differs from what its migrations build: autogenerate there proposes ${extra.join(', ') || 'nothing extra'}${missing.length ? `, and not ${missing.join(', ')}` : ''}`, output };
  }
  return { reachable: true, agrees: true, revisions, heads, drift, note: `at head ${heads.join(', ')}; autogenerate against it agrees with the scratch database` };
}


