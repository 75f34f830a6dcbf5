// Dashboard sessions, server-side in Redis: the browser holds only an opaque random session id (HttpOnly,
// SameSite=Strict cookie); Redis holds who it is, how they signed in and the CSRF token, under the sha256 of
// the id, with an expiry. Sign-out deletes it; rotating an API token ends every session opened with it (the
// session keeps the token's digest and is valid only while a configured token still has that digest).
// Failed credentials are counted per client address in Redis (shared by every API replica), where the client
// address is what the configured proxy hops say (RUNWRIGHT_TRUST_PROXY), so X-Forwarded-For cannot reset it.
import { createHash, randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Principal, TokenAuth } from './auth.js';
import type { Identities } from './approvers.js';
import { HttpError } from './errors.js';
import { RedisWindow } from './window.js';

export const SESSION_COOKIE = 'runwright_session';

export interface Session {
  id: string;
  principal: Principal;
  csrf: string;
  via: 'token' | 'iap';
  expiresAt: number;
}

interface Stored {
  name: string;
  via: 'token' | 'iap';
  /** hex sha256 of the API token (via token), or the IAP email (via iap). */
  credential: string;
  csrf: string;
  expiresAt: number;
}

const sha = (s: string) => createHash('sha256').update(s).digest('hex');

export class SessionStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly ttlMs: number,
    private readonly tokens: TokenAuth,
    private readonly identities: Identities,
  ) {}

  private key(id: string): string {
    return `${this.prefix}:session:${sha(id)}`;
  }

  async create(principal: Principal, via: 'token', token: string): Promise<Session>;
  async create(principal: Principal, via: 'iap', email: string): Promise<Session>;
  async create(principal: Principal, via: 'token' | 'iap', credential: string): Promise<Session> {
    const id = randomBytes(32).toString('base64url');
    const stored: Stored = { name: principal.name, via, credential: via === 'token' ? sha(credential) : credential, csrf: randomBytes(24).toString('base64url'), expiresAt: Date.now() + this.ttlMs };
    await this.redis.set(this.key(id), JSON.stringify(stored), 'PX', this.ttlMs);
    return { id, principal, csrf: stored.csrf, via, expiresAt: stored.expiresAt };
  }

  /** The live session for this id: unknown, expired, signed out or opened with a token no longer configured → null. */
  async get(id: string | undefined): Promise<Session | null> {
    if (!id || id.length > 200) return null;
    const raw = await this.redis.get(this.key(id));
    if (!raw) return null;
    let s: Stored;
    try {
      s = JSON.parse(raw) as Stored;
    } catch {
      return null;
    }
    const principal = s.via === 'token' ? this.tokens.byDigest(s.credential) : this.identities.fromEmail(s.credential);
    if (!principal || principal.name !== s.name || s.expiresAt <= Date.now()) return null;
    return { id, principal, csrf: s.csrf, via: s.via, expiresAt: s.expiresAt };
  }

  async destroy(id: string): Promise<void> {
    await this.redis.del(this.key(id));
  }
}

/** Failed credentials per client address, in Redis; over the limit the client is refused until the window ends. */
export class FailureLimiter {
  private readonly window: RedisWindow;
  constructor(redis: Redis, prefix: string, max: number, windowMs: number) {
    this.window = new RedisWindow(redis, `${prefix}:authfail`, max, windowMs);
  }
  /** ms until this client may try again, or 0 when it is not blocked. */
  blockedFor(client: string): Promise<number> {
    return this.window.blocked(client);
  }
  async fail(client: string): Promise<void> {
    await this.window.hit(client);
  }
}

/** 429 with Retry-After while a client address has used up its failed credentials. */
export async function refuseIfBlocked(failures: FailureLimiter, client: string): Promise<void> {
  const wait = await failures.blockedFor(client);
  if (wait > 0) throw new HttpError(429, 'too_many_failures', `too many failed credentials from this client; try again in ${Math.ceil(wait / 1000)} s`, 'authorization', Math.ceil(wait / 1000));
}
