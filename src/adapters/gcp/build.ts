// BuildPort on Cloud Build (@google-cloud/cloudbuild, REST transport).
//
// Builds exactly the pushed commit and nothing else (the seed's Mistake 2 — uploading a modified working tree —
// cannot happen): the build's source is `gitSource { url: <the target's https remote>, revision: <commit sha> }` (or
// `connectedRepository { repository: <2nd-gen repository resource>, revision }` for private repos behind a Cloud
// Build connection), so Cloud Build fetches the remote itself; a commit the remote does not have is refused before
// anything is submitted. The
// build steps come from the target's build config file *as committed at that sha* (read from a detached worktree,
// like `gcloud builds submit --config`), and the source dir is the config file's folder (`cd backend &&
// gcloud builds submit --config=cloudbuild.yaml` in the seed).
//
// Re-run safe: every build carries the tag `rw-<hash of the idempotency key>`; a re-delivered step finds that
// build (listBuilds filter on the tag) and waits for it instead of starting a second one.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { CloudBuildClient, protos } from '@google-cloud/cloudbuild';
import YAML from 'yaml';
import type { BuildPort, BuildResult, GitPort, ImageCheckResult } from '../../ports/index.js';
import type { Json, Target } from '../../core/types.js';
import { PermanentError, RetryableError } from '../../core/errors.js';
import { resolveInside } from '../../core/safe-path.js';
import { clientOptions, type GcpSettings } from './auth.js';
import { callOptions, enumName, gcpError, isoTime, keyToken, lroCallOptions, pollUntil, waitOperation } from './ops.js';

type Build = protos.google.devtools.cloudbuild.v1.IBuild;
const BuildStatus = protos.google.devtools.cloudbuild.v1.Build.Status as unknown as Record<string | number, string | number>;

const RUNNING = new Set(['STATUS_UNKNOWN', 'PENDING', 'QUEUED', 'WORKING']);
/** Finished builds a re-delivered step may adopt; the others (internal error, expired, cancelled, timeout) get a new build on retry. */
const ADOPTABLE_DONE = new Set(['SUCCESS', 'FAILURE']);
const SHA = /^[0-9a-f]{40}$/;
/** A Cloud Build 2nd-gen repository resource (private GitHub/GitLab through a connection). */
const CONNECTED_REPO = /^projects\/[^/\s]+\/locations\/[^/\s]+\/connections\/[^/\s]+\/repositories\/[^/\s]+$/;

export function gcpTarget(target: Target): NonNullable<Target['gcp']> {
  const g = target.gcp;
  if (!g?.project || !g.region || !g.job) throw new PermanentError(`target ${target.name} has no gcp section (project, region, job)`, 'target_not_gcp');
  return g;
}

export class GcpBuild implements BuildPort {
  private client?: CloudBuildClient;
  constructor(private readonly s: GcpSettings, private readonly git: GitPort) {}

  private api(): CloudBuildClient {
    return (this.client ??= new CloudBuildClient(clientOptions(this.s, 'cloudbuild')));
  }

  async close(): Promise<void> {
    await this.client?.close();
    this.client = undefined;
  }

  async build(target: Target, opts: { commit: string; repoDir: string; key: string; signal?: AbortSignal; timeoutMs?: number }): Promise<BuildResult> {
    const g = gcpTarget(target);
    const commit = opts.commit;
    const { url, source, dir } = this.sourceOf(target, commit);
    // Only what the remote has: Cloud Build fetches `revision` from `url`, never from this machine.
    if (!(await this.git.remoteHasCommit(opts.repoDir, commit))) {
      throw new PermanentError(`commit ${commit} is not on the remote of ${target.name}: push it before building`, 'commit_not_pushed', { commit });
    }
    const configPath = g.buildConfig ?? 'cloudbuild.yaml';
    const config = await this.readBuildConfig(opts.repoDir, commit, configPath);
    const parent = `projects/${g.project}/locations/${g.region}`;
    const tag = `rw-${keyToken(opts.key)}`;
    const timeoutMs = opts.timeoutMs ?? this.s.buildTimeoutMs;
    const { build, reused } = await this.findOrSubmit(parent, tag, { ...config, source, tags: [...asStrings(config.tags), tag, `rw-commit-${commit.slice(0, 12)}`] }, timeoutMs, opts.signal);
    return this.result(build, { commit, url, dir, configPath, reused, image: g.image });
  }

