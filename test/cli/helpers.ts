// The runwright command as a user runs it: bin/runwright.js in a child process (sources through tsx), with a
// private Redis prefix, and a sample service (real git repos, real SQLAlchemy) made by the demo's generator.
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { createSampleService, type SampleVariant } from '../../src/demo/sample-service.js';
import { REDIS_URL, testPrefix } from '../helpers/redis.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BIN = path.join(ROOT, 'bin', 'runwright.js');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

export function cli(args: string[], opts: { env?: NodeJS.ProcessEnv; input?: string; cwd?: string; timeoutMs?: number } = {}): Promise<CliResult> {
  const t0 = Date.now();
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: opts.cwd ?? ROOT,
    env: { ...process.env, RUNWRIGHT_FROM_SOURCE: '1', LOG_LEVEL: '', ...opts.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  child.stdin.end(opts.input ?? '');
  const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 180_000);
  return new Promise((resolve) =>
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: Date.now() - t0 });
    }),
  );
}

/** The seed incident's alert text, as the job's log would carry it. */
export const SEED_ALERT =
  "sqlalchemy.exc.InvalidRequestError: When initializing mapper Mapper[Organization(organizations)], expression 'FeatureFlag' failed to locate a name ('FeatureFlag'). If this is a class name, consider adding this relationship() to the <class 'app.models.organization.Organization'> class after both dependent classes have been defined.";

export interface Sample {
  dir: string;
  targetsFile: string;
  alertFile: string;
  remote: string;
  env: NodeJS.ProcessEnv;
  /** `run sqlalchemy-mapper-failure --alert … --target content-worker --targets … --platform local` */
  runArgs: string[];
}

/** A broken sample service with its targets and alert files, and an env with a private prefix/workdir/platform dir. */
export async function sample(variant: SampleVariant = 'seed'): Promise<Sample> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'rw-cli-'));
  const svc = await createSampleService(path.join(dir, 'origin'), { variant });
  const targetsFile = path.join(dir, 'runwright.targets.yaml');
  writeFileSync(targetsFile, YAML.stringify({ targets: [svc.target] }));
  const alertFile = path.join(dir, 'alert.txt');
  writeFileSync(alertFile, SEED_ALERT + '\n');
  const env = { REDIS_URL, RUNWRIGHT_PREFIX: testPrefix('cli'), RUNWRIGHT_WORKDIR: path.join(dir, 'work'), RUNWRIGHT_LOCAL_PLATFORM_DIR: path.join(dir, 'platform') };
  return { dir, targetsFile, alertFile, remote: svc.remote, env, runArgs: ['run', 'sqlalchemy-mapper-failure', '--alert', alertFile, '--target', svc.target.name, '--targets', targetsFile, '--platform', 'local'] };
}

/** No stack trace: no "    at fn (file:line)" frames and no error class dumps. */
export function assertNoTrace(text: string): void {
  if (/^\s+at .+:\d+:\d+\)?$/m.test(text) || /MaxRetriesPerRequestError|node:internal/.test(text)) throw new Error(`a stack trace was printed:\n${text}`);
}
