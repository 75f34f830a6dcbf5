// Shared by the deploy tests: the seed's service as a real git repository with a bare remote, a run-style clone of
// it, the seed's fix A made as a real commit, and gcp settings that point the official clients at loopback fakes.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { after, before, beforeEach } from 'node:test';
import path from 'node:path';
import { createSampleService } from '../../src/demo/sample-service.js';
import { LocalGit } from '../../src/adapters/local/git.js';
import { GcpBuild } from '../../src/adapters/gcp/build.js';
import { FakeCloudBuild } from '../fakes/cloudbuild.js';
import { loadConfig, type Config } from '../../src/config/config.js';
import type { Target } from '../../src/core/types.js';

export interface ServiceFixture {
  root: string;
  /** the per-run scratch dir (what ctx.workdir is in a run) */
  workdir: string;
  /** the run's clone of the remote, inside workdir */
  clone: string;
  remote: string;
  target: Target;
  git: LocalGit;
  cleanup(): void;
}

export async function serviceFixture(): Promise<ServiceFixture> {
  const root = mkdtempSync(path.join(os.tmpdir(), 'rw-deploy-'));
  const svc = await createSampleService(path.join(root, 'origin'));
  const workdir = path.join(root, 'work');
  const git = new LocalGit();
  const { dir } = await git.clone(svc.target, path.join(workdir, 'repo'));
  return { root, workdir, clone: dir, remote: svc.remote, target: svc.target, git, cleanup: () => rmSync(root, { recursive: true, force: true }) };
}

const ORG = 'backend/app/models/organization.py';

/** The seed's fix A: comment out the broken relationship; committed with a key (not pushed). */
export async function commitFixA(f: ServiceFixture, key = 'fix-a'): Promise<string> {
  const file = path.join(f.clone, ORG);
  const src = readFileSync(file, 'utf8');
  const start = src.indexOf('    feature_flags = relationship(');
  const end = src.indexOf('    )\n', start) + '    )\n'.length;
  const block = src.slice(start, end).split('\n').filter(Boolean).map((l) => `    # ${l.slice(4)}`).join('\n');
  writeFileSync(file, `${src.slice(0, start)}    # TEMPORARY: FeatureFlag model doesn't exist yet\n${block}\n${src.slice(end)}`);
  const { sha } = await f.git.commit(f.clone, { paths: [ORG], message: 'Fix SQLAlchemy: comment out broken Organization.feature_flags', key });
  return sha;
}

/** A commit that does not cure anything (touches only the README). */
export async function commitNoCure(f: ServiceFixture, key = 'no-cure'): Promise<string> {
  writeFileSync(path.join(f.clone, 'README.md'), '# content-worker\n\nTouched, not fixed.\n');
  const { sha } = await f.git.commit(f.clone, { paths: ['README.md'], message: 'Touch README', key });
  return sha;
}

/** Config whose gcp section points every client at one loopback fake per API, with fast polling. */
export function fakeGcpConfig(ports: { cloudbuild?: number; run?: number; logging?: number }, over: Partial<Config['gcp']> = {}): Config {
  const base = loadConfig({});
  const ep = (port?: number) => (port ? { apiEndpoint: '127.0.0.1', port } : {});
  return {
    ...base,
    gcp: {
      ...base.gcp,
      protocol: 'http',
      auth: 'none',
      endpoints: { cloudbuild: ep(ports.cloudbuild), run: ep(ports.run), logging: ep(ports.logging) },
      rpcTimeoutMs: 5_000,
      pollInitialMs: 20,
      pollMaxMs: 50,
      buildTimeoutMs: 10_000,
      executionTimeoutMs: 10_000,
      ...over,
    },
  };
}

/**
 * A describe block's Cloud Build harness: a loopback fake Cloud Build, the sample service and a GcpBuild on it,
 * made in `before`, closed in `after`, the fake's requests and outcome reset before each test. Read the fields in
 * tests and hooks (they are set once `before` has run).
 */
export function cloudBuildSuite(): { fake: FakeCloudBuild; f: ServiceFixture; builder: GcpBuild } {
  const h = {} as { fake: FakeCloudBuild; f: ServiceFixture; builder: GcpBuild };
  before(async () => {
    h.fake = await new FakeCloudBuild().start();
    h.f = await serviceFixture();
    h.builder = new GcpBuild(fakeGcpConfig({ cloudbuild: h.fake.port }).gcp, h.f.git);
  });
  after(async () => {
    await h.builder.close();
    await h.fake.close();
    h.f.cleanup();
  });
  beforeEach(() => {
    h.fake.requests.length = 0;
    h.fake.outcome = 'success';
    h.fake.failStep = 0;
    h.fake.pollsBeforeDone = 2;
  });
  return h;
}
