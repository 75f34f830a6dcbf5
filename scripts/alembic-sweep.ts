// The shape sweep of the alembic-autogenerate-failure runbook through the real CLI (see
// test/fixtures/alembic/sweep.ts and sweep-cases.ts): every case × interpreter is built with the real tools, run as
//   runwright run alembic-autogenerate-failure --alert FILE --target NAME --targets FILE --platform local --auto-approve --json
// against real Redis, git, alembic and PostgreSQL, and judged. Prints a markdown table; writes JSON next to it.
//
//   node --import tsx scripts/alembic-sweep.ts [--only NAME[,NAME]] [--env deb,sa20,sa21,flask] [--jobs 2] [--out FILE]
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { debianEnv, isSkip, venvEnv, type PyEnvOrSkip } from '../test/fixtures/alembic/python-env.js';
import { SWEEP_CASES } from '../test/fixtures/alembic/sweep-cases.js';
import { runCase, type PyInfo, type SweepCase, type SweepRow } from '../test/fixtures/alembic/sweep.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
const only = arg('only')?.split(',');
const envNames = (arg('env') ?? 'deb,sa20,sa21,flask').split(',');
const jobs = Number(arg('jobs') ?? 2);
const outFile = arg('out') ?? path.join(os.tmpdir(), `alembic-sweep-${Date.now()}.json`);

const ENVS: Record<string, () => PyEnvOrSkip> = { deb: debianEnv, sa20: () => venvEnv('2.0.54'), sa21: () => venvEnv('2.1.1'), flask: () => venvEnv('2.0.54', ['flask-sqlalchemy']) };

async function main() {
  const pys: Record<string, PyInfo> = {};
  for (const e of envNames) {
    const got = ENVS[e]?.();
    if (!got || isSkip(got)) {
      console.error(`interpreter ${e}: ${got ? got.skip : 'unknown name'}`);
      process.exit(2);
    }
    pys[e] = { python: got.python, sqlalchemy: got.sqlalchemy, alembic: got.alembic };
  }
  const todo: [SweepCase, string][] = [];
  for (const c of SWEEP_CASES) if (!only || only.includes(c.name)) for (const e of c.envs) if (pys[e]) todo.push([c, e]);
  const rows: SweepRow[] = [];
  let next = 0;
  async function worker() {
    while (next < todo.length) {
      const [c, e] = todo[next++]!;
      let row: SweepRow;
      try {
        row = await runCase(c, e, pys[e]!);
      } catch (err) {
        row = { case: c.name, env: e, versions: `SA ${pys[e]!.sqlalchemy} / alembic ${pys[e]!.alembic}`, intake: c.intake ?? 'plain', expect: c.expect, got: 'build error', ok: false, notes: [(err as Error).message.slice(-1200)], outcome: '', seconds: 0 };
      }
      rows.push(row);
      console.error(`${row.ok ? 'OK  ' : 'BAD '} ${row.case} [${row.env}] expect ${row.expect}, got ${row.got}${row.notes.length ? `: ${row.notes.join('; ')}` : ''} (${row.seconds}s)`);
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, jobs) }, worker));
  rows.sort((a, b) => a.case.localeCompare(b.case) || a.env.localeCompare(b.env));
  writeFileSync(outFile, JSON.stringify(rows, null, 2));
  console.log('| case | versions | intake | expert wants | runwright did | verdict |');
  console.log('|---|---|---|---|---|---|');
  for (const r of rows) console.log(`| ${r.case} | ${r.versions} | ${r.intake} | ${r.expect} | ${r.got.replace(/\|/g, '/')} | ${r.ok ? 'ok' : `BUG: ${r.notes.join('; ').replace(/\|/g, '/')}`} |`);
  console.log(`\n${rows.filter((r) => r.ok).length}/${rows.length} as an expert would; details: ${outFile}`);
  process.exit(rows.every((r) => r.ok) ? 0 : 1);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
