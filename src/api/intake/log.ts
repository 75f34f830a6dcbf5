// What intake did with each alert (started, attached, throttled, no match, skipped): a capped Redis stream,
// so an unmatched alert is recorded with its reason and the dashboard can show recent intake.
import type { Redis } from 'ioredis';
import type { Journal } from '../../engine/store.js';

export type IntakeOutcome = 'started' | 'attached' | 'throttled' | 'refused' | 'no_match' | 'skipped';

export interface IntakeRecord {
  id?: string;
  at: string;
  source: string;
  fingerprint?: string;
  severity?: string;
  text?: string;
  outcome: IntakeOutcome;
  reason?: string;
  runId?: string;
  runbook?: string;
  target?: string;
  retryInMs?: number;
}

export const intakeRecordSchema = {
  $id: 'IntakeRecord',
  type: 'object',
  required: ['at', 'source', 'outcome'],
  properties: {
    id: { type: 'string' },
    at: { type: 'string', format: 'date-time' },
    source: { type: 'string' },
    fingerprint: { type: 'string' },
    severity: { type: 'string' },
    text: { type: 'string', description: 'first 300 characters of the alert text' },
    outcome: { type: 'string', enum: ['started', 'attached', 'throttled', 'refused', 'no_match', 'skipped'] },
    reason: { type: 'string' },
    runId: { type: 'string' },
    runbook: { type: 'string' },
    target: { type: 'string' },
    retryInMs: { type: 'integer' },
  },
} as const;

export class IntakeLog {
  constructor(private readonly redis: Redis, private readonly prefix: string, private readonly maxLen = 5000) {}

  private get key(): string {
    return `${this.prefix}:intake`;
  }

  /** The journal that makes the engine write this record (outcome and runId its own) when the alert attaches. */
  journal(record: Omit<IntakeRecord, 'outcome' | 'runId'>): Journal {
    return { stream: this.key, maxLen: this.maxLen, entry: record };
  }

  async add(records: IntakeRecord[]): Promise<void> {
    if (!records.length) return;
    const pipe = this.redis.pipeline();
    for (const r of records) pipe.xadd(this.key, 'MAXLEN', '~', String(this.maxLen), '*', 'e', JSON.stringify(r));
    await pipe.exec();
  }

  /** Newest first; `before` is an id from a previous page. */
  async list(opts: { limit?: number; before?: string } = {}): Promise<{ records: IntakeRecord[]; next?: string }> {
    const limit = Math.min(Math.max(opts.limit ?? 50, 1), 500);
    const rows = (await this.redis.xrevrange(this.key, opts.before ? `(${opts.before}` : '+', '-', 'COUNT', limit)) as [string, string[]][];
    const records = rows.map(([id, f]) => ({ ...(JSON.parse(f[1]!) as IntakeRecord), id }));
    return { records, next: records.length === limit ? records[records.length - 1]!.id : undefined };
  }
}
