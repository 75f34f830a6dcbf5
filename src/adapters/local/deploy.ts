// DeployPort for the local platform: "deploying" points the target at the built commit and executes the job —
// the target's local.command (an argv, no shell) run in the build's worktree — capturing every stdout/stderr line
// as a timestamped log entry with a severity (see lineToEntry) into the shared platform directory, where the local
// LogsPort (in this or any other process) reads them.
//
// Re-run safe: the execution name derives from the idempotency key; a finished execution is returned as recorded,
// an unfinished one (the process died mid-run) is run again from the start.
import { existsSync } from 'node:fs';
import type { BuildResult, DeployPort, DeployResult, ProcessPort } from '../../ports/index.js';
import type { Target } from '../../core/types.js';
import { PermanentError, RetryableError } from '../../core/errors.js';
import { resolveInside } from '../../core/safe-path.js';
import { LocalPlatform, executionName, lineToEntry } from './platform.js';
import { runtimeOf } from '../../actions/lib/target-run.js';
import { headOf } from './git.js';

export class LocalDeploy implements DeployPort {
  constructor(private readonly proc: ProcessPort, private readonly platformDir: string, private readonly defaultTimeoutMs = 10 * 60_000) {}

  async deploy(target: Target, opts: { build: BuildResult; key: string; signal?: AbortSignal; timeoutMs?: number }): Promise<DeployResult> {
    const job = target.local;
    if (!job?.command?.length) throw new PermanentError(`target ${target.name} has no local.command to run`, 'target_not_local');
    const platform = new LocalPlatform(this.platformDir, target);
    const name = executionName(target, opts.key);
    const done = platform.readExecution(name);
    if (done?.finishedAt && done.result) return done.result;

    const { commit, artifactDir } = opts.build;
    if (!artifactDir || !existsSync(artifactDir)) throw new PermanentError(`build of ${commit} has no artifact directory on this host: build it first`, 'artifact_missing', { artifactDir: artifactDir ?? null });
    const head = await headOf(artifactDir).catch(() => '');
    if (head !== commit) throw new PermanentError(`artifact ${artifactDir} is at ${head || '?'}, not ${commit}`, 'artifact_mismatch');

    const state = platform.readState();
    const previousImage = state && state.image !== commit ? state.image : state?.previousImage;
    platform.writeState({ image: commit, previousImage, artifactDir, updatedAt: new Date().toISOString(), key: opts.key, execution: name });

    const startedAt = new Date().toISOString();
    const logFile = platform.startExecution({ name, key: opts.key, commit, startedAt });
    const cwd = resolveInside(artifactDir, job.workdir ?? '.');
    let lines = 0;
    // Target code: its runtime, an allowlisted environment (its declared env + the job contract), sandboxed.
    const res = await this.proc.runTarget(job.command, {
      root: artifactDir,
      cwd,
      target,
      // Cloud Run's job environment contract, so the same code runs unchanged on both platforms (COMMIT_SHA as in Cloud Build).
      env: { ...job.env, PYTHONUNBUFFERED: '1', CLOUD_RUN_JOB: target.name, CLOUD_RUN_EXECUTION: name, CLOUD_RUN_TASK_INDEX: '0', CLOUD_RUN_TASK_ATTEMPT: '0', CLOUD_RUN_TASK_COUNT: '1', COMMIT_SHA: commit },
      timeoutMs: opts.timeoutMs ?? job.timeoutMs ?? this.defaultTimeoutMs,
      signal: opts.signal,
      onLine: (stream, line) => {
        lines++;
        platform.append(name, lineToEntry(stream, line, name));
      },
    });
    if (opts.signal?.aborted) throw new RetryableError(`execution ${name} aborted`, 'aborted', { execution: name });
    const ok = res.code === 0 && !res.timedOut;
    const result: DeployResult = {
      executionName: name,
      status: ok ? 'succeeded' : 'failed',
      startedAt,
      finishedAt: new Date().toISOString(),
      previousImage,
      image: commit,
      taskCounts: { succeeded: ok ? 1 : 0, failed: ok ? 0 : 1, cancelled: 0 },
      details: { exitCode: res.code, timedOut: res.timedOut, durationMs: res.durationMs, command: job.command, cwd, artifactDir, logFile, lines, runtime: runtimeOf(res.run) },
    };
    platform.finishExecution({ name, key: opts.key, commit, startedAt, finishedAt: result.finishedAt, result });
    return result;
  }

  async rollback(target: Target, opts: { previousImage: string; key: string }): Promise<{ image: string }> {
    if (!/^[0-9a-f]{40}$/.test(opts.previousImage)) throw new PermanentError(`the local platform rolls back to a commit sha, got ${JSON.stringify(opts.previousImage)}`, 'bad_image');
    const platform = new LocalPlatform(this.platformDir, target);
    const state = platform.readState();
    if (state?.image === opts.previousImage) return { image: opts.previousImage }; // already there (re-run)
    platform.writeState({ image: opts.previousImage, previousImage: state?.image, updatedAt: new Date().toISOString(), key: opts.key });
    return { image: opts.previousImage };
  }
}
