import { pino } from 'pino';
import type { Logger } from './core/action.js';

/** Structured JSON logs. Secrets are redacted by key wherever they appear. */
export function createLogger(opts: { level?: string; name?: string; destination?: NodeJS.WritableStream } = {}): Logger & pino.Logger {
  const level = opts.level ?? process.env.LOG_LEVEL ?? 'info';
  return pino(
    {
      name: opts.name ?? 'runwright',
      level,
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
