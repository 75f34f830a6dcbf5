import { z } from 'zod';
import { defineAction } from '../../core/action.js';

/** Waits `ms` milliseconds (honours the abort signal); returns { sleptMs, pid }. */
export default defineAction({
  name: 'sleep',
  description: 'Waits for ms milliseconds',
  sideEffects: false,
  params: z.object({ ms: z.number().int().min(0).max(3_600_000) }),
  async run(p, ctx) {
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(resolve, p.ms);
      ctx.signal.addEventListener('abort', () => { clearTimeout(t); reject(ctx.signal.reason ?? new Error('aborted')); }, { once: true });
    });
    return { sleptMs: p.ms, pid: process.pid };
  },
});
