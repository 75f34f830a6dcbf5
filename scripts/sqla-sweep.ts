// The SQLAlchemy runbook on shapes the corpus does not have, through the REAL CLI:
//   runwright run sqlalchemy-mapper-failure --alert FILE --target T --targets FILE --platform local --auto-approve --json
// For each shape × SQLAlchemy version (Debian 1.4, 2.0.54 and 2.1.1 venvs from the local pip index) it builds the
// healthy twin and the broken tree as real git repos, lets real SQLAlchemy say the twin passes and the broken tree
// fails (or, for a stale alert, that the repo is healthy), makes the alert from what the broken job really logged
// (in the shape the case names), runs the CLI, and judges the outcome the way an expert would:
//   pushed    → one commit on main, only under the models folder, the check passes on a fresh clone, everything
//               the healthy twin maps is still mapped except `mayLose`, and (when given) the fix letter is `fix`;
//   escalated → nothing pushed to main (a person must decide, or the analysis cannot explain the failure);
//   stale     → nothing pushed, the run succeeded ("nothing to fix");
//   not-this  → nothing pushed, not succeeded (the alert is another error).
// Usage: npx tsx scripts/sqla-sweep.ts [--only name,name] [--versions 1.4,2.0,2.1] [--concurrency 2] [--keep]
// Needs Redis at REDIS_URL (default 127.0.0.1:6379). Prints one table row per run and a summary.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildService, git, type Service } from '../test/fixtures/sqlalchemy/generate.js';
import { CORPUS_WORKER, MAPPED_PROBE } from '../test/fixtures/sqlalchemy/corpus-parts.js';
import { mutated } from '../test/fixtures/sqlalchemy/corpus.js';
import { flaskPython, debianPython, isSkip, venvPython, type PythonEnv } from '../test/fixtures/sqlalchemy/python-env.js';
import type { Scenario } from '../test/fixtures/sqlalchemy/scenarios.js';
import { sweepCases, type SweepCase } from './sqla-sweep-cases.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const opt = (name: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const only = opt('only')?.split(',');
const versions = (opt('versions') ?? '1.4,2.0,2.1').split(',');
const concurrency = Number(opt('concurrency') ?? 2);
const keep = args.includes('--keep');

const envs: Record<string, PythonEnv | { skip: string }> = {
  '1.4': debianPython(),
  '2.0': flaskPython(),
  '2.1': venvPython('2.1.1', ['flask-sqlalchemy']),
};

const tmp = mkdtempSync(path.join(os.tmpdir(), 'rw-sqla-sweep-'));

function write(dir: string, files: Record<string, string | Buffer>) {
  for (const [rel, t] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    writeFileSync(path.join(dir, rel), t);
  }
}

