// Configuration: read from the environment once, validated here, nowhere else.
import { z } from 'zod';
import { ValidationError } from '../core/errors.js';

const duration = z.union([z.number(), z.string()]);

export const ConfigSchema = z.object({
  redisUrl: z.string().url().default('redis://127.0.0.1:6379'),
  /** Key prefix for every Redis key runwright writes (BullMQ queues included). */
  prefix: z.string().regex(/^[A-Za-z0-9_.-]+$/).default('runwright'),
  /** Where runs keep clones and worktrees. */
  workdir: z.string().default('.runwright/work'),
  runbooksDir: z.string().default('runbooks'),
  targetsFile: z.string().default('runwright.targets.yaml'),
  /** Days to keep finished runs (0 = forever). */
  retentionDays: z.coerce.number().min(0).default(30),
  worker: z.object({
    concurrency: z.coerce.number().int().min(1).max(1000).default(8),
    /** BullMQ job lock: a worker that dies holding a step loses it after this long. */
    lockDurationMs: z.coerce.number().int().min(500).default(30_000),
    stalledIntervalMs: z.coerce.number().int().min(200).default(15_000),
  }).default({ concurrency: 8, lockDurationMs: 30_000, stalledIntervalMs: 15_000 }),
  http: z.object({
    host: z.string().default('0.0.0.0'),
    port: z.coerce.number().int().min(0).max(65535).default(8080),
    publicUrl: z.string().optional(),
  }).default({ host: '0.0.0.0', port: 8080 }),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});
export type Config = z.infer<typeof ConfigSchema>;
export { duration };

/** Build the config from environment variables (RUNWRIGHT_*, REDIS_URL) plus explicit overrides. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: Partial<Record<keyof Config, unknown>> = {}): Config {
  const raw: Record<string, unknown> = {
    redisUrl: env.REDIS_URL,
    prefix: env.RUNWRIGHT_PREFIX,
    workdir: env.RUNWRIGHT_WORKDIR,
    runbooksDir: env.RUNWRIGHT_RUNBOOKS,
    targetsFile: env.RUNWRIGHT_TARGETS,
    retentionDays: env.RUNWRIGHT_RETENTION_DAYS,
    worker: {
      concurrency: env.RUNWRIGHT_WORKER_CONCURRENCY,
      lockDurationMs: env.RUNWRIGHT_LOCK_DURATION_MS,
      stalledIntervalMs: env.RUNWRIGHT_STALLED_INTERVAL_MS,
    },
    http: { host: env.HOST, port: env.PORT, publicUrl: env.RUNWRIGHT_PUBLIC_URL },
    logLevel: env.LOG_LEVEL,
    ...overrides,
  };
  const parsed = ConfigSchema.safeParse(stripUndefined(raw));
  if (!parsed.success) {
    throw new ValidationError(parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: `config: ${i.message}` })));
  }
  return parsed.data;
}

function stripUndefined(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(stripUndefined);
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) if (x !== undefined && x !== '') out[k] = stripUndefined(x);
    return out;
  }
  return v;
}

/** "30s", "5m", "4h", "250ms", "1d" or a number of ms → ms. */
export function parseDuration(v: string | number): number {
  if (typeof v === 'number') return v;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(v);
  if (!m) throw new Error(`bad duration ${JSON.stringify(v)} (use e.g. 250ms, 30s, 5m, 4h, 1d)`);
  const n = Number(m[1]);
  const mult = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[(m[2] ?? 'ms') as 'ms'];
  return Math.round(n * mult);
}
