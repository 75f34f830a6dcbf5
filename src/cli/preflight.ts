// What the CLI checks before it starts anything, so a failure is one line naming the thing to fix:
// the configuration (named by its environment variable), Redis (named by its address, answered within seconds).
import { Redis } from 'ioredis';
import { loadConfig, type Config } from '../config/config.js';
import { ValidationError } from '../core/errors.js';

/** A failure of the user's input or environment: one line, no stack, the documented exit code. */
export class CliError extends Error {
  constructor(message: string, readonly exitCode: number) {
    super(message);
  }
}

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

/** The address without credentials, for messages. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString().replace(/\/$/, '');
  } catch {
    return url;
  }
}

/** Fails within about `timeoutMs` when nothing answers PING at the configured Redis, naming the address. */
export async function checkRedis(url: string, timeoutMs = 1500): Promise<void> {
  const r = new Redis(url, { lazyConnect: true, connectTimeout: timeoutMs, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false });
  let seen: NodeJS.ErrnoException | undefined;
  r.on('error', (e: NodeJS.ErrnoException) => {
    seen ??= e;
  });
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      r.connect().then(() => r.ping()),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${(timeoutMs / 1000).toFixed(1)} s`)), timeoutMs);
      }),
    ]);
  } catch (e) {
    const err = seen ?? (e as NodeJS.ErrnoException);
    const why = (err.code ?? err.message).replace(/\.$/, '');
    throw new CliError(`Redis is not answering at ${redactUrl(url)} (REDIS_URL): ${why}. Start redis-server or point REDIS_URL at one.`, 1);
  } finally {
    clearTimeout(timer);
    r.disconnect();
  }
}
