// What the CLI checks before it starts anything, so a failure is one line naming the thing to fix:
// Redis (named by its address, answered within seconds); the configuration is checked in cli-config.ts.
// Nothing here loads zod or the YAML parser (`serve --role worker` imports this in its main thread).
import { Redis } from 'ioredis';

/** The CLI's exit codes. */
export const EXIT = { ok: 0, failed: 1, usage: 2, parked: 3 } as const;

/** Bad usage (an unknown runbook, a missing file): one line, exit code 2. */
export class UsageError extends Error {}

/** A failure of the user's input or environment: one line, no stack, the documented exit code. */
export class CliError extends Error {
  constructor(message: string, readonly exitCode: number) {
    super(message);
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
