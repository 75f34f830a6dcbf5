/**
 * deploy.rollback — put the target's job back on the image it ran before this run's deploy (deploy.job's
 * output.previousImage). gcp: Cloud Run updateJob with only the image changed (etag kept); local: the target's
 * current commit pointer. Nothing is executed. Re-run safe: a job already on that image is left alone.
 *
 * params   previousImage   the image (gcp: name@sha256:…) or commit (local) to restore
 * output   { image, target, platform }
 */
import { z } from 'zod';
import { defineAction } from '../../core/action.js';

export default defineAction({
  name: 'deploy.rollback',
  description: "Restore the job's previous image (or local commit); executes nothing",
  sideEffects: true,
  params: z.object({ previousImage: z.string().min(1) }),
  async run(p, ctx) {
    await ctx.progress(`rolling ${ctx.target.name} back to ${p.previousImage}`);
    const r = await ctx.ports.deploy.rollback(ctx.target, { previousImage: p.previousImage, key: ctx.idempotencyKey, signal: ctx.signal });
    ctx.logger.warn({ image: r.image }, 'rolled back');
    return { image: r.image, target: ctx.target.name, platform: ctx.target.platform };
  },
  async plan(p, ctx) {
    return { description: `roll ${ctx.target.name} back to ${p.previousImage}`, output: { image: p.previousImage, target: ctx.target.name, platform: ctx.target.platform } };
  },
});
