// `npm run demo`: the seed incident end to end on the local platform, printed step by step as it happens.
//
// 1. A sample service (git repo + bare remote, src/demo/sample-service.ts) whose Organization model has the seed's
//    broken relationship("FeatureFlag"); its job is "deployed" on the local platform and fails — real SQLAlchemy —
//    and the alert is made from the job's own captured error lines, as a log sink would.
// 2. The engine (Redis, BullMQ, an in-process worker) runs runbooks/sqlalchemy-mapper-failure.yaml on that alert with
//    auto-approve: identify → checkout → confirm → inspect → plan → fix → commit → pre-flight → push → build →
//    deploy → verify, whatever the runbook's graph says.
// 3. The outcome and the wall time.
//
//   npm run demo                       the seed: the fix cures the job
//   npm run demo -- --variant not-cured   a second broken model the check never sees: verify catches it
//   npm run demo -- --keep             keep the temp dir (repos, worktrees, platform dir with the job logs)
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { randomBytes } from 'node:crypto';
import YAML from 'yaml';
import { loadConfig } from '../config/config.js';
import { parseRunbook } from '../core/runbook.js';
import { readFileSync } from 'node:fs';
import { withDeployTail } from './deploy-tail.js';
import type { Alert, RunRecord, StepEvent, Target } from '../core/types.js';
import { defaultRegistry } from '../actions/index.js';
import { Engine } from '../engine/engine.js';
import { silentLogger } from '../logging.js';
import { formatEvent } from '../cli/format.js';
import { LocalGit } from '../adapters/local/git.js';
import { LocalProcess } from '../adapters/local/process.js';
import { LocalBuild } from '../adapters/local/build.js';
import { LocalDeploy } from '../adapters/local/deploy.js';
import { LocalLogs } from '../adapters/local/logs.js';
import { createSampleService, type SampleVariant } from './sample-service.js';
import { dropPrefix } from '../engine/drop-prefix.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const DEMO_RUNBOOK = path.join(ROOT, 'runbooks', 'sqlalchemy-mapper-failure.yaml');

export interface DemoResult {
  run: RunRecord;
  events: StepEvent[];
  alert: Alert;
  target: Target;
  remote: string;
  platformDir: string;
  root: string;
  wallMs: number;
}

export interface DemoOptions {
  redisUrl: string;
  variant?: SampleVariant;
  /** where the step lines go (default stdout) */
  print?: (line: string) => void;
  /** keep the temp dir (default: removed) */
  keep?: boolean;
  runbookFile?: string;
  timeoutMs?: number;
  /** plan every side-effecting step instead of doing it */
  dryRun?: boolean;
  /** runbook inputs (e.g. rollbackOnFailure) */
  inputs?: Record<string, unknown>;
}

/** The incident: the service's current head, built and run on the local platform, fails; its error lines make the alert. */
async function incident(target: Target, root: string, platformDir: string): Promise<{ alert: Alert; execution: string }> {
  const git = new LocalGit();
  const proc = new LocalProcess();
  const { dir, head } = await git.clone(target, path.join(root, 'incident', 'repo'));
  const build = await new LocalBuild(git, proc).build(target, { commit: head, repoDir: dir, key: 'incident.build' });
  const dep = await new LocalDeploy(proc, platformDir).deploy(target, { build, key: 'incident.deploy' });
  const { entries } = await new LocalLogs(platformDir).query(target, { since: dep.startedAt, textFilter: ['sqlalchemy'], minSeverity: 'ERROR', execution: dep.executionName });
  if (dep.status !== 'failed' || entries.length === 0) throw new Error('the sample service did not fail as the seed says it should');
  const text = entries.find((e) => /failed to locate a name|failed to initialize/.test(e.text))?.text ?? entries[0]!.text;
  return {
    execution: dep.executionName,
    alert: {
      source: 'demo',
      fingerprint: `demo-${randomBytes(4).toString('hex')}`,
      severity: 'error',
      text,
      labels: { service: target.name },
      resource: { type: 'runwright_local_job', labels: { job_name: target.name, execution_name: dep.executionName } },
      receivedAt: new Date().toISOString(),
    },
  };
}

