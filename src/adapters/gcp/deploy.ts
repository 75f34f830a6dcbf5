// DeployPort on Cloud Run jobs (@google-cloud/run v2 JobsClient + ExecutionsClient, REST transport).
//
// deploy: read the job; change only the container image to the build's digest (everything else sent back as read,
// with the etag, so a concurrent change makes the update fail instead of being overwritten); record the image it
// replaced in the job annotation `runwright.dev/previous-image` and the idempotency key's hash in the execution
// template label `runwright-key` (Cloud Run copies template labels onto every execution); execute the job with the
// updated job's etag and wait for the execution's operation with a timeout.
//
// Re-run safe: a re-delivered step sees the image and label already in place (no second update) and finds the
// execution carrying its label (no second execution), then waits for it if it is still running.
// rollback: the same update with the previous image; nothing else changes; a job already on it is left alone.
import { JobsClient, ExecutionsClient, protos } from '@google-cloud/run';
import type { BuildResult, DeployPort, DeployResult } from '../../ports/index.js';
import type { Json, Target } from '../../core/types.js';
import { PermanentError, RetryableError } from '../../core/errors.js';
import { clientOptions, type GcpSettings } from './auth.js';
import { gcpTarget, stripTag } from './build.js';
import { callOptions, enumName, gcpError, isoTime, keyToken, lroCallOptions, pollUntil, waitOperation } from './ops.js';

type Job = protos.google.cloud.run.v2.IJob;
type Execution = protos.google.cloud.run.v2.IExecution;
const ConditionState = protos.google.cloud.run.v2.Condition.State as unknown as Record<string | number, string | number>;

export const KEY_LABEL = 'runwright-key';
export const PREVIOUS_IMAGE_ANNOTATION = 'runwright.dev/previous-image';
export const ROLLED_BACK_FROM_ANNOTATION = 'runwright.dev/rolled-back-from';
const DIGEST_REF = /^[^\s@]+@sha256:[0-9a-f]{64}$/;

export function jobName(target: Target): string {
  const g = gcpTarget(target);
  for (const [k, v] of Object.entries({ project: g.project, region: g.region, job: g.job })) {
    if (!/^[A-Za-z0-9._-]+$/.test(v)) throw new PermanentError(`target ${target.name}: gcp.${k} ${JSON.stringify(v)} is not a resource id`, 'bad_target');
  }
  return `projects/${g.project}/locations/${g.region}/jobs/${g.job}`;
}

export class GcpDeploy implements DeployPort {
  private jobsClient?: JobsClient;
  private executionsClient?: ExecutionsClient;
  constructor(private readonly s: GcpSettings) {}

  private jobs(): JobsClient {
    return (this.jobsClient ??= new JobsClient(clientOptions(this.s, 'run')));
  }
  private executions(): ExecutionsClient {
    return (this.executionsClient ??= new ExecutionsClient(clientOptions(this.s, 'run')));
  }

  async close(): Promise<void> {
    await Promise.all([this.jobsClient?.close(), this.executionsClient?.close()]);
    this.jobsClient = this.executionsClient = undefined;
  }

  async deploy(target: Target, opts: { build: BuildResult; key: string; signal?: AbortSignal; timeoutMs?: number }): Promise<DeployResult> {
    const name = jobName(target);
    const image = opts.build.image;
    if (!image || !DIGEST_REF.test(image)) throw new PermanentError(`deploy needs an image by digest (name@sha256:...), got ${JSON.stringify(image ?? null)}`, 'bad_image');
    const token = keyToken(opts.key);
    const timeoutMs = opts.timeoutMs ?? this.s.executionTimeoutMs;

    let job = await this.getJob(name);
    const idx = containerIndex(job, image, name);
    const current = String(job.template?.template?.containers?.[idx]?.image ?? '');
    const recorded = job.annotations?.[PREVIOUS_IMAGE_ANNOTATION];
    const ours = current === image && job.template?.labels?.[KEY_LABEL] === token;
    // What a rollback goes back to: the image we replaced (kept in the annotation once the job points at the new one).
    const previousImage = current === image ? recorded ?? current : current;
    let updated = false;
    if (!ours) {
      const next = withImage(job, idx, image);
      next.annotations = { ...(next.annotations ?? {}), [PREVIOUS_IMAGE_ANNOTATION]: previousImage };
      next.template = { ...next.template, labels: { ...(next.template?.labels ?? {}), [KEY_LABEL]: token } };
      job = await this.updateJob(next, opts.signal);
      updated = true;
    }

    const requestedAt = new Date().toISOString();
    let exec = await this.findExecution(name, token);
    const reusedExecution = exec !== undefined;
    if (!exec) exec = await this.runJob(name, job.etag ?? undefined, token, timeoutMs, opts.signal);
    if (!isDone(exec)) exec = await this.waitExecution(String(exec.name), timeoutMs, opts.signal);
    const failed = Number(exec.failedCount ?? 0);
    const cancelled = Number(exec.cancelledCount ?? 0);
    const succeeded = Number(exec.succeededCount ?? 0);
    const completed = (exec.conditions ?? []).find((c) => c.type === 'Completed');
    const ok = failed === 0 && cancelled === 0 && succeeded >= Number(exec.taskCount ?? 1) && enumName(completed?.state, ConditionState) !== 'CONDITION_FAILED';
    return {
      executionName: String(exec.name),
      status: ok ? 'succeeded' : 'failed',
      // Google's clock (the one log timestamps use) when it says; ours otherwise.
      startedAt: isoTime(exec.createTime) ?? requestedAt,
      finishedAt: isoTime(exec.completionTime),
      previousImage,
      image,
      taskCounts: { succeeded, failed, cancelled },
      details: {
        job: name,
        etag: job.etag ?? null,
        updated,
        reusedExecution,
        taskCount: Number(exec.taskCount ?? 0),
        logUri: exec.logUri ?? null,
        condition: completed ? { state: enumName(completed.state, ConditionState), message: completed.message ?? '' } : null,
      } as Json,
    };
  }

