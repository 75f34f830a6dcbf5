// Shared bits of the chaos tests: CI-sized or full (`npm run chaos` sets RUNWRIGHT_CHAOS=full), and waiting for
// state that has no event to subscribe to (a log line, a key, a process) by checking it until it holds.
export const FULL = process.env.RUNWRIGHT_CHAOS === 'full';

/** Resolve with the first truthy value of `probe()`, checked every `everyMs`; reject after `timeoutMs` saying `what`. */
export async function eventually<T>(what: string, probe: () => T | Promise<T>, timeoutMs = 20_000, everyMs = 25): Promise<NonNullable<T>> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v as NonNullable<T>;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
