// Fake Cloud Run Admin API v2 (REST), jobs and executions: jobs.get, jobs.patch (etag checked: a stale etag is
// ABORTED), jobs.run (creates an execution carrying the template's labels, like the real service), executions.list
// / get, and operations.get for the long-running operations of patch and run. Executions end as the test says:
// succeeded, failed (the run operation ends in error) or never.
import { randomBytes, randomUUID } from 'node:crypto';
import { FakeGoogleServer, nowIso, rpcError, wantsIntEnums, type RecordedRequest, type Reply } from './http.js';

const T_JOB = 'type.googleapis.com/google.cloud.run.v2.Job';
const T_EXEC = 'type.googleapis.com/google.cloud.run.v2.Execution';
const COND: Record<string, number> = { STATE_UNSPECIFIED: 0, CONDITION_PENDING: 1, CONDITION_RECONCILING: 2, CONDITION_FAILED: 3, CONDITION_SUCCEEDED: 4 };

type Obj = Record<string, any>;
interface Op { kind: 'update' | 'run'; target: string; polls: number }

export class FakeCloudRun extends FakeGoogleServer {
  readonly jobs = new Map<string, Obj>();
  readonly executions = new Map<string, Obj>();
  private readonly ops = new Map<string, Op>();
  executionOutcome: 'succeeded' | 'failed' | 'never' = 'succeeded';
  pollsBeforeDone = 2;
  /** Called when an execution starts (e.g. to write its log lines into a fake Cloud Logging). */
  onExecute?: (execution: Obj, job: Obj) => void;

  constructor() {
    super();
    const JOB = '(projects/[^/]+/locations/[^/]+/jobs/[^/:]+)';
    this.routes.push(
      { method: 'GET', pattern: new RegExp(`^/v2/${JOB}$`), handle: (_r, m) => this.getJob(m[1]!) },
      { method: 'PATCH', pattern: new RegExp(`^/v2/${JOB}$`), handle: (r, m) => this.patchJob(r, m[1]!) },
      { method: 'POST', pattern: new RegExp(`^/v2/${JOB}:run$`), handle: (r, m) => this.runJob(r, m[1]!) },
      { method: 'GET', pattern: new RegExp(`^/v2/${JOB}/executions$`), handle: (r, m) => this.listExecutions(r, m[1]!) },
      { method: 'GET', pattern: new RegExp(`^/v2/(${JOB.slice(1, -1)}/executions/[^/]+)$`), handle: (r, m) => this.getExecution(r, m[1]!) },
      { method: 'GET', pattern: /^\/v2\/(projects\/[^/]+\/locations\/[^/]+\/operations\/[^/]+)$/, handle: (r, m) => this.getOp(r, m[1]!) },
    );
  }

  /** Seed a job the way Cloud Run stores it. */
  addJob(name: string, template: Obj, extra: Obj = {}): Obj {
    const job = { name, uid: randomUUID(), generation: '1', createTime: nowIso(), updateTime: nowIso(), launchStage: 'GA', template, etag: `"${randomBytes(6).toString('hex')}"`, ...extra };
    this.jobs.set(name, job);
    return job;
  }

  private notFound(name: string): Reply {
    const [, project, , region, , job] = name.split('/');
    return rpcError('NOT_FOUND', `Resource '${job}' of kind 'JOB' in region '${region}' in project '${project}' does not exist.`);
  }

  private getJob(name: string): Reply {
    const j = this.jobs.get(name);
    return j ? { body: j } : this.notFound(name);
  }

  private patchJob(r: RecordedRequest, name: string): Reply {
    const cur = this.jobs.get(name);
    if (!cur) return this.notFound(name);
    const body = r.body ?? {};
    if (body.etag && body.etag !== cur.etag) return rpcError('ABORTED', `etag mismatch: the job ${name} was modified concurrently`);
    if (!body.template?.template?.containers?.length) return rpcError('INVALID_ARGUMENT', 'template.template.containers: at least one container is required');
    const next = { ...body, name, uid: cur.uid, createTime: cur.createTime, generation: String(Number(cur.generation) + 1), updateTime: nowIso(), etag: `"${randomBytes(6).toString('hex')}"` };
    this.jobs.set(name, next);
    return { body: this.newOp(name, 'update', { '@type': T_JOB, ...next }) };
  }

