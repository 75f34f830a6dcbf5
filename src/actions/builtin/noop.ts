import { z } from 'zod';
import { defineAction } from '../../core/action.js';

/** Does nothing; returns `value` (or {}) as its output. Useful for wiring and benchmarks. */
export default defineAction({
  name: 'noop',
  description: 'Does nothing and returns `value` as output',
  sideEffects: false,
  params: z.object({ value: z.any().optional() }).passthrough(),
  async run(params) {
    return (params.value ?? {}) as any;
  },
});
