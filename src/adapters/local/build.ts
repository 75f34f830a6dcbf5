// BuildPort for the local platform: the artifact is the commit itself, checked out in a fresh detached git
// worktree (clean by construction: nothing of any working copy can leak in), plus the target's optional build
// command (local.build, an argv) run inside it. Like Cloud Build, it builds only a commit the remote has.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { BuildPort, BuildResult, GitPort, ProcessPort } from '../../ports/index.js';
import type { Target } from '../../core/types.js';
import { PermanentError, RetryableError } from '../../core/errors.js';
import { resolveInside } from '../../core/safe-path.js';

const SHA = /^[0-9a-f]{40}$/;

export class LocalBuild implements BuildPort {
  constructor(private readonly git: GitPort, private readonly proc: ProcessPort, private readonly defaultTimeoutMs = 10 * 60_000) {}

  async build(target: Target, opts: { commit: string; repoDir: string; key: string; signal?: AbortSignal; timeoutMs?: number }): Promise<BuildResult> {
    const commit = opts.commit;
    if (!SHA.test(commit)) throw new PermanentError(`not a full commit sha: ${JSON.stringify(commit)}`, 'bad_commit');
    const buildsDir = path.join(path.dirname(opts.repoDir), 'builds');
    mkdirSync(buildsDir, { recursive: true });
    const wt = path.join(buildsDir, commit.slice(0, 12));
    // Always a fresh worktree: a re-run must not build on top of an earlier attempt's outputs.
    await this.git.removeWorktree(opts.repoDir, wt);
    // The worktree is checked out while the remote is asked (nothing runs in it before the answer): when this clone
    // lacks the commit it is made after the remote's answer, which fetched it.
    const making = this.git.worktree(opts.repoDir, commit, wt).then(() => true, () => false);
    const onRemote = await this.git.remoteHasCommit(opts.repoDir, commit).catch(async (e: unknown) => {
      if (await making) await this.git.removeWorktree(opts.repoDir, wt).catch(() => undefined);
      throw e;
    });
    const made = await making;
    if (!onRemote) {
      await this.git.removeWorktree(opts.repoDir, wt);
      throw new PermanentError(`commit ${commit} is not on the remote of ${target.name}: push it before building`, 'commit_not_pushed', { commit });
    }
    if (!made) {
      await this.git.removeWorktree(opts.repoDir, wt);
      await this.git.worktree(opts.repoDir, commit, wt);
    }
    const status = await this.git.status(wt);
    if (!status.clean) throw new PermanentError(`worktree of ${commit} is not clean: ${status.files.join(', ')}`, 'build_not_clean');

    const logFile = path.join(buildsDir, `${commit.slice(0, 12)}.build.log`);
    const argv = target.local?.build;
    let exitCode: number | null = null;
    let durationMs = 0;
    if (argv?.length) {
      const cwd = resolveInside(wt, target.local?.workdir ?? '.');
      const res = await this.proc.runTarget(argv, { root: wt, cwd, target, env: { ...target.local?.env, COMMIT_SHA: commit }, timeoutMs: opts.timeoutMs ?? this.defaultTimeoutMs, signal: opts.signal });
      exitCode = res.code;
      durationMs = res.durationMs;
      writeFileSync(logFile, `$ ${JSON.stringify(argv)}\n${res.stdout}${res.stderr}`);
      const facts = { commit, exitCode, logFile, tail: (res.stdout + res.stderr).split('\n').slice(-20).join('\n') };
      if (res.timedOut) throw new RetryableError(`build command timed out after ${durationMs} ms`, 'build_timeout', facts);
      if (opts.signal?.aborted) throw new RetryableError('build aborted', 'aborted', facts);
      if (res.code !== 0) throw new PermanentError(`build command exited ${res.code}`, 'build_failed', facts);
    } else {
      writeFileSync(logFile, `worktree of ${commit} (no build command)\n`);
    }
    return {
      buildId: `local-${commit.slice(0, 12)}`,
      commit,
      image: commit,
      artifactDir: wt,
      logUrl: pathToFileURL(logFile).href,
      details: { worktree: wt, buildCommand: argv ?? null, exitCode, durationMs },
    };
  }
}
