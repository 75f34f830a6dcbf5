// Fake Cloud Build v1 (REST): builds.create returns a long-running operation that the client polls through
// operations.get; builds.get and builds.list (filter on tags) as the real API. The outcome of the next builds
// is set by the test: success (results.images with digests), failure (the operation ends in error, the build in
// FAILURE with failureInfo) or never (the operation stays not done).
import { createHash, randomUUID } from 'node:crypto';
import { FakeGoogleServer, nowIso, rpcError, wantsIntEnums, type RecordedRequest, type Reply } from './http.js';

const STATUS: Record<string, number> = { STATUS_UNKNOWN: 0, PENDING: 10, QUEUED: 1, WORKING: 2, SUCCESS: 3, FAILURE: 4, INTERNAL_ERROR: 5, TIMEOUT: 6, CANCELLED: 7, EXPIRED: 9 };
const T_BUILD = 'type.googleapis.com/google.devtools.cloudbuild.v1.Build';
const T_META = 'type.googleapis.com/google.devtools.cloudbuild.v1.BuildOperationMetadata';

export interface FakeBuild {
  [k: string]: any;
  id: string;
  status: string;
}

export class FakeCloudBuild extends FakeGoogleServer {
  readonly builds = new Map<string, FakeBuild>();
  private readonly ops = new Map<string, { buildId: string }>();
  outcome: 'success' | 'failure' | 'never' = 'success';
  /** Which step fails when outcome is failure ('last': the last step, e.g. runwright's check step). */
  failStep: number | 'last' = 0;
  /** getOperation answers before the operation is done. */
  pollsBeforeDone = 2;

  constructor() {
    super();
    const P = '/v1/projects/([^/]+)/locations/([^/]+)';
    this.routes.push(
      { method: 'POST', pattern: new RegExp(`^${P}/builds$`), handle: (r, m) => this.create(r, m[1]!, m[2]!) },
      { method: 'GET', pattern: new RegExp(`^${P}/operations/([^/]+)$`), handle: (r, m) => this.getOp(r, `projects/${m[1]}/locations/${m[2]}/operations/${m[3]}`) },
      { method: 'GET', pattern: new RegExp(`^${P}/builds/([^/]+)$`), handle: (r, m) => this.get(r, m[3]!) },
      { method: 'GET', pattern: new RegExp(`^${P}/builds$`), handle: (r) => this.list(r) },
    );
  }

  /** The digest the fake registry gives `image` built from `revision`. */
  static digestFor(image: string, revision: string): string {
    return `sha256:${createHash('sha256').update(`${image}@${revision}`).digest('hex')}`;
  }

  private create(r: RecordedRequest, project: string, location: string): Reply {
    const body = r.body ?? {};
    if (!Array.isArray(body.steps) || body.steps.length === 0) return rpcError('INVALID_ARGUMENT', 'invalid build: build must have at least one step');
    const src = body.source?.gitSource ?? body.source?.connectedRepository;
    if (!(src?.url || src?.repository) || !src?.revision) return rpcError('INVALID_ARGUMENT', 'invalid build: source must be a gitSource (url) or connectedRepository (repository) with a revision');
    const id = randomUUID();
    const b: FakeBuild = {
      ...body,
      id,
      name: `projects/${project}/locations/${location}/builds/${id}`,
      projectId: project,
      status: 'QUEUED',
      createTime: nowIso(),
      logUrl: `https://console.cloud.google.com/cloud-build/builds;region=${location}/${id}?project=${project}`,
    };
    this.builds.set(id, b);
    const opName = `projects/${project}/locations/${location}/operations/${randomUUID()}`;
    this.ops.set(opName, { buildId: id });
    return { body: { name: opName, metadata: { '@type': T_META, build: this.enc(r, b) }, done: false } };
  }

  private getOp(r: RecordedRequest, name: string): Reply {
    const op = this.ops.get(name);
    if (!op) return rpcError('NOT_FOUND', `operation ${name} not found`);
    const b = this.advance(this.builds.get(op.buildId)!);
    const meta = { '@type': T_META, build: this.enc(r, b) };
    if (b.status === 'WORKING') return { body: { name, metadata: meta, done: false } };
    if (b.status === 'SUCCESS') return { body: { name, metadata: meta, done: true, response: { '@type': T_BUILD, ...this.enc(r, b) } } };
    return { body: { name, metadata: meta, done: true, error: { code: 2, message: 'Build failed; check build logs for details' } } };
  }

  /** A build moves on each time anyone looks at it (operation or build): WORKING, then the outcome. */
  private advance(b: FakeBuild): FakeBuild {
    if (b.status === 'SUCCESS' || b.status === 'FAILURE') return b;
    b.polls = (b.polls ?? 0) + 1;
    if (this.outcome === 'never' || b.polls < this.pollsBeforeDone) {
      b.status = 'WORKING';
      b.startTime ??= nowIso();
      return b;
    }
    this.finish(b);
    return b;
  }

  private finish(b: FakeBuild): void {
    b.finishTime = nowIso();
    if (this.outcome === 'success') {
      b.status = 'SUCCESS';
      const images: string[] = Array.isArray(b.images) ? b.images : [];
      // Cloud Build substitutes $PROJECT_ID and $BUILD_ID in image names.
      const sub = (n: string) => n.replaceAll('$PROJECT_ID', b.projectId).replaceAll('$BUILD_ID', b.id);
      b.results = { images: images.map((n) => ({ name: sub(n), digest: FakeCloudBuild.digestFor(sub(n), (b.source.gitSource ?? b.source.connectedRepository).revision) })) };
    } else {
      b.status = 'FAILURE';
      const i = this.failStep === 'last' ? b.steps.length - 1 : this.failStep;
      b.statusDetail = `Build step failure: build step ${i} "${b.steps[i]?.name}" failed: step exited with non-zero status: 1`;
      b.failureInfo = { type: 'USER_BUILD_STEP', detail: b.statusDetail };
    }
  }

  private get(r: RecordedRequest, id: string): Reply {
    const b = this.builds.get(id);
    return b ? { body: this.enc(r, this.advance(b)) } : rpcError('NOT_FOUND', `build ${id} not found`);
  }

  private list(r: RecordedRequest): Reply {
    const f = r.query.filter ?? '';
    const m = /^tags="([^"]+)"$/.exec(f);
    if (f && !m) return rpcError('INVALID_ARGUMENT', `unsupported filter ${f}`);
    const all = [...this.builds.values()].reverse().filter((b) => !m || (b.tags ?? []).includes(m[1]));
    return { body: { builds: all.map((b) => this.enc(r, b)) } };
  }

  private enc(r: RecordedRequest, b: FakeBuild): Record<string, unknown> {
    const { polls: _internal, ...wire } = b;
    return wantsIntEnums(r) ? { ...wire, status: STATUS[b.status] } : wire;
  }
}
