// What the Slack notifiers share: work done in the background (never awaited by a run), retried with jittered
// exponential backoff, sleeps that close() cuts short, and idle() for tests to await instead of sleeping.
import type { Logger } from '../../core/action.js';
import { errorInfo } from '../../core/errors.js';

export abstract class BackgroundWork {
  private readonly inflight = new Set<Promise<void>>();
  private readonly sleeping = new Map<NodeJS.Timeout, () => void>();
  protected closed = false;
  protected readonly base: number;
  protected readonly max: number;

  constructor(retry: { baseMs?: number; maxMs?: number } | undefined, private readonly bgLog: Logger, private readonly failure: string) {
    this.base = retry?.baseMs ?? 1000;
    this.max = retry?.maxMs ?? 60_000;
  }

  protected track(p: Promise<void>): void {
    const q = p.catch((e) => this.bgLog.warn({ err: errorInfo(e) }, this.failure)).finally(() => this.inflight.delete(q));
    this.inflight.add(q);
  }

  /** Resolves when nothing is in flight (tests await this instead of sleeping). */
  async idle(): Promise<void> {
    while (this.inflight.size) await Promise.allSettled([...this.inflight]);
  }

  protected sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.sleeping.delete(t);
        resolve();
      }, ms);
      this.sleeping.set(t, resolve);
    });
  }

  protected backoff(attempt: number): number {
    const exp = Math.min(this.max, this.base * 2 ** (attempt - 1));
    return Math.round(exp / 2 + Math.random() * (exp / 2));
  }

  /** Stop retrying and wait for what is in flight. */
  async close(): Promise<void> {
    this.closed = true;
    for (const [t, resolve] of this.sleeping) {
      clearTimeout(t);
      resolve();
    }
    this.sleeping.clear();
    await this.idle();
  }
}
