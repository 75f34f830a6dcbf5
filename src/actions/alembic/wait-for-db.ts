import { existsSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import type { ActionContext } from '../../core/action.js';
import { defineAction } from '../../core/action.js';
import { resolveInside } from '../../core/safe-path.js';
import { IN_CHECKOUT, checkoutDir } from '../lib/checkout.js';
import { MAIN_CHECKOUT } from '../../core/workspace.js';
import { json } from '../deploy/lib/common.js';
import { alembicSettings, databaseUrl, redactDbUrl, redactSecrets, runTool, sleep, tail, type AlembicSettings } from './lib/common.js';

interface Probe {
  ok: boolean;
  serverVersion?: string;
  error?: string;
  kind?: string;
}

/**
 * Is the database server up? Probes it (SQLAlchemy, `select 1`) a bounded number of times with backoff; when it
 * refuses and the target says how to start it (settings.alembic.startDb, an argv), runs that once and keeps
 * probing. Never throws for a database that stays down: returns available=false with everything it tried, so
 * the runbook can hand it to a person (and no migration gets written by hand).
 */
export default defineAction({
  name: 'alembic.wait_for_db',
  description: "Wait (bounded) for the target's database, starting it with settings.alembic.startDb when given",
  sideEffects: true, // may start a database
  params: z.object({
    /** The checkout startDb runs in (settings.alembic.startDbCwd): default the run's clone, the run's workdir when it has none. */
    ...IN_CHECKOUT,
    attempts: z.number().int().min(1).max(100).optional(),
    start: z.boolean().default(true),
  }),
  async plan(p, ctx) {
    const s = alembicSettings(ctx);
    const server = redactDbUrl(databaseUrl(ctx, s));
    return {
      description: `probe ${server} up to ${p.attempts ?? s.wait.attempts} times${s.startDb && p.start ? `, starting it with ${JSON.stringify(s.startDb)} if it refuses` : ''}`,
      output: { available: null, dryRun: true, server },
    };
  },
  async run(p, ctx) {
    const s = alembicSettings(ctx);
    const url = databaseUrl(ctx, s);
    const server = redactDbUrl(url);
    const attempts = p.attempts ?? s.wait.attempts;
    const tried: string[] = [];
    const t0 = Date.now();
    let started: { argv: string[]; code: number | null; timedOut: boolean; output: string } | null = null;
    let last: Probe = { ok: false };
    for (let i = 1; i <= attempts; i++) {
      last = await runTool<Probe>(ctx, s, 'db-probe', { url, timeoutSeconds: 3 });
      if (last.ok) {
        if (i > 1 || started) ctx.logger.info({ server, attempts: i, started: !!started }, 'database is up');
        return json({ available: true, server, serverVersion: last.serverVersion ?? null, attempts: i, waitedMs: Date.now() - t0, started, tried });
      }
      const firstLine = (last.error ?? '').split('\n').find((l) => l.trim()) ?? '';
      tried.push(`probe ${i}/${attempts}: ${last.kind}: ${firstLine.slice(0, 300)}`);
      await ctx.progress(`database ${server} not reachable (${last.kind}), probe ${i}/${attempts}`);
      if (last.kind === 'auth' || last.kind === 'missing') break; // waiting will not change credentials or a missing database
      if (!started && p.start && s.startDb && last.kind !== 'starting') {
        started = await startDb(ctx, s, p);
        tried.push(`started the database with ${JSON.stringify(s.startDb)}: exit ${started.code}${started.timedOut ? ' (timed out)' : ''}`);
        continue; // probe again at once: `pg_ctl -w start` / `docker compose up --wait` return when it is up
      }
      if (i < attempts) await sleep(Math.min(s.wait.delay * 2 ** (i - 1), s.wait.maxDelay), ctx.signal);
    }
    if (!s.startDb) tried.push('no settings.alembic.startDb on the target: runwright does not know how to start this database');
    const summary = `database ${server} unavailable after ${tried.filter((t) => t.startsWith('probe')).length} probes over ${Math.round((Date.now() - t0) / 1000)} s (last: ${last.kind}); ${started ? `start command exited ${started.code}` : 'not started'}. No migration was written by hand.`;
    ctx.logger.warn({ server, kind: last.kind, started: !!started }, 'database unavailable');
    return json({ available: false, server, kind: last.kind ?? null, lastError: last.error ?? null, attempts, waitedMs: Date.now() - t0, started, tried, summary });
  },
});

/** Where startDb runs: the checkout the step names, else the run's clone, else (no clone yet) the run's workdir. */
async function startBase(ctx: ActionContext, p: { checkout?: string; dir?: string }): Promise<string> {
  if (p.checkout !== undefined || p.dir !== undefined) return checkoutDir(ctx, p);
  const repo = await ctx.checkout(MAIN_CHECKOUT);
  return existsSync(path.join(repo, '.git')) ? repo : ctx.workdir;
}

async function startDb(ctx: ActionContext, s: AlembicSettings, p: { checkout?: string; dir?: string }) {
  const argv = s.startDb!;
  const base = await startBase(ctx, p);
  const cwd = s.startDbCwd ? resolveInside(base, s.startDbCwd) : base;
  await ctx.progress(`starting the database: ${path.basename(argv[0]!)} ...`);
  let r;
  try {
    r = await ctx.ports.proc.run(argv, { cwd, timeoutMs: s.startDbTimeout, signal: ctx.signal });
  } catch (e) {
    return { argv, code: null, timedOut: false, output: `cannot run ${argv[0]}: ${(e as Error).message}` };
  }
  const url = s.databaseUrl ?? process.env[s.databaseUrlFrom ?? s.databaseUrlEnv] ?? '';
  return { argv, code: r.code, timedOut: r.timedOut, output: redactSecrets(tail(`${r.stdout}\n${r.stderr}`.trim(), 2000), [url]) };
}
