// Real Redis for tests: REDIS_URL (default redis://127.0.0.1:6379); unique key prefix per test.
import { randomBytes } from 'node:crypto';
import { dropPrefix } from '../../src/engine/drop-prefix.js';

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

export function testPrefix(name = 't'): string {
  return `rwtest-${name.replace(/[^a-z0-9]/gi, '').slice(0, 20)}-${randomBytes(4).toString('hex')}`;
}

/** Delete every key under a prefix (call in after()). */
export async function cleanupPrefix(prefix: string): Promise<void> {
  await dropPrefix(REDIS_URL, prefix);
}
