// Fixed-window counters in Redis, shared by every API replica: the intake's overload limit (per source and
// credential) and the failed-credential limit (per client address). Keys carry only a hash of what they count.
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';

export class RedisWindow {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    readonly max: number,
    readonly windowMs: number,
  ) {}

  private key(parts: string[]): string {
    return `${this.prefix}:${createHash('sha256').update(parts.join('\u0000')).digest('hex').slice(0, 40)}`;
  }

  /** Count one more; returns the ms until the window ends when this one is over the limit, else 0. */
  async hit(...parts: string[]): Promise<number> {
    const k = this.key(parts);
    const res = (await this.redis.multi().incr(k).pexpire(k, this.windowMs, 'NX').pttl(k).exec()) ?? [];
    const n = Number(res[0]?.[1] ?? 0);
    return n > this.max ? Math.max(Number(res[2]?.[1] ?? this.windowMs), 1) : 0;
  }

  /** Without counting: the ms until the window ends when the limit is used up, else 0. */
  async blocked(...parts: string[]): Promise<number> {
    const k = this.key(parts);
    const res = (await this.redis.multi().get(k).pttl(k).exec()) ?? [];
    return Number(res[0]?.[1] ?? 0) >= this.max ? Math.max(Number(res[1]?.[1] ?? this.windowMs), 1) : 0;
  }
}