  /** The target's check inside the candidate image: the target's own build steps build the image from the commit,
   * then one more step runs check.command in it (source at /workspace, cwd check.cwd). `images` and `artifacts` are
   * dropped: a check build pushes nothing. A failing check fails the build; the result says which step failed. */
  async checkInImage(target: Target, opts: { commit: string; repoDir: string; key: string; signal?: AbortSignal; timeoutMs?: number }): Promise<ImageCheckResult> {
    const g = gcpTarget(target);
    const check = target.check;
    if (!check?.command.length) throw new PermanentError(`target ${target.name} has no check command`, 'no_check');
    const commit = opts.commit;
    const { url, source, dir } = this.sourceOf(target, commit);
    let pushedBranch: string | undefined;
    if (!(await this.git.remoteHasCommit(opts.repoDir, commit))) {
      // Cloud Build fetches from the remote: the candidate goes to a branch of its own, never the target branch.
      pushedBranch = `runwright/check-${commit.slice(0, 12)}`;
      if (pushedBranch === target.branch) throw new PermanentError('refusing to push a check candidate to the target branch', 'check_branch');
      await this.git.push(opts.repoDir, { branch: pushedBranch, sha: commit });
    }
    const configPath = g.buildConfig ?? 'cloudbuild.yaml';
    const config = await this.readBuildConfig(opts.repoDir, commit, configPath);
    const images = asStrings((config as { images?: unknown }).images);
    const want = g.image ? stripTag(g.image) : undefined;
    const image = (want && images.find((i) => stripTag(i) === want)) || images[0];
    if (!image) throw new PermanentError(`${configPath} lists no image under images: runwright runs the check in the image it builds`, 'check_image_unknown', { config: configPath });
    const cwd = path.posix.normalize(path.posix.join('/workspace', check.cwd ?? '.'));
    if (!cwd.startsWith('/workspace')) throw new PermanentError('check.cwd must stay inside the repository', 'bad_check_cwd');
    const steps = [...((config.steps ?? []) as unknown[])];
    const timeoutMs = check.timeoutMs ?? 120_000;
    const checkStep = {
      id: 'runwright-check',
      name: image,
      entrypoint: check.command[0],
      args: check.command.slice(1),
      dir: cwd,
      env: Object.entries({ PYTHONDONTWRITEBYTECODE: '1', ...(target.runtime?.env ?? {}), ...(check.env ?? {}) }).map(([k, v]) => `${k}=${v}`),
      timeout: { seconds: Math.ceil(timeoutMs / 1000) },
    };
    const { images: _pushed, artifacts: _stored, ...rest } = config as Record<string, unknown>;
    const parent = `projects/${g.project}/locations/${g.region}`;
    const tag = `rw-${keyToken(opts.key)}`;
    const started = Date.now();
    const { build: b } = await this.findOrSubmit(parent, tag, { ...(rest as Build), steps: [...(steps as Build['steps'] & unknown[]), checkStep], source, tags: [...asStrings(config.tags), tag, 'rw-check', `rw-commit-${commit.slice(0, 12)}`] }, opts.timeoutMs ?? this.s.buildTimeoutMs, opts.signal);
    const status = this.status(b);
    const detail = b.failureInfo?.detail || b.statusDetail || '';
    const failedStep = /build step (\d+)/.exec(detail);
    const facts: Record<string, Json> = { buildId: b.id ?? null, logUrl: b.logUrl ?? null, status, repoUrl: url, revision: commit, dir, config: configPath, image, failure: detail || null, pushedBranch: pushedBranch ?? null };
    const result = (passed: boolean, output: string): ImageCheckResult => ({ passed, buildId: String(b.id), logUrl: b.logUrl ?? undefined, image, commit, output, durationMs: Date.now() - started, pushedBranch, details: facts });
    if (status === 'SUCCESS') return result(true, `the check passed in ${image} (Cloud Build ${b.id})`);
    if (status === 'FAILURE' && failedStep && Number(failedStep[1]) === steps.length) return result(false, `the check failed in ${image} (Cloud Build ${b.id}, log ${b.logUrl ?? 'n/a'}): ${detail}`);
    if (status === 'FAILURE') throw new PermanentError(`the candidate image did not build (Cloud Build ${b.id}): ${detail || 'see the build log'}`, 'image_build_failed', facts);
    if (status === 'TIMEOUT') throw new RetryableError(`the check build ${b.id} timed out`, 'check_timeout', facts);
    throw new RetryableError(`the check build ${b.id} ended ${status}`, 'build_not_successful', facts);
  }

