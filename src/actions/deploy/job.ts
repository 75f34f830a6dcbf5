/**
 * deploy.job — point the target's job at the build and execute it, waiting for the execution.
 * gcp: Cloud Run JobsClient — read the job, change only the container image to the build's digest (etag kept),
 * run it and wait for the execution's operation; local: run the target's local.command in the build's worktree,
 * every output line captured as a timestamped log entry with a severity.
 * A failed execution is recorded, not thrown (deploy.verify_logs judges it) unless requireSuccess is set.
 *
 * params
 *   build           deploy.build's output (at least commit; gcp needs image by digest; local needs its checkout, or
 *                   artifactDir)
 *   timeout         how long to wait for the execution (default: config gcp.executionTimeoutMs / local.executionTimeoutMs)
 *   requireSuccess  fail the step (permanent) when the execution fails (default false)
 * output (DeployResult)
 *   { executionName, status: succeeded|failed, startedAt, finishedAt, image, previousImage (what rollback restores),
 *     taskCounts: { succeeded, failed, cancelled }, details }
 */
import { z } from 'zod';
import { defineAction } from '../../core/action.js';
import { PermanentError } from '../../core/errors.js';
import type { BuildResult } from '../../ports/index.js';
import { DURATION, SHA, json, ms } from './lib/common.js';
import { CHECKOUT } from '../lib/checkout.js';

const build = z
  .object({
    buildId: z.string().min(1),
    commit: SHA,
    image: z.string().optional(),
    imageDigest: z.string().optional(),
    artifactDir: z.string().optional(),
    /** A local build's worktree by checkout name (deploy.build's output): found on this worker by that, not by artifactDir. */
    checkout: CHECKOUT.optional(),
    logUrl: z.string().optional(),
  })
  .passthrough();

export default defineAction({
  name: 'deploy.job',
  description: "Point the target's job at the build, execute it and wait; records execution name, task counts and status",
  sideEffects: true,
  params: z.object({ build, timeout: DURATION.optional(), requireSuccess: z.boolean().default(false) }),
  async run(p, ctx) {
    await ctx.progress(`deploying ${p.build.image ?? p.build.commit.slice(0, 12)} to ${ctx.target.platform === 'gcp' ? `job ${ctx.target.gcp?.job}` : `local job of ${ctx.target.name}`}`);
    const build = { ...p.build } as BuildResult & { checkout?: string };
    if (build.checkout) build.artifactDir = await ctx.checkout(build.checkout);
    const r = await ctx.ports.deploy.deploy(ctx.target, { build, key: ctx.idempotencyKey, signal: ctx.signal, timeoutMs: ms(p.timeout) });
    ctx.logger.info({ execution: r.executionName, status: r.status, taskCounts: r.taskCounts, image: r.image, previousImage: r.previousImage }, 'job executed');
    await ctx.progress(`execution ${r.executionName} ${r.status}`);
    if (p.requireSuccess && r.status !== 'succeeded') throw new PermanentError(`execution ${r.executionName} failed`, 'execution_failed', json(r));
    return json(r);
  },
  async plan(p, ctx) {
    return {
      description: `deploy ${p.build.image ?? p.build.commit} to ${ctx.target.platform === 'gcp' ? `Cloud Run job ${ctx.target.gcp?.job} (${ctx.target.gcp?.region})` : `the local job of ${ctx.target.name}`} and execute it`,
      details: { command: ctx.target.platform === 'local' ? (ctx.target.local?.command ?? null) : null },
      output: { executionName: 'dry-run', status: 'succeeded', startedAt: new Date().toISOString(), image: p.build.image ?? p.build.commit, taskCounts: { succeeded: 1, failed: 0, cancelled: 0 } },
    };
  },
});