function pkgOf(c: SweepCase): string {
  return c.pkg ?? (c.modelsDir ?? 'backend/app/models').replace(/^backend\//, '').replace(/\//g, '.');
}

function checkCode(c: SweepCase): string {
  return `import ${c.checkImports ?? pkgOf(c)}; from sqlalchemy.orm import configure_mappers; configure_mappers()`;
}

function runPy(dir: string, python: string, argv: string[], env: Record<string, string> = {}) {
  const r = spawnSync(python, argv, { cwd: path.join(dir, 'backend'), encoding: 'utf8', env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1', ...env } });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

function mapped(dir: string, c: SweepCase, python: string): string[] {
  const r = runPy(dir, python, ['-c', MAPPED_PROBE.replace(/app\.models/g, pkgOf(c)).replace('configure_mappers()\n', `${c.checkImports ? `import ${c.checkImports}\n` : ''}configure_mappers()\n`)]);
  if (r.code !== 0) throw new Error(`mapped probe failed: ${r.stderr.slice(-600)}`);
  return JSON.parse(r.stdout) as string[];
}

/** The case's files (healthy, broken) as repo-relative paths, with the service around them. */
function treeFiles(c: SweepCase): { healthy: Record<string, string | Buffer>; broken: Record<string, string | Buffer> } {
  const { healthy, broken } = mutated(c.name, c.healthy, c.mutate);
  const dir = c.modelsDir ?? 'backend/app/models';
  const wrap = (files: Record<string, string>) => {
    const out: Record<string, string | Buffer> = {
      'backend/app/__init__.py': '',
      'backend/worker.py': CORPUS_WORKER.replace(/import app\.models as models/, `import ${pkgOf(c)} as models${[c.checkImports, c.jobImports].filter(Boolean).map((m) => `\n        import ${m}`).join('')}`),
      'README.md': `# ${c.name}\n`,
      ...(c.outside ?? {}),
    };
    for (const [rel, text] of Object.entries(files)) out[`${dir}/${rel}`] = c.bytes ? c.bytes(rel, text) : text;
    return out;
  };
  return { healthy: wrap(healthy), broken: wrap(broken) };
}

function alertFor(c: SweepCase, brokenDir: string, py: PythonEnv, jobName: string): string {
  const style = c.alert ?? 'plain';
  if (style === 'other') return c.otherAlert!;
  const w = runPy(brokenDir, py.python, ['worker.py'], { WORKER_LOG_FORMAT: 'text' });
  if (w.code === 0) throw new Error('the broken job did not fail');
  const err = w.stderr;
  const entry = (payload: object) => ({ insertId: 'sweep1', severity: 'ERROR', resource: { type: 'cloud_run_job', labels: { job_name: jobName } }, logName: 'projects/p/logs/run.googleapis.com%2Fstderr', timestamp: new Date().toISOString(), ...payload });
  switch (style) {
    case 'plain':
    case 'stale':
      return err;
    case 'cascade-only':
      return err.split('\n').find((l) => l.includes('One or more mappers failed')) ?? err;
    case 'wrapped':
      return (err.split('\n').find((l) => l.includes('Original exception was')) ?? err).replace(/(.{1,60})(\s|$)/g, '$1\n');
    case 'truncated': {
      // a log line cut mid-way: the traceback head and the first 160 characters of the error line
      const lines = err.split('\n');
      const i = lines.findIndex((l) => /^sqlalchemy\.exc\.|^ERROR query failed/.test(l));
      return [...lines.slice(Math.max(0, i - 3), i), (lines[i] ?? '').slice(0, 160)].join('\n');
    }
    case 'text-entry':
      return JSON.stringify(entry({ textPayload: err }));
    case 'pubsub-text': {
      const e = entry({ textPayload: err });
      return JSON.stringify({ message: { data: Buffer.from(JSON.stringify(e)).toString('base64'), messageId: '7', attributes: {} }, subscription: 'projects/p/subscriptions/rw' });
    }
    default:
      throw new Error(`alert style ${style}`);
  }
}

interface Row {
  name: string;
  version: string;
  expect: string;
  status: string;
  fix: string;
  pushed: boolean;
  verdict: 'ok' | 'WRONG' | 'error' | 'skip';
  why: string;
  secs: number;
}

function runCli(argv: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [path.join(ROOT, 'bin/runwright.js'), ...argv], { cwd: ROOT, env: { ...process.env, RUNWRIGHT_FROM_SOURCE: '1', ...env } });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

async function runOne(c: SweepCase, version: string): Promise<Row> {
  const t0 = Date.now();
  const row: Row = { name: c.name, version, expect: c.expect + (c.fix ? `:${c.fix}` : ''), status: '-', fix: '-', pushed: false, verdict: 'ok', why: '', secs: 0 };
  const py = envs[version]!;
  if (isSkip(py)) return { ...row, verdict: 'skip', why: py.skip };
  if ((c.flavor === 'typed' || c.flavor === 'flask') && version === '1.4') return { ...row, verdict: 'skip', why: 'by design: 2.x only' };
  if (c.versions && !c.versions.includes(version)) return { ...row, verdict: 'skip', why: 'by design: not for this version' };
  try {
    const files = treeFiles(c);
    const work = mkdtempSync(path.join(tmp, `${c.name}-${version}-`));
    const twin = path.join(work, 'twin');
    write(twin, files.healthy);
    const tw = runPy(twin, py.python, ['-c', checkCode(c)]);
    if (tw.code !== 0) throw new Error(`healthy twin fails: ${tw.stderr.slice(-500)}`);
    const before = mapped(twin, c, py.python);
    const brokenDir = path.join(work, 'broken');
    write(brokenDir, files.broken);
    const bc = runPy(brokenDir, py.python, ['-c', checkCode(c)]);
    const stale = c.expect === 'stale';
    if (!stale && !c.jobImports && c.alert !== 'other' && bc.code === 0) throw new Error('the broken tree passes the check');
    const svcName = `sweep-${c.name.replace(/_/g, '-')}-${version.replace('.', '')}`;
    const alert = alertFor(c, brokenDir, py, svcName);
    // the repo the run sees: the broken tree, or the healthy twin for a stale alert
    const svc: Service = buildService({ name: c.name, files: stale ? files.healthy : files.broken } as unknown as Scenario, { python: py.python, parent: work });
    const target = { ...svc.target, name: svcName, modelsDir: c.modelsDir ?? 'backend/app/models', check: { ...svc.target.check!, command: [py.python, '-c', checkCode(c)] } };
    const targetsFile = path.join(work, 'targets.yaml');
    writeFileSync(targetsFile, JSON.stringify({ targets: [target] }, null, 2));
    const alertFile = path.join(work, 'alert.txt');
    writeFileSync(alertFile, alert);
    const res = await runCli(['run', 'sqlalchemy-mapper-failure', '--alert', alertFile, '--target', svcName, '--targets', targetsFile, '--platform', 'local', '--auto-approve', '--json'], {
      RUNWRIGHT_PREFIX: `rwsweep-${process.pid}-${Math.random().toString(36).slice(2, 8)}`,
      RUNWRIGHT_WORKDIR: path.join(work, 'rw'),
      RUNWRIGHT_LOCAL_PLATFORM_DIR: path.join(work, 'platform'),
    });
    let run: any = null;
    try {
      run = JSON.parse(res.stdout);
    } catch {
      throw new Error(`CLI exit ${res.code}, no JSON: ${res.stderr.slice(-600)}`);
    }
    writeFileSync(path.join(work, 'run.json'), JSON.stringify(run, null, 2));
    row.status = run.status;
    row.fix = run.steps?.apply?.output?.fix ?? '-';
    const newHead = git(svc.remote, ['rev-parse', 'main']);
    row.pushed = newHead !== svc.head;
    const outcome = String(run.outcome ?? '').replace(/\s+/g, ' ');
    const wrong = (why: string) => {
      row.verdict = 'WRONG';
      row.why = why;
    };
    if (c.expect === 'pushed') {
      if (!row.pushed) wrong(`nothing pushed: ${outcome.slice(0, 300)}`);
      else {
        const touched = git(svc.remote, ['diff', '--name-only', '--no-renames', svc.head, newHead]).split('\n').filter(Boolean);
        const fresh = path.join(work, 'verify');
        git(work, ['clone', '-q', svc.remote, fresh]);
        const chk = runPy(fresh, py.python, ['-c', checkCode(c)]);
        if (!touched.every((f) => f.startsWith(`${c.modelsDir ?? 'backend/app/models'}/`))) wrong(`touched outside the models folder: ${touched.join(', ')}`);
        else if (chk.code !== 0) wrong(`the pushed commit fails the check: ${chk.stderr.trim().split('\n').pop()}`);
        else {
          const after = new Set(mapped(fresh, c, py.python));
          const may = (n: string) => (c.mayLose ?? []).some((m) => m === n || (m.endsWith('.*') && n.startsWith(m.slice(0, -1))));
          const lost = before.filter((n) => !after.has(n) && !may(n));
          if (lost.length) wrong(`fix ${row.fix} lost ${lost.join(', ')}`);
          else if (c.fix && row.fix !== c.fix) wrong(`fix ${row.fix}, an expert would apply ${c.fix}`);
          else row.why = git(svc.remote, ['log', '-1', '--format=%s', 'main']);
        }
      }
    } else if (c.expect === 'escalated') {
      if (row.pushed) wrong('pushed to main');
      else if (run.status !== 'escalated' && run.status !== 'waiting_approval') wrong(`status ${run.status}: ${outcome.slice(0, 200)}`);
      else row.why = outcome.slice(0, 160);
    } else if (c.expect === 'stale') {
      if (row.pushed) wrong('pushed on a healthy repo');
      else if (run.status !== 'succeeded') wrong(`status ${run.status}: ${outcome.slice(0, 200)}`);
      else row.why = outcome.slice(0, 120);
    } else if (c.expect === 'not-this') {
      if (row.pushed) wrong('pushed for another error');
      else if (run.status === 'succeeded') wrong(`succeeded: ${outcome.slice(0, 200)}`);
      else row.why = outcome.slice(0, 160);
    }
    if (keep) row.why += ` [${work}]`;
    else rmSync(work, { recursive: true, force: true });
  } catch (e) {
    row.verdict = 'error';
    row.why = (e as Error).message.slice(0, 400);
  }
  row.secs = Math.round((Date.now() - t0) / 1000);
  return row;
}

async function main() {
  const cases = sweepCases().filter((c) => !only || only.includes(c.name));
  const jobs: [SweepCase, string][] = [];
  for (const c of cases) for (const v of versions) jobs.push([c, v]);
  const rows: Row[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < jobs.length) {
        const [c, v] = jobs[next++]!;
        const r = await runOne(c, v);
        rows.push(r);
        console.log(`${r.verdict.padEnd(5)} ${r.name} [${r.version}] expect=${r.expect} status=${r.status} fix=${r.fix} pushed=${r.pushed} ${r.secs}s  ${r.why}`);
      }
    }),
  );
  const count = (v: string) => rows.filter((r) => r.verdict === v).length;
  console.log(`\n# sweep: ${rows.length} runs: ${count('ok')} ok, ${count('WRONG')} wrong, ${count('error')} errors, ${count('skip')} skipped`);
  if (!keep) rmSync(tmp, { recursive: true, force: true });
  process.exit(count('WRONG') + count('error') > 0 ? 1 : 0);
}

await main();