  async rollback(target: Target, opts: { previousImage: string; key: string; signal?: AbortSignal }): Promise<{ image: string }> {
    const name = jobName(target);
    if (!opts.previousImage) throw new PermanentError('rollback needs the previous image', 'bad_image');
    const job = await this.getJob(name);
    const idx = containerIndex(job, opts.previousImage, name);
    const current = String(job.template?.template?.containers?.[idx]?.image ?? '');
    if (current === opts.previousImage) return { image: current }; // already there (re-run)
    const next = withImage(job, idx, opts.previousImage);
    next.annotations = { ...(next.annotations ?? {}), [ROLLED_BACK_FROM_ANNOTATION]: current };
    await this.updateJob(next, opts.signal);
    return { image: opts.previousImage };
  }

  private async getJob(name: string): Promise<Job> {
    try {
      const [job] = await this.jobs().getJob({ name }, callOptions(this.s));
      return job;
    } catch (e) {
      throw gcpError(e, `Cloud Run getJob ${name}`, { job: name });
    }
  }

  private async updateJob(job: Job, signal?: AbortSignal): Promise<Job> {
    let op;
    try {
      [op] = await this.jobs().updateJob({ job }, lroCallOptions(this.s, this.s.rpcTimeoutMs * 4));
    } catch (e) {
      // ABORTED (409): the etag is stale, someone changed the job; a retry re-reads it.
      throw gcpError(e, `Cloud Run updateJob ${job.name}`, { job: job.name ?? null });
    }
    try {
      const { result } = await waitOperation<Job, Job>(op as any, { timeoutMs: this.s.rpcTimeoutMs * 4, signal, what: `Cloud Run update of ${job.name}` });
      return result;
    } catch (e) {
      throw gcpError(e, `Cloud Run update of ${job.name}`, { job: job.name ?? null, operation: op.name ?? null });
    }
  }

  private async runJob(name: string, etag: string | undefined, token: string, timeoutMs: number, signal?: AbortSignal): Promise<Execution> {
    let op;
    try {
      [op] = await this.jobs().runJob({ name, etag }, lroCallOptions(this.s, timeoutMs));
    } catch (e) {
      throw gcpError(e, `Cloud Run runJob ${name}`, { job: name });
    }
    try {
      const { result } = await waitOperation<Execution, Execution>(op as any, { timeoutMs, signal, what: `Cloud Run execution of ${name}` });
      return result;
    } catch (e) {
      if (e instanceof RetryableError) throw e; // timeout/abort: it keeps running; a retry finds it by its label
      // The operation ended in error: the execution failed. Read it for its counts and conditions.
      const exec = await this.findExecution(name, token);
      if (!exec) throw gcpError(e, `Cloud Run execution of ${name}`, { job: name, operation: op.name ?? null });
      return exec;
    }
  }

  private async findExecution(job: string, token: string): Promise<Execution | undefined> {
    let list: Execution[];
    try {
      [list] = await this.executions().listExecutions({ parent: job, pageSize: 20 }, { ...callOptions(this.s), autoPaginate: false });
    } catch (e) {
      throw gcpError(e, `Cloud Run listExecutions ${job}`, { job });
    }
    return list.find((x) => x.labels?.[KEY_LABEL] === token);
  }

  private async waitExecution(name: string, timeoutMs: number, signal?: AbortSignal): Promise<Execution> {
    return await pollUntil(async () => {
      let e: Execution;
      try {
        [e] = await this.executions().getExecution({ name }, callOptions(this.s));
      } catch (err) {
        throw gcpError(err, `Cloud Run getExecution ${name}`, { execution: name });
      }
      return isDone(e) ? e : undefined;
    }, this.s, { timeoutMs, signal, what: `Cloud Run execution ${name}` });
  }
}

function isDone(e: Execution): boolean {
  if (isoTime(e.completionTime)) return true;
  const c = (e.conditions ?? []).find((x) => x.type === 'Completed');
  const st = enumName(c?.state, ConditionState);
  return st === 'CONDITION_SUCCEEDED' || st === 'CONDITION_FAILED';
}

/** The container to point at `image`: the one already running that repository, else the only one. */
function containerIndex(job: Job, image: string, name: string): number {
  const containers = job.template?.template?.containers ?? [];
  const repo = stripTag(image);
  const same = containers.findIndex((c) => stripTag(String(c.image ?? '')) === repo);
  if (same >= 0) return same;
  if (containers.length === 1) return 0;
  throw new PermanentError(`job ${name} has ${containers.length} containers and none runs ${repo}`, 'ambiguous_container', { containers: containers.map((c) => c.name ?? c.image ?? '') });
}

/** A copy of the job as read, with one container's image changed and nothing else. */
function withImage(job: Job, idx: number, image: string): Job {
  const next = JSON.parse(JSON.stringify(job)) as Job;
  next.template!.template!.containers![idx]!.image = image;
  return next;
}
