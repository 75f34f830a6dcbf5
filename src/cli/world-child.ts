// `serve --role worker` loads its configuration, runbooks and targets in a short-lived child process
// (serve-world.ts) and keeps only the validated result, sent back over IPC with structured clone (Maps, plain data).
// The YAML parser, zod, JSONata and the action modules are loaded, and the start-up garbage of parsing made, in that
// child, whose memory is the system's again when it exits: the idle worker never holds them (≈ 10 MB of RSS;
// `npm run bench -- --only parked`, docs/BENCHMARKS.md). A worker thread was measured too: its heap goes when it
// ends, but ≈ 4–5 MB of the process's RSS stayed. Errors come back as the classes the CLI prints: a runbook's
// ValidationError still names file and line, a bad setting its environment variable.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { fork } from 'node:child_process';
import type { Config } from '../config/config.js';
import type { Runbook } from '../core/runbook-model.js';
import type { Target } from '../core/types.js';
import { ValidationError } from '../core/errors.js';
import type { World } from '../engine/bootstrap.js';
import { CliError, UsageError } from './preflight.js';
import type { ChildError } from './serve-world.js';

type Reply = { ok: true; config: Config; runbooks: Map<string, Runbook>; targets: Map<string, Target> } | { ok: false; error: ChildError };

export async function serveWorldInChild(port?: string): Promise<{ config: Config; world: World }> {
  const here = fileURLToPath(import.meta.url);
  const fromSource = here.endsWith('.ts');
  const entry = path.join(path.dirname(here), `serve-world${fromSource ? '.ts' : '.js'}`);
  // This process's Node flags, but not the inspector's (with --inspect-brk the child would wait for a debugger and
  // serve would never start). From the TypeScript sources bin/runwright.js registers tsx in this process only: the
  // child needs it named.
  const inherited = process.execArgv.filter((a) => !/^--(inspect|debug)/.test(a));
  const execArgv = fromSource && !inherited.some((a, i) => a === 'tsx' && inherited[i - 1] === '--import') ? [...inherited, '--import', 'tsx'] : inherited;
  const child = fork(entry, ['--serve-world', port ?? ''], { serialization: 'advanced', execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const reply = await new Promise<Reply>((resolve, reject) => {
    child.once('message', (m) => resolve(m as Reply));
    child.once('error', reject);
    void exited.then((code) => reject(new Error(`the process loading the configuration and runbooks exited (code ${code}) without an answer`)));
  });
  await exited; // it disconnects and ends once its answer is sent
  if (reply.ok) return { config: reply.config, world: { runbooks: reply.runbooks, targets: reply.targets } };
  const e = reply.error;
  if (e.kind === 'validation') throw new ValidationError(e.issues);
  if (e.kind === 'cli') throw new CliError(e.message, e.exitCode);
  if (e.kind === 'usage') throw new UsageError(e.message);
  throw Object.assign(new Error(e.message), { stack: e.stack ?? e.message });
}