  private sourceOf(target: Target, commit: string) {
    const g = gcpTarget(target);
    if (!SHA.test(commit)) throw new PermanentError(`not a full commit sha: ${JSON.stringify(commit)}`, 'bad_commit');
    const url = g.repoUrl ?? target.repo;
    const connected = CONNECTED_REPO.test(url);
    if (!connected && !/^https:\/\/[^\s]+$/.test(url)) {
      throw new PermanentError(`Cloud Build fetches the source itself: set gcp.repoUrl of target ${target.name} to an https URL or a 2nd-gen repository (projects/…/locations/…/connections/…/repositories/…); repo is ${JSON.stringify(url)}`, 'bad_repo_url');
    }
    const dir = path.posix.dirname(g.buildConfig ?? 'cloudbuild.yaml');
    const where = { revision: commit, ...(dir !== '.' ? { dir } : {}) };
    const source = connected ? { connectedRepository: { repository: url, ...where } } : { gitSource: { url, ...where } };
    return { url, source, dir };
  }

  /** The build of this idempotency key (waited for when still running), else a new one. */
  private async findOrSubmit(parent: string, tag: string, build: Build, timeoutMs: number, signal?: AbortSignal): Promise<{ build: Build; reused: boolean }> {
    let b = await this.findTagged(parent, tag);
    const reused = b !== undefined;
    if (b && RUNNING.has(this.status(b))) b = await this.pollBuild(parent, String(b.id), timeoutMs, signal);
    if (!b) b = await this.submit(parent, build, timeoutMs, signal);
    return { build: b, reused };
  }

  /** The build config as committed at `sha`: a detached worktree (clean by construction), read through resolveInside. */
  private async readBuildConfig(repoDir: string, sha: string, rel: string): Promise<Build & { tags?: unknown }> {
    const wt = path.join(path.dirname(repoDir), `.rw-buildconfig-${sha.slice(0, 12)}`);
    let text: string;
    try {
      await this.git.worktree(repoDir, sha, wt);
      const file = resolveInside(wt, rel);
      try {
        text = readFileSync(file, 'utf8');
      } catch {
        throw new PermanentError(`build config ${rel} does not exist at ${sha.slice(0, 12)}`, 'build_config_missing', { path: rel, commit: sha });
      }
    } finally {
      await this.git.removeWorktree(repoDir, wt);
    }
    let cfg: unknown;
    try {
      cfg = YAML.parse(text);
    } catch (e) {
      throw new PermanentError(`build config ${rel} is not valid YAML: ${(e as Error).message}`, 'build_config_invalid');
    }
    if (!cfg || typeof cfg !== 'object' || !Array.isArray((cfg as { steps?: unknown }).steps) || (cfg as { steps: unknown[] }).steps.length === 0) {
      throw new PermanentError(`build config ${rel} has no steps`, 'build_config_invalid');
    }
    const { source: _ignored, ...rest } = cfg as Record<string, unknown>; // the source is always the pushed commit
    return rest as Build;
  }

  private async findTagged(parent: string, tag: string): Promise<Build | undefined> {
    let builds: Build[];
    try {
      [builds] = await this.api().listBuilds({ parent, filter: `tags="${tag}"`, pageSize: 10 }, { ...callOptions(this.s), autoPaginate: false });
    } catch (e) {
      throw gcpError(e, 'Cloud Build listBuilds', { parent });
    }
    return builds.find((b) => ADOPTABLE_DONE.has(this.status(b)) || RUNNING.has(this.status(b)));
  }