export async function runDemo(opts: DemoOptions): Promise<DemoResult> {
  const t0 = Date.now();
  const print = opts.print ?? ((l: string) => process.stdout.write(l + '\n'));
  const root = mkdtempSync(path.join(os.tmpdir(), 'runwright-demo-'));
  const platformDir = path.join(root, 'platform');
  const prefix = `runwright-demo-${randomBytes(4).toString('hex')}`;
  let engine: Engine | undefined;
  try {
    const svc = await createSampleService(path.join(root, 'origin'), { variant: opts.variant });
    const target = svc.target;
    writeFileSync(path.join(root, 'runwright.targets.yaml'), YAML.stringify({ targets: [target] }));
    print(`sample service ${target.name}: remote ${svc.remote} at ${svc.head.slice(0, 12)} (backend/app/models/organization.py: relationship("FeatureFlag"), no such model)`);

    const { alert, execution } = await incident(target, root, platformDir);
    print(`incident: its job ${execution} failed; alert from its log: ${alert.text.slice(0, 160)}${alert.text.length > 160 ? '…' : ''}`);

    const config = loadConfig({ ...process.env, REDIS_URL: opts.redisUrl }, { prefix, workdir: path.join(root, 'work'), targetsFile: path.join(root, 'runwright.targets.yaml'), local: { platformDir } });
    const registry = defaultRegistry();
    const file = opts.runbookFile ?? DEMO_RUNBOOK;
    const { source, appended } = withDeployTail(readFileSync(file, 'utf8'));
    if (appended) print(`(${path.basename(file)} has no deploy steps yet: running it with build → deploy → verify appended after push, src/demo/deploy-tail.ts)`);
    const rb = parseRunbook(source, file, registry.catalog());
    const runbooks = new Map([[rb.id, rb]]);
    engine = await Engine.create({ config, runbooks, targets: new Map([[target.name, target]]), registry, logger: silentLogger() });
    await engine.startWorker({ concurrency: 2 });

    let runId: string | undefined;
    const early: StepEvent[] = [];
    const shown = new Set<string>();
    const show = (ev: StepEvent) => {
      if (ev.id && shown.has(ev.id)) return;
      if (ev.id) shown.add(ev.id);
      print(formatEvent(ev, { dryRun: opts.dryRun }));
    };
    const off = await engine.store.subscribe((ev) => {
      if (!runId) early.push(ev);
      else if (ev.runId === runId) show(ev);
    });
    const res = await engine.submit({ runbookId: rb.id, alert, target: target.name, autoApprove: true, dryRun: opts.dryRun, inputs: opts.inputs as never });
    if (res.result === 'throttled') throw new Error('throttled');
    runId = res.run.id;
    print(`run ${runId}: runbook ${rb.id} (${rb.steps.length} steps) on ${target.name} [local], auto-approve`);
    for (const ev of early.splice(0)) if (ev.runId === runId) show(ev);
    const run = await engine.waitForEnd(runId, opts.timeoutMs ?? 10 * 60_000);
    await off();
    const events = await engine.store.events(runId);
    for (const ev of events) show(ev); // the last ones may still be in flight on pub/sub
    return { run, events, alert, target, remote: svc.remote, platformDir, root, wallMs: Date.now() - t0 };
  } finally {
    await engine?.close();
    await dropPrefix(opts.redisUrl, prefix);
    if (!opts.keep) rmSync(root, { recursive: true, force: true });
  }
}

