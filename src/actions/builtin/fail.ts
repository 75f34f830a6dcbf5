import { z } from 'zod';
import { defineAction } from '../../core/action.js';
import { PermanentError, RetryableError } from '../../core/errors.js';

/** Always fails: `retryable` decides whether the step's retry policy applies. */
export default defineAction({
  name: 'fail',
  description: 'Fails with `message`',
  sideEffects: false,
  params: z.object({ message: z.string().default('failed on purpose'), retryable: z.boolean().default(false) }),
  async run(p) {
    throw p.retryable ? new RetryableError(p.message) : new PermanentError(p.message);
  },
});
