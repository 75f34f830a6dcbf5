import { z } from 'zod';
import { defineAction } from '../../core/action.js';
import { RetryableError } from '../../core/errors.js';

/** Fails (retryably) until the step's attempt number reaches `succeedOnAttempt`. */
export default defineAction({
  name: 'flaky',
  description: 'Fails retryably until attempt N',
  sideEffects: false,
  params: z.object({ succeedOnAttempt: z.number().int().min(1) }),
  async run(p, ctx) {
    if (ctx.step.attempt < p.succeedOnAttempt) throw new RetryableError(`attempt ${ctx.step.attempt} fails on purpose`);
    return { attempt: ctx.step.attempt };
  },
});
