// The CLI's configuration: loadConfig, with a bad value reported by the environment variable that holds it, and
// the shipped runbooks found next to the CLI when run outside the checkout. Loads zod (src/config/config.ts).
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig, type Config } from '../config/config.js';
import { ValidationError } from '../core/errors.js';
import { CliError } from './preflight.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

const CONFIG_VARS = /^(REDIS_URL|PORT|HOST|LOG_LEVEL|RUNWRIGHT_|SLACK_)/;

/**
 * loadConfig, but a bad value is reported by the environment variable that holds it: each candidate variable is
 * left out in turn and the one whose absence makes the complaint go away is the one named.
 */
export function loadConfigNamed(env: NodeJS.ProcessEnv = process.env, overrides: Parameters<typeof loadConfig>[1] = {}): Config {
  try {
    return loadConfig(env, overrides);
  } catch (e) {
    if (!(e instanceof ValidationError)) throw e;
    const lines = e.issues.map((i) => {
      const culprit = Object.keys(env).filter((k) => CONFIG_VARS.test(k)).find((k) => {
        const { [k]: _left, ...rest } = env;
        try {
          loadConfig(rest, overrides);
          return true;
        } catch (e2) {
          return !(e2 instanceof ValidationError && e2.issues.some((j) => j.path === i.path));
        }
      });
      const message = i.message.replace(/^config: /, '');
      return culprit ? `${culprit}=${JSON.stringify(env[culprit])}: ${message}` : `configuration ${i.path}: ${message}`;
    });
    throw new CliError(`bad configuration: ${lines.join('; ')}`, 2);
  }
}


/** The configuration; run outside the checkout (npm link), the shipped runbooks are found next to the CLI. */
export function cliConfig(overrides: Parameters<typeof loadConfigNamed>[1] = {}): Config {
  const config = loadConfigNamed(process.env, overrides);
  const shipped = path.join(ROOT, 'runbooks');
  if (!process.env.RUNWRIGHT_RUNBOOKS && !existsSync(config.runbooksDir) && existsSync(shipped)) return { ...config, runbooksDir: shipped };
  return config;
}

