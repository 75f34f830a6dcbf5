import { pino } from 'pino';
import type { Logger } from './core/action.js';

/** Cloud Logging's LogSeverity for each pino level (it reads `severity` from a JSON log line). */
const SEVERITY: Record<string, string> = { trace: 'DEBUG', debug: 'DEBUG', info: 'INFO', warn: 'WARNING', error: 'ERROR', fatal: 'CRITICAL' };

/** On Cloud Run (K_SERVICE / K_JOB) or wherever GOOGLE_CLOUD_PROJECT is set, log lines carry `severity`. */
export function onGoogleCloud(env: NodeJS.ProcessEnv = process.env): boolean {
  return !!(env.K_SERVICE || env.K_JOB || env.GOOGLE_CLOUD_PROJECT);
}

/** Structured JSON logs. Secrets are redacted by key wherever they appear. */
export function createLogger(opts: { level?: string; name?: string; destination?: NodeJS.WritableStream; env?: NodeJS.ProcessEnv } = {}): Logger & pino.Logger {
  const level = opts.level ?? process.env.LOG_LEVEL ?? 'info';
  return pino(
    {
      name: opts.name ?? 'runwright',
      level,
      ...(onGoogleCloud(opts.env) ? { formatters: { level: (label: string, n: number) => ({ severity: SEVERITY[label] ?? 'DEFAULT', level: n }) } } : {}),
      redact: {
        paths: ['*.token', '*.password', '*.secret', '*.signingSecret', '*.authorization', 'headers.authorization', 'req.headers.authorization', 'req.headers["x-slack-signature"]', '*.apiTokens', 'config.slack.token'],
        censor: '[redacted]',
      },
    },
    (opts.destination as any) ?? pino.destination({ dest: 2, sync: false }),
  ) as any;
}

/** A logger that drops everything (tests, CLI quiet mode). */
export function silentLogger(): Logger & pino.Logger {
  return pino({ level: 'silent' }) as any;
}