  private async submit(parent: string, build: Build, timeoutMs: number, signal?: AbortSignal): Promise<Build> {
    let op;
    try {
      [op] = await this.api().createBuild({ parent, build }, lroCallOptions(this.s, timeoutMs));
    } catch (e) {
      throw gcpError(e, 'Cloud Build createBuild', { parent });
    }
    try {
      const { result } = await waitOperation<Build, protos.google.devtools.cloudbuild.v1.IBuildOperationMetadata>(op as any, { timeoutMs, signal, what: `Cloud Build ${op.name}` });
      return result;
    } catch (e) {
      if (e instanceof RetryableError) throw e; // timeout/abort: the build goes on; a retry finds it by its tag
      // The operation failed: the build ran and did not succeed. Its id is in the operation's metadata.
      const id = (op.metadata as protos.google.devtools.cloudbuild.v1.IBuildOperationMetadata | null)?.build?.id;
      if (!id) throw gcpError(e, `Cloud Build operation ${op.name}`);
      return await this.getBuild(parent, id);
    }
  }

  private async getBuild(parent: string, id: string): Promise<Build> {
    try {
      const [b] = await this.api().getBuild({ name: `${parent}/builds/${id}` }, callOptions(this.s));
      return b;
    } catch (e) {
      throw gcpError(e, 'Cloud Build getBuild', { build: id });
    }
  }

  private async pollBuild(parent: string, id: string, timeoutMs: number, signal?: AbortSignal): Promise<Build> {
    return await pollUntil(async () => {
      const b = await this.getBuild(parent, id);
      return RUNNING.has(this.status(b)) ? undefined : b;
    }, this.s, { timeoutMs, signal, what: `Cloud Build ${id}` });
  }

  private status(b: Build): string {
    return enumName(b.status, BuildStatus);
  }

  private result(b: Build, ctx: { commit: string; url: string; dir: string; configPath: string; reused: boolean; image?: string }): BuildResult {
    const status = this.status(b);
    const details: Record<string, Json> = {
      status,
      repoUrl: ctx.url,
      revision: ctx.commit,
      dir: ctx.dir,
      config: ctx.configPath,
      reused: ctx.reused,
      createTime: isoTime(b.createTime) ?? null,
      finishTime: isoTime(b.finishTime) ?? null,
    };
    const facts = { buildId: b.id ?? null, logUrl: b.logUrl ?? null, ...details, statusDetail: b.statusDetail ?? null, failure: b.failureInfo?.detail ?? null };
    if (status === 'FAILURE') throw new PermanentError(`Cloud Build ${b.id} failed: ${b.failureInfo?.detail || b.statusDetail || 'see the build log'}`, 'build_failed', facts);
    if (status === 'TIMEOUT' || status === 'CANCELLED') throw new PermanentError(`Cloud Build ${b.id} ended ${status}`, `build_${status.toLowerCase()}`, facts);
    if (status !== 'SUCCESS') throw new RetryableError(`Cloud Build ${b.id} ended ${status}`, 'build_not_successful', facts);
    const images = (b.results?.images ?? []).filter((i) => i.name && i.digest);
    const want = ctx.image ? stripTag(ctx.image) : undefined;
    const img = (want && images.find((i) => stripTag(String(i.name)) === want)) || images[0];
    if (!img) throw new PermanentError(`Cloud Build ${b.id} succeeded but pushed no image: list the image under images: in ${ctx.configPath}`, 'build_no_image', facts);
    return {
      buildId: String(b.id),
      logUrl: b.logUrl ?? undefined,
      commit: ctx.commit,
      imageDigest: String(img.digest),
      image: `${stripTag(String(img.name))}@${img.digest}`,
      details,
    };
  }
}

/** `region-docker.pkg.dev/p/r/name:tag` → `region-docker.pkg.dev/p/r/name` (a registry port's colon is kept). */
export function stripTag(image: string): string {
  const at = image.indexOf('@');
  const noDigest = at >= 0 ? image.slice(0, at) : image;
  const slash = noDigest.lastIndexOf('/');
  const colon = noDigest.lastIndexOf(':');
  return colon > slash ? noDigest.slice(0, colon) : noDigest;
}

function asStrings(v: unknown): string[] {
  return Array.isArray(v) ? v.map(String) : [];
}
