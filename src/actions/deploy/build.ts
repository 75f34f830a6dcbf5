/**
 * deploy.build — build exactly the pushed commit, never a working tree (the seed's Mistake 2).
 * gcp: Cloud Build from gitSource { url, revision: sha } with the target's build config as committed; local: a
 * fresh git worktree at the sha plus the target's optional local.build command. A commit the remote does not have
 * is refused.
 *
 * params
 *   checkout the run's checkout, by name (default `repo`, the run's clone): used to check the remote and to read
 *            the build config; the deprecated `dir` (an absolute path) is accepted for one release
 *   sha      the commit to build (40 hex; normally deploy.push's output.sha)
 *   timeout  how long to wait for the build (default: config gcp.buildTimeoutMs / local.executionTimeoutMs)
 * output (BuildResult)
 *   { buildId, commit, image (gcp: name@sha256:…, local: the sha), imageDigest?, logUrl, artifactDir? and checkout?
 *     (local: the build's worktree, a path on this worker and its checkout name), details }
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { defineAction } from '../../core/action.js';
import { DURATION, SHA, json, ms } from './lib/common.js';
import { IN_CHECKOUT, checkoutDir, checkoutName } from '../lib/checkout.js';

export default defineAction({
  name: 'deploy.build',
  description: 'Build the exact pushed commit (Cloud Build from the git remote, or a clean local worktree)',
  sideEffects: true,
  changesCheckouts: 'made', // the build runs in the artifact worktree it makes; the run's clone is only read
  params: z.object({ ...IN_CHECKOUT, sha: SHA, timeout: DURATION.optional() }),
  async run(p, ctx) {
    const repoDir = await checkoutDir(ctx, p);
    await ctx.progress(`building ${p.sha.slice(0, 12)} on ${ctx.target.platform}`);
    const r = await ctx.ports.build.build(ctx.target, { commit: p.sha, repoDir, key: ctx.idempotencyKey, signal: ctx.signal, timeoutMs: ms(p.timeout) });
    ctx.logger.info({ buildId: r.buildId, image: r.image, logUrl: r.logUrl, commit: r.commit }, 'built');
    // A local build's worktree by its checkout name: deploy.job finds it by that on whichever worker runs it.
    return json(r.artifactDir && existsSync(path.join(r.artifactDir, '.git')) ? { ...r, checkout: checkoutName(ctx, r.artifactDir) } : r);
  },
  async plan(p, ctx) {
    const how = ctx.target.platform === 'gcp' ? `Cloud Build (${ctx.target.gcp?.buildConfig ?? 'cloudbuild.yaml'}) from ${ctx.target.gcp?.repoUrl ?? ctx.target.repo}` : 'a clean local worktree';
    return {
      description: `build commit ${p.sha.slice(0, 12)} of ${ctx.target.name} with ${how}`,
      output: { buildId: 'dry-run', commit: p.sha, image: ctx.target.platform === 'gcp' ? `${ctx.target.gcp?.image ?? 'image'}@sha256:${'0'.repeat(64)}` : p.sha },
    };
  },
});
