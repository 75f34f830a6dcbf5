// What `serve` loads before it starts: the configuration, the runbooks (parsed and validated) and the targets.
// In-process for the api and all roles; `serve --role worker` runs this module as a child process (world-child.ts),
// which sends the validated result back and ends, taking the YAML parser, zod and the action code with it.
import type { Config } from '../config/config.js';
import { loadWorld, type World } from '../engine/bootstrap.js';
import { ValidationError } from '../core/errors.js';
import { CliError, UsageError } from './preflight.js';
import { cliConfig, loadConfigNamed } from './cli-config.js';

export function serveWorld(port?: string): { config: Config; world: World } {
  const config = cliConfig(port ? { http: { ...loadConfigNamed().http, port: Number(port) } } : {});
  return { config, world: loadWorld(config) };
}

/** An error as the parent rebuilds it (world-child.ts): its class decides the exit code and how it is printed. */
export type ChildError = { kind: 'validation'; issues: ValidationError['issues'] } | { kind: 'cli'; message: string; exitCode: number } | { kind: 'usage' | 'error'; message: string; stack?: string };

if (process.send && process.argv[2] === '--serve-world') {
  const post = (m: unknown) => process.send!(m, () => process.disconnect()); // then nothing keeps this process alive
  try {
    const { config, world } = serveWorld(process.argv[3] || undefined);
    post({ ok: true, config, runbooks: world.runbooks, targets: world.targets }); // the registry (functions) stays here
  } catch (e) {
    const error: ChildError =
      e instanceof ValidationError ? { kind: 'validation', issues: e.issues }
      : e instanceof CliError ? { kind: 'cli', message: e.message, exitCode: e.exitCode }
      : { kind: e instanceof UsageError ? 'usage' : 'error', message: (e as Error).message ?? String(e), stack: (e as Error).stack };
    post({ ok: false, error });
  }
}
