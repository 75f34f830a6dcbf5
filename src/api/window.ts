// Fixed-window counters in Redis, shared by every API replica: the intake's overload limit (per source and
// credential) and the failed-credential limit (per client address). Keys carry only a hash of what they count.
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';

/** INCR, the window's expiry set by the first hit (PEXPIRE NX), and the ms left only when over: one command. */
const HIT = `local n = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[1], 'NX')
if n <= tonumber(ARGV[2]) then return 0 end
local t = redis.call('PTTL', KEYS[1])
if t < 1 then return 1 end
return t`;

/** Hashed keys kept per window (the credentials of configured sources, client addresses); dropped when full. */
const KEY_MEMO = 1024;

export class RedisWindow {
  private readonly keys = new Map<string, string>();

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    readonly max: number,
    readonly windowMs: number,
  ) {
    redis.defineCommand('rwWindowHit', { numberOfKeys: 1, lua: HIT });
  }

  private key(parts: string[]): string {
    const joined = parts.join('\u0000');
    let k = this.keys.get(joined);
    if (k === undefined) {
      k = `${this.prefix}:${createHash('sha256').update(joined).digest('hex').slice(0, 40)}`;
      if (this.keys.size >= KEY_MEMO) this.keys.clear();
      this.keys.set(joined, k);
    }
    return k;
  }

  /** Count one more; returns the ms until the window ends when this one is over the limit, else 0. */
  async hit(...parts: string[]): Promise<number> {
    return Number(await (this.redis as any).rwWindowHit(this.key(parts), this.windowMs, this.max));
  }

  /** Without counting: the ms until the window ends when the limit is used up, else 0. */
  async blocked(...parts: string[]): Promise<number> {
    const k = this.key(parts);
    const res = (await this.redis.multi().get(k).pttl(k).exec()) ?? [];
    return Number(res[0]?.[1] ?? 0) >= this.max ? Math.max(Number(res[1]?.[1] ?? this.windowMs), 1) : 0;
  }
}