  private runJob(r: RecordedRequest, name: string): Reply {
    const job = this.jobs.get(name);
    if (!job) return this.notFound(name);
    if (r.body?.etag && r.body.etag !== job.etag) return rpcError('ABORTED', `etag mismatch: the job ${name} was modified concurrently`);
    const short = name.split('/').pop();
    const execName = `${name}/executions/${short}-${randomBytes(3).toString('hex').slice(0, 5)}`;
    const taskCount = job.template?.taskCount ?? 1;
    const exec: Obj = {
      name: execName,
      uid: randomUUID(),
      job: short,
      generation: '1',
      labels: { ...(job.template?.labels ?? {}) },
      createTime: nowIso(),
      startTime: nowIso(),
      taskCount,
      parallelism: job.template?.parallelism ?? 0,
      template: job.template?.template,
      runningCount: taskCount,
      conditions: [{ type: 'Completed', state: 'CONDITION_PENDING' }],
      logUri: `https://console.cloud.google.com/logs/viewer?execution=${encodeURIComponent(execName)}`,
    };
    this.executions.set(execName, exec);
    this.onExecute?.(exec, job);
    return { body: this.newOp(execName, 'run', { '@type': T_EXEC, ...this.encExec(r, exec) }) };
  }

  private listExecutions(r: RecordedRequest, job: string): Reply {
    if (!this.jobs.has(job)) return this.notFound(job);
    const list = [...this.executions.values()].filter((e) => e.name.startsWith(`${job}/executions/`)).reverse();
    return { body: { executions: list.map((e) => this.encExec(r, this.advance(e))) } };
  }

  private getExecution(r: RecordedRequest, name: string): Reply {
    const e = this.executions.get(name);
    return e ? { body: this.encExec(r, this.advance(e)) } : rpcError('NOT_FOUND', `execution ${name} not found`);
  }

  private newOp(target: string, kind: Op['kind'], metadata: Obj): Obj {
    const loc = target.split('/').slice(0, 4).join('/');
    const name = `${loc}/operations/${randomUUID()}`;
    this.ops.set(name, { kind, target, polls: 0 });
    return { name, metadata, done: false };
  }

  private getOp(r: RecordedRequest, name: string): Reply {
    const op = this.ops.get(name);
    if (!op) return rpcError('NOT_FOUND', `operation ${name} not found`);
    op.polls++;
    if (op.kind === 'update') {
      const job = this.jobs.get(op.target)!;
      const meta = { '@type': T_JOB, ...job };
      return { body: op.polls < this.pollsBeforeDone ? { name, metadata: meta, done: false } : { name, metadata: meta, done: true, response: meta } };
    }
    const exec = this.advance(this.executions.get(op.target)!);
    const meta = { '@type': T_EXEC, ...this.encExec(r, exec) };
    if (!exec.completionTime) return { body: { name, metadata: meta, done: false } };
    if (exec.failedCount > 0) return { body: { name, metadata: meta, done: true, error: { code: 9, message: `Execution ${exec.name.split('/').pop()} failed: ${exec.failedCount} task(s) failed.` } } };
    return { body: { name, metadata: meta, done: true, response: meta } };
  }

  /** An execution moves on each time anyone looks at it (its operation, get or list): running, then the outcome. */
  private advance(exec: Obj): Obj {
    if (exec.completionTime) return exec;
    exec._polls = (exec._polls ?? 0) + 1;
    if (this.executionOutcome !== 'never' && exec._polls >= this.pollsBeforeDone) this.complete(exec);
    return exec;
  }

  private complete(exec: Obj): void {
    exec.runningCount = 0;
    exec.completionTime = nowIso();
    if (this.executionOutcome === 'succeeded') {
      exec.succeededCount = exec.taskCount;
      exec.conditions = [{ type: 'Completed', state: 'CONDITION_SUCCEEDED', message: 'Execution completed successfully.' }];
    } else {
      exec.failedCount = exec.taskCount;
      exec.conditions = [{ type: 'Completed', state: 'CONDITION_FAILED', message: `Task ${exec.name.split('/').pop()}-task0 failed with message: The container exited with an error.` }];
    }
  }

  private encExec(r: RecordedRequest, exec: Obj): Obj {
    const { _polls, ...e } = exec;
    if (!wantsIntEnums(r)) return e;
    return { ...e, conditions: (e.conditions ?? []).map((c: Obj) => ({ ...c, state: COND[c.state] ?? 0 })) };
  }
}