/** The lines worth reading at the end: what each deploy step recorded. */
export function summarize(r: DemoResult): string[] {
  const out = [`\nrun ${r.run.id} ${r.run.status.toUpperCase()}${r.run.outcome ? ` — ${r.run.outcome.trim()}` : ''}`];
  const s = r.run.steps;
  for (const [id, st] of Object.entries(s)) {
    const o = st.output as Record<string, any> | undefined;
    if (!o || typeof o !== 'object') continue;
    if ('toTargetBranch' in o || ('branch' in o && 'pushed' in o)) out.push(`  ${id}: pushed ${String(o.sha).slice(0, 12)} to ${o.branch} of ${o.remote}${o.pushed ? '' : ' (already there)'}`);
    else if ('buildId' in o) out.push(`  ${id}: build ${o.buildId}, artifact ${o.image ?? o.commit}${o.logUrl ? `, log ${o.logUrl}` : ''}`);
    else if ('executionName' in o && 'taskCounts' in o) out.push(`  ${id}: execution ${o.executionName} ${o.status} (tasks ${JSON.stringify(o.taskCounts)})`);
    else if ('filter' in o && 'count' in o) out.push(`  ${id}: ${o.count} matching log entries for ${o.filter}`);
  }
  for (const [id, st] of Object.entries(s)) {
    const d = st.error?.details as Record<string, any> | undefined;
    if (st.status === 'failed' && d?.filter) {
      out.push(`  ${id} FAILED: ${st.error!.message}`);
      for (const e of (d.entries ?? []).slice(0, 5)) out.push(`    ${e.timestamp} ${e.severity} ${String(e.text).slice(0, 150)}`);
    }
  }
  out.push(`wall time ${(r.wallMs / 1000).toFixed(1)} s`);
  return out;
}

/**
 * `--keep`: besides the demo's own (now fixed) copy, a fresh broken sample to try by hand — its targets file, an
 * alert file with the job's error text, and the exact commands that use them.
 */
export async function keepSample(root: string, variant: SampleVariant, alertText: string): Promise<string[]> {
  const dir = path.join(root, 'sample');
  const svc = await createSampleService(path.join(dir, 'origin'), { variant });
  const targets = path.join(dir, 'runwright.targets.yaml');
  // Deny by default: serve refuses a runbook gate nobody may decide, so the sample names the printed token's user.
  writeFileSync(targets, YAML.stringify({ targets: [{ ...svc.target, approvers: [...(svc.target.approvers ?? []), 'oncall'] }] }));
  const alert = path.join(dir, 'alert.txt');
  writeFileSync(alert, alertText.trim() + '\n');
  const token = randomBytes(12).toString('hex');
  const q = (p: string) => (/^[\w@%+=:,./-]+$/.test(p) ? p : `'${p.replace(/'/g, `'\\''`)}'`);
  return [
    '',
    `kept ${root} — the demo's own run is in work/ and platform/; a fresh broken sample to try by hand is in ${dir}:`,
    `  ${targets}   (target ${svc.target.name}: its repo ${svc.remote}, still broken)`,
    `  ${alert}   (the job's error line, as an alert)`,
    '',
    'Run the runbook on it from this folder (needs Redis at REDIS_URL, default redis://127.0.0.1:6379; add --dry-run to only plan):',
    `  npx runwright run sqlalchemy-mapper-failure --alert ${q(alert)} --target ${svc.target.name} --targets ${q(targets)} --platform local --auto-approve`,
    '',
    'Or serve the API and dashboard on it (sign in at http://127.0.0.1:8080/dashboard/ with the token below; oncall may approve):',
    `  RUNWRIGHT_TARGETS=${q(targets)} RUNWRIGHT_API_TOKENS=oncall:admin:${token} npx runwright serve`,
  ];
}

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  const variant: SampleVariant = args.includes('--variant') && args[args.indexOf('--variant') + 1] === 'not-cured' ? 'second-broken-model' : 'seed';
  const keep = args.includes('--keep');
  const { ensureRedis } = (await import(pathToFileURL(path.join(ROOT, 'scripts', 'ensure-redis.mjs')).href)) as { ensureRedis(): Promise<{ url: string; stop(): Promise<void> }> };
  const redis = await ensureRedis();
  try {
    console.log(`runwright demo — the seed incident on the local platform${variant === 'seed' ? '' : ' (variant: the fix does not cure the job)'}\n`);
    const r = await runDemo({ redisUrl: redis.url, variant, keep });
    for (const l of summarize(r)) console.log(l);
    if (keep) for (const l of await keepSample(r.root, variant, r.alert.text)) console.log(l);
    return r.run.status === 'succeeded' ? 0 : 1;
  } finally {
    await redis.stop();
  }
}

if (process.argv[1] && /[\\/]demo[\\/]demo\.[jt]s$/.test(process.argv[1])) {
  main().then(
    (code) => process.exit(code),
    (e) => {
      console.error(e);
      process.exit(2);
    },
  );
}
