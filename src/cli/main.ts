#!/usr/bin/env node
// The runwright CLI: validate runbooks, serve, and run a runbook against an alert while following it.
import './heap.js'; // first: sizes V8's young generation for `serve --role worker` before anything else loads
import { readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import type { Config } from '../config/config.js';
import type { Runbook } from '../core/runbook-model.js';
import { ValidationError, formatIssue } from '../core/errors.js';
import type { Target } from '../core/types.js';
import { NotFoundError } from '../engine/engine.js';
import { CliError, EXIT, UsageError, checkRedis } from './preflight.js';
import type { RunOpts } from './commands.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
function version(): string {
  try {
    return String(JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version);
  } catch {
    return 'unknown';
  }
}

async function cmdServe(opts: { role: string; port?: string }): Promise<number> {
  const role = opts.role;
  if (!['api', 'worker', 'all'].includes(role)) throw new UsageError(`--role must be api, worker or all (got '${role}')`);
  if (opts.port !== undefined && !/^\d{1,5}$/.test(opts.port)) throw new UsageError(`--port takes a port number (got '${opts.port}')`);
  // The configuration, runbooks and targets, validated. A worker has a child process do it and keeps only the result:
  // it never loads the YAML parser, zod or JSONata, nor the actions until a step runs (world-child.ts).
  const { config, world } = role === 'worker' ? await (await import('./world-child.js')).serveWorldInChild(opts.port) : (await import('./serve-world.js')).serveWorld(opts.port);
  for (const line of startupReport(config, world, role)) process.stderr.write(`runwright serve: ${line}\n`);
  await checkRedis(config.redisUrl);
  const { startServer } = await import('../api/server.js');
  await startServer({ config, role, world });
  return -1; // keeps running
}

/** What `serve` loaded, and loud warnings for what will not work: nobody can sign in, nothing to remediate. */
export function startupReport(config: Config, world: { runbooks: Map<string, Runbook>; targets: Map<string, Target> }, role: string): string[] {
  const lines: string[] = [];
  const rbs = [...world.runbooks.keys()];
  const tgs = [...world.targets.keys()];
  lines.push(`role ${role}; Redis ${config.redisUrl.replace(/\/\/[^@/]*@/, '//***@')} prefix ${config.prefix}`);
  lines.push(`${rbs.length} runbook${rbs.length === 1 ? '' : 's'} from ${config.runbooksDir}/${rbs.length ? `: ${rbs.join(', ')}` : ''}`);
  lines.push(`${tgs.length} target${tgs.length === 1 ? '' : 's'} from ${config.targetsFile}${tgs.length ? `: ${tgs.join(', ')}` : ''}`);
  const tokens = config.api.tokens;
  if (role !== 'worker') {
    lines.push(`${tokens.length} API token${tokens.length === 1 ? '' : 's'}${tokens.length ? ` (${tokens.map((t) => `${t.name}: ${t.role}`).join(', ')})` : ''}; dashboard at http://${config.http.host === '0.0.0.0' ? '127.0.0.1' : config.http.host}:${config.http.port}/dashboard/`);
    if (!tokens.length) lines.push('WARNING: no API tokens (RUNWRIGHT_API_TOKENS): nobody can sign in to the dashboard or use the runs API. Set e.g. RUNWRIGHT_API_TOKENS="oncall:approver:<16+ characters>"');
  }
  for (const rb of world.runbooks.values()) for (const w of rb.warnings ?? []) lines.push(`warning ${formatIssue(w)}`);
  if (!rbs.length) lines.push(`WARNING: no runbooks in ${config.runbooksDir} (RUNWRIGHT_RUNBOOKS): every alert will be ignored`);
  if (!tgs.length) lines.push(`WARNING: no targets (${existsSync(config.targetsFile) ? `${config.targetsFile} lists none` : `${config.targetsFile} not found`}; RUNWRIGHT_TARGETS): runs have nothing to remediate. Copy runwright.targets.yaml.example`);
  if (!config.slack.token || !config.slack.channel) lines.push('Slack not configured (SLACK_BOT_TOKEN, SLACK_CHANNEL): approvals and notices only in the dashboard and API');
  return lines;
}

export function program(): Command {
  const p = new Command('runwright').description('Incident-runbook automation').version(version(), '-V, --version').exitOverride().showHelpAfterError();
  p.command('validate')
    .description('validate runbooks (default: every runbook in the runbooks folder)')
    .argument('[files...]', 'runbook YAML files')
    .option('--json', 'machine-readable results')
    .action(async (files: string[], o) => finish(await (await import('./commands.js')).cmdValidate(files, o)));
  p.command('run')
    .description('submit a run and follow it step by step')
    .argument('[runbook]', 'runbook id or YAML file')
    .option('--alert <file|->', 'alert file (JSON or text), or - for stdin (required)')
    .option('--target <name>', 'target name (default: the one whose labels match the alert)')
    .option('--targets <file>', 'targets file (default runwright.targets.yaml)')
    .option('--platform <local|gcp>', 'override the target platform')
    .option('--input <name=value...>', 'runbook inputs')
    .option('--dry-run', 'plan side-effecting steps instead of doing them')
    .option('--auto-approve', 'approve approval gates automatically (recommended option)')
    .option('--timeout <seconds>', 'give up following after this long')
    .option('--json', 'print the final run record with every step outcome')
    .action(async (rb: string | undefined, o: RunOpts) => {
      if (o.platform && !['local', 'gcp'].includes(o.platform)) throw new UsageError(`--platform must be local or gcp`);
      finish(await (await import('./commands.js')).cmdRun(rb, o));
    });
  p.command('actions')
    .description('print the action reference (docs/ACTIONS.md): every action, its parameters and outputs')
    .action(async () => {
      const { actionsMarkdown } = await import('../actions/reference.js');
      const { defaultRegistry } = await import('../actions/index.js');
      process.stdout.write(actionsMarkdown(defaultRegistry()));
      finish(EXIT.ok);
    });
  p.command('report')
    .description('print the markdown incident report of a run')
    .argument('<run-id>', 'the run id')
    .option('--json', '{ runId, status, markdown }')
    .action(async (id: string, o) => finish(await (await import('./commands.js')).cmdReport(id, o)));
  p.command('serve')
    .description('run the service')
    .option('--role <role>', 'api | worker | all', 'all')
    .option('--port <port>', 'HTTP port')
    .action(async (o) => finish(await cmdServe(o)));
  return p;
}

let exitCode: number | undefined;
function finish(code: number) {
  if (code >= 0) exitCode = code;
}

export async function main(argv = process.argv): Promise<number> {
  try {
    await program().parseAsync(argv);
    if (exitCode !== undefined) {
      return exitCode;
    }
    return -1;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : EXIT.usage;
    if (e instanceof CliError) {
      process.stderr.write(`runwright: ${e.message}\n`);
      return e.exitCode;
    }
    if (e instanceof UsageError || e instanceof NotFoundError) {
      process.stderr.write(`runwright: ${e.message}\n`);
      return EXIT.usage;
    }
    if (e instanceof ValidationError) {
      for (const i of e.issues) process.stderr.write(`error ${formatIssue(i)}\n`);
      return EXIT.usage;
    }
    // Anything else is still one line; the stack only when asked for (LOG_LEVEL=debug).
    const debug = process.env.LOG_LEVEL === 'debug' || process.env.LOG_LEVEL === 'trace';
    process.stderr.write(`runwright: ${debug ? ((e as Error).stack ?? e) : ((e as Error).message ?? e)}${debug ? '' : ' (LOG_LEVEL=debug shows where)'}\n`);
    return EXIT.failed;
  }
}

const invoked = !!process.argv[1] && /[\\/]cli[\\/]main\.[jt]s$/.test(process.argv[1]);
if (invoked) {
  main().then((code) => {
    if (code >= 0) process.exit(code);
  });
}
