import { z } from 'zod';
import { defineAction } from '../../core/action.js';

/** Returns its params as output: lets a runbook compute values with expressions. */
export default defineAction({
  name: 'set',
  description: 'Outputs its (template-resolved) params',
  sideEffects: false,
  params: z.record(z.string(), z.any()),
  async run(p) {
    return p as any;
  },
});
