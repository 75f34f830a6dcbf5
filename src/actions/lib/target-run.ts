// How target code ran (ProcessPort.runTarget), as JSON for a step output.
import type { ActionContext } from '../../core/action.js';
import { PermanentError } from '../../core/errors.js';
import type { Json } from '../../core/types.js';
import type { TargetRunInfo } from '../../ports/index.js';

export function runtimeOf(run: TargetRunInfo): { [k: string]: Json } {
  return {
    sandbox: run.sandbox,
    python: run.python,
    venv: run.venv ? { key: run.venv.key, from: run.venv.from, built: run.venv.built, ...(run.venv.buildMs !== undefined ? { buildMs: run.venv.buildMs } : {}) } : null,
    env: run.envNames,
  };
}

/** On gcp (unless gcp.checkIn is worker): the target's check inside its candidate image, in Cloud Build (BuildPort.checkInImage). */
export function checksInImage(ctx: ActionContext): boolean {
  return ctx.target.platform === 'gcp' && ctx.target.gcp?.checkIn !== 'worker';
}

/** The check of the commit checked out at `dir`, run in the target's own image; shaped like a local check's result. */
export async function checkInImage(ctx: ActionContext, dir: string) {
  const check = ctx.target.check!;
  if (!ctx.ports.build.checkInImage) throw new PermanentError(`the build port of ${ctx.target.platform} cannot run a check in an image`, 'check_in_image_unsupported');
  const head = await ctx.ports.proc.run(['git', 'rev-parse', 'HEAD'], { cwd: dir, timeoutMs: 30_000 });
  const commit = head.stdout.trim();
  if (head.code !== 0 || !/^[0-9a-f]{40}$/.test(commit)) throw new PermanentError(`cannot read the commit checked out at ${dir}`, 'no_head');
  await ctx.progress(`running the check of ${ctx.target.name} at ${commit.slice(0, 12)} inside its image (Cloud Build)`);
  const r = await ctx.ports.build.checkInImage(ctx.target, { commit, repoDir: dir, key: `${ctx.idempotencyKey}.check.${commit.slice(0, 12)}`, signal: ctx.signal });
  return {
    passed: r.passed,
    exitCode: r.passed ? 0 : 1,
    timedOut: false,
    durationMs: r.durationMs,
    argv: check.command,
    cwd: check.cwd ?? '.',
    output: r.output,
    runtime: { sandbox: 'cloud-build', image: r.image, buildId: r.buildId, logUrl: r.logUrl ?? null, pushedBranch: r.pushedBranch ?? null } as { [k: string]: Json },
  };
}
