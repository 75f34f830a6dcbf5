// The dashboard's server side over HTTP (no browser): the runbook graph by id + hash (also an older version whose
// source only Redis still has), a run's context (approval rendered, what the caller may do, links), status counts,
// redirects for Slack's run links; and the asset build: built when missing, left alone when fresh, rebuilt when a
// source changes, served with the version the page asks for.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ensureUiBuilt, UI_OUT_DIR, UI_SRC_DIR, uiSourceHash } from '../../src/api/dashboard-assets.js';
import { postAlert, startDashboard, TOKENS, type DashServer } from './helpers.js';

let srv: DashServer;
let waiting: string;

before(async () => {
  srv = await startDashboard();
  waiting = (await postAlert(srv.url, { text: "expression 'Auther' failed to locate a name", labels: { service: 'content-worker' }, inputs: { stepMs: 10 } }))[0]!.runId!;
  await srv.engine.waitFor(waiting, (r) => r.status === 'waiting_approval', 20_000);
});

after(async () => {
  await srv?.close();
});

const get = (p: string, token = TOKENS.viewer) => fetch(`${srv.url}${p}`, { headers: token ? { authorization: `Bearer ${token}` } : {}, redirect: 'manual' });

describe('runbook graph by id + hash', () => {
  test('the loaded version, and an older one only Redis still has', async () => {
    const rb = srv.engine.runbooks.get('mapper-fix')!;
    const cur = (await (await get('/api/runbooks/mapper-fix/graph')).json()) as { loaded: boolean; hash: string; steps: { id: string; kind: string }[]; edges: { from: string; to: string; kind: string }[] };
    assert.equal(cur.loaded, true);
    assert.equal(cur.hash, rb.hash);
    assert.deepEqual(cur.steps.map((s) => s.id), rb.steps.map((s) => s.id));
    assert.ok(cur.edges.some((e) => e.from === 'approve' && e.to === 'rejected' && e.kind === 'onReject'));
    assert.equal(((await (await get(`/api/runbooks/mapper-fix/graph?hash=${rb.hash}`)).json()) as { loaded: boolean }).loaded, true);

    // An older version: fewer steps, another title; its source is stored by hash as the engine does for runs.
    const old = rb.source.replace('title: SQLAlchemy mapper failure — fix the broken relationship', 'title: Mapper fix (last week)').replace(/  - id: replan[\s\S]*?next: approve\n/, '').replace(/    branches:\n      - when: "\$exists\(approval\.choice\)[^\n]*\n        next: replan\n/, '');
    await srv.engine.store.saveRunbookSource('0ld0ld0ld0ld0ld0', old);
    const res = await get('/api/runbooks/mapper-fix/graph?hash=0ld0ld0ld0ld0ld0');
    assert.equal(res.status, 200);
    const g = (await res.json()) as { loaded: boolean; title: string; steps: { id: string }[] };
    assert.equal(g.loaded, false);
    assert.equal(g.title, 'Mapper fix (last week)');
    assert.ok(!g.steps.some((s) => s.id === 'replan'));

    // A version using an action this service no longer has still draws (structure only).
    await srv.engine.store.saveRunbookSource('renamedaction000', rb.source.replace('action: demo.step', 'action: demo.gone'));
    const lenient = (await (await get('/api/runbooks/mapper-fix/graph?hash=renamedaction000')).json()) as { steps: { id: string; action?: string }[] };
    assert.equal(lenient.steps[0]!.action, 'demo.gone');

    assert.equal((await get('/api/runbooks/mapper-fix/graph?hash=ffffffffffffffff')).status, 404);
    assert.equal((await get('/api/runbooks/disk-pressure/graph?hash=0ld0ld0ld0ld0ld0')).status, 404, 'a hash holding another runbook');
    assert.equal((await get('/api/runbooks/mapper-fix/graph?hash=../../etc')).status, 400);
    assert.equal((await get('/api/runbooks/mapper-fix/graph', '')).status, 401);
  });
});

describe('run context', () => {
  test('the approval as rendered for this run, and what each role may do', async () => {
    const ctx = async (token: string) => (await (await get(`/dashboard/api/runs/${waiting}/context`, token)).json()) as { approval: { prompt: string; options: string[]; recommend: string; proposal: { diff: string }; findings: string; mayDecide: boolean }; may: Record<string, boolean>; links: { kind: string; href?: string }[] };
    const alice = await ctx(TOKENS.alice);
    assert.match(alice.approval.prompt, /^content-worker: mapper Article fails to initialize/);
    assert.deepEqual(alice.approval.options, ['A', 'B', 'C']);
    assert.equal(alice.approval.recommend, 'C');
    assert.match(alice.approval.proposal.diff, /^diff --git a\/app\/models\/article\.py/);
    assert.match(alice.approval.findings, /missing_class/);
    assert.deepEqual(alice.may, { approve: true, cancel: false, retry: false });
    assert.equal(alice.links.find((l) => l.kind === 'commit')?.href, 'https://github.com/acme/content-worker/commit/3f9c2b7e41d08a6c5e2f7b19d4a0c3e8b6f1d2a7');
    const viewer = await ctx(TOKENS.viewer);
    assert.equal(viewer.approval.mayDecide, false);
    assert.deepEqual(viewer.may, { approve: false, cancel: false, retry: false });
    assert.deepEqual((await ctx(TOKENS.admin)).may, { approve: true, cancel: true, retry: false });
    assert.equal((await get('/dashboard/api/runs/nosuchrun/context')).status, 404);
    assert.equal((await get(`/dashboard/api/runs/${waiting}/context`, '')).status, 401);
  });

  test('status counts come from the indexes', async () => {
    const body = (await (await get('/dashboard/api/summary')).json()) as { counts: Record<string, number> };
    assert.equal(body.counts.waiting_approval, 1);
  });
});

describe('pages and redirects', () => {
  test("Slack's run links and the root land on the dashboard; the page names the built assets' version", async () => {
    assert.equal((await get('/', '')).headers.get('location'), '/dashboard/');
    assert.equal((await get('/dashboard', '')).headers.get('location'), '/dashboard/');
    assert.equal((await get(`/runs/${waiting}`, '')).headers.get('location'), `/dashboard/runs/${waiting}`);
    const html = await (await get(`/dashboard/runs/${waiting}`, '')).text();
    const version = JSON.parse(readFileSync(path.join(UI_OUT_DIR, 'manifest.json'), 'utf8')).version as string;
    assert.ok(html.includes(`/dashboard/assets/app.js?v=${version}`), 'script URL carries the bundle version');
    assert.equal(version, uiSourceHash()!.slice(0, 12), 'the served bundle is built from the current sources');
    const js = await get(`/dashboard/assets/app.js?v=${version}`, '');
    assert.equal(js.status, 200);
    assert.match(js.headers.get('content-type') ?? '', /javascript/);
    assert.equal((await get('/dashboard/assets/manifest.json', '')).status, 404, 'the build manifest is not served');
    assert.equal((await get('/dashboard/assets/../../package.json', '')).status, 404);
  });
});

describe('asset build', () => {
  test('built when missing, left alone when fresh, rebuilt when a source changes or an output is missing', async () => {
    const tmp = mkdtempSync(path.join(os.tmpdir(), 'rw-ui-build-'));
    try {
      const src = path.join(tmp, 'src', 'ui');
      const out = path.join(tmp, 'out');
      cpSync(UI_SRC_DIR, src, { recursive: true });
      // The UI imports shared types from ../core and ../api (types only: erased in the bundle).
      cpSync(path.join(UI_SRC_DIR, '..', 'core', 'types.ts'), path.join(tmp, 'src', 'core', 'types.ts'));
      cpSync(path.join(UI_SRC_DIR, '..', 'core', 'step-summary.ts'), path.join(tmp, 'src', 'core', 'step-summary.ts'));
      cpSync(path.join(UI_SRC_DIR, '..', 'api', 'dashboard-types.ts'), path.join(tmp, 'src', 'api', 'dashboard-types.ts'));
      const a = await ensureUiBuilt({ srcDir: src, outDir: out });
      assert.equal(a.built, true);
      assert.ok(existsSync(path.join(out, 'app.js')) && existsSync(path.join(out, 'app.css')));
      const b = await ensureUiBuilt({ srcDir: src, outDir: out });
      assert.equal(b.built, false);
      assert.equal(b.manifest!.version, a.manifest!.version);
      writeFileSync(path.join(src, 'format.ts'), `${readFileSync(path.join(src, 'format.ts'), 'utf8')}\nexport const touched = 1;\n`);
      const c = await ensureUiBuilt({ srcDir: src, outDir: out });
      assert.equal(c.built, true);
      assert.notEqual(c.manifest!.version, a.manifest!.version);
      unlinkSync(path.join(out, 'app.css'));
      assert.equal((await ensureUiBuilt({ srcDir: src, outDir: out })).built, true);
      assert.ok(existsSync(path.join(out, 'app.css')));
      // No sources (a production image): whatever was built is served as is.
      const d = await ensureUiBuilt({ srcDir: path.join(tmp, 'nowhere'), outDir: out });
      assert.equal(d.built, false);
      assert.equal(d.manifest!.version, c.manifest!.version);
      const js = readFileSync(path.join(out, 'app.js'), 'utf8');
      assert.doesNotMatch(js, /innerHTML|https?:\/\/(?!www\.w3\.org)/, 'no HTML sinks and no remote URLs in the bundle');
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});
