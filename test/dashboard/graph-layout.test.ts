// The step-graph layout and the run page's pure helpers, without a browser: every runbook of the repository (and
// random graphs) lays out without overlapping nodes, forward edges go down, loops are found and drawn around the
// side, error edges take the bus, the `next` spine is one straight column; the path taken, step states and timeline
// rows follow the event history; diffs parse with line numbers; links are built only for known hosts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import fc from 'fast-check';
import { layoutGraph, pathTaken, type GraphLayout, type LaidOutNode, type Point } from '../../src/ui/layout.js';
import { statesFromEvents, timelineRows } from '../../src/ui/run.js';
import { parseDiff } from '../../src/ui/outputs.js';
import { commitUrl, runbookGraph, runLinks } from '../../src/api/dashboard.js';
import { loadRunbooksDir } from '../../src/core/runbook.js';
import { defaultRegistry } from '../../src/actions/index.js';
import type { RunRecord, StepEvent } from '../../src/core/types.js';
import { demoStep, ROOT } from './helpers.js';

const registry = defaultRegistry([demoStep]);
const runbooks = [
  ...loadRunbooksDir(path.join(ROOT, 'runbooks'), registry.catalog()).values(),
  ...loadRunbooksDir(path.join(ROOT, 'test', 'dashboard', 'runbooks'), registry.catalog()).values(),
  ...loadRunbooksDir(path.join(ROOT, 'test', 'engine', 'runbooks'), registry.catalog()).values(),
];

const overlap = (a: LaidOutNode, b: LaidOutNode) => a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;

/** Does the axis-parallel segment p→q pass through the inside of node n? */
function crosses(p: Point, q: Point, n: LaidOutNode): boolean {
  const e = 1;
  const [x1, x2] = [Math.min(p.x, q.x), Math.max(p.x, q.x)];
  const [y1, y2] = [Math.min(p.y, q.y), Math.max(p.y, q.y)];
  return x1 < n.x + n.w - e && x2 > n.x + e && y1 < n.y + n.h - e && y2 > n.y + e;
}

function checkLayout(l: GraphLayout, ids: string[], what: string): void {
  assert.equal(l.nodes.length, ids.length, `${what}: every step is placed`);
  for (let i = 0; i < l.nodes.length; i++)
    for (let j = i + 1; j < l.nodes.length; j++) assert.ok(!overlap(l.nodes[i]!, l.nodes[j]!), `${what}: ${l.nodes[i]!.id} overlaps ${l.nodes[j]!.id}`);
  const byId = new Map(l.nodes.map((n) => [n.id, n]));
  for (const n of l.nodes) assert.ok(n.x >= 0 && n.y >= 0 && n.x + n.w <= l.width && n.y + n.h <= l.height, `${what}: ${n.id} inside the drawing`);
  for (const e of l.edges) {
    for (const p of e.points) assert.ok(p.x >= 0 && p.x <= l.width && p.y >= 0 && p.y <= l.height, `${what}: edge ${e.from}→${e.to} inside the drawing`);
    const a = byId.get(e.from)!;
    const b = byId.get(e.to)!;
    if (!e.back) assert.ok(b.layer > a.layer, `${what}: forward edge ${e.from}→${e.to} goes down`);
    if (e.route !== 'layered') {
      // Orthogonal routes around the graph never run through a step.
      for (let k = 0; k + 1 < e.points.length; k++)
        for (const n of l.nodes) if (n !== a && n !== b) assert.ok(!crosses(e.points[k]!, e.points[k + 1]!, n), `${what}: ${e.route} edge ${e.from}→${e.to} runs through ${n.id}`);
    }
  }
}

test('every runbook in the repository lays out cleanly', () => {
  assert.ok(runbooks.length >= 10);
  for (const rb of runbooks) {
    const g = runbookGraph(rb, true);
    const l = layoutGraph({ nodes: g.steps.map((s) => s.id), edges: g.edges, start: g.start });
    checkLayout(l, g.steps.map((s) => s.id), rb.id);
    // 1400 px up to 30 steps; a larger runbook (the Alembic one has 38 steps, 16 of them ends) may take 45 px per step.
    assert.ok(l.width < Math.max(1400, 45 * g.steps.length), `${rb.id}: ${l.width}px wide for ${g.steps.length} steps`);
  }
});

test('the SQLAlchemy runbook: its two loops go back to apply, its spine is one column, escalations take the bus', () => {
  const rb = runbooks.find((r) => r.id === 'sqlalchemy-mapper-failure')!;
  const g = runbookGraph(rb, true);
  const l = layoutGraph({ nodes: g.steps.map((s) => s.id), edges: g.edges, start: g.start });
  const back = l.edges.filter((e) => e.back).map((e) => `${e.from}->${e.to}`).sort();
  assert.ok(back.includes('preflight->apply') && back.includes('approve->apply'), back.join(' '));
  assert.ok(l.edges.filter((e) => e.back).every((e) => e.route === 'loop'));
  const x = new Map(l.nodes.map((n) => [n.id, n.x]));
  for (const s of ['identify', 'checkout', 'confirm', 'inspect', 'plan', 'apply', 'commit', 'preflight', 'push']) assert.equal(x.get(s), x.get('identify'), `${s} on the spine`);
  // Every escalation goes through `explain` (sqlalchemy.escalation writes what a person needs), then ends.
  const toEscalate = l.edges.filter((e) => e.to === 'explain' && e.kind === 'onError');
  assert.ok(toEscalate.length >= 5);
  assert.ok(toEscalate.filter((e) => e.route === 'bus').length >= 4);
  // The graph records the branch conditions for tooltips.
  assert.ok(g.edges.some((e) => e.from === 'confirm' && e.to === 'healthy' && e.kind === 'branch' && e.label === 'output.healthy = true'));
});

test('random graphs (with loops, long jumps and error edges) never overlap', () => {
  const kinds = ['next', 'branch', 'onError', 'onReject', 'switch', 'onExhausted'];
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 18 }), fc.array(fc.tuple(fc.nat(), fc.nat(), fc.nat()), { maxLength: 40 }), (n, raw) => {
      const ids = Array.from({ length: n }, (_, i) => `s${i}`);
      const edges = raw.map(([a, b, k]) => ({ from: ids[a % n]!, to: ids[b % n]!, kind: kinds[k % kinds.length]! }));
      const l = layoutGraph({ nodes: ids, edges, start: 's0' });
      checkLayout(l, ids, `random ${n}/${edges.length}`);
      // Deterministic: same input, same drawing.
      assert.deepEqual(layoutGraph({ nodes: ids, edges, start: 's0' }), l);
    }),
    { numRuns: 150, seed: 6 },
  );
});

const ev = (step: string, kind: StepEvent['kind'], visit = 1, attempt = 1, extra: Partial<StepEvent> = {}): StepEvent => ({ runId: 'r', step, kind, visit, attempt, at: new Date(Date.UTC(2026, 0, 1, 0, 0, 0) + (extra.durationMs ?? 0)).toISOString(), ...extra });

test('path taken, step states and timeline rows from an event history (retry, approval loop, finish)', () => {
  const events: StepEvent[] = [
    ev('', 'run', 0, 0, { message: 'run created' }),
    ev('plan', 'started'),
    ev('plan', 'failed', 1, 1, { error: { message: 'flaky' }, durationMs: 10 }),
    ev('plan', 'started', 1, 2),
    ev('plan', 'progress', 1, 2, { message: 'half way' }),
    ev('plan', 'succeeded', 1, 2, { durationMs: 20 }),
    ev('approve', 'waiting'),
    ev('approve', 'approved', 1, 1, { actor: 'alice', output: { choice: 'B' } as never }),
    ev('replan', 'started'),
    ev('replan', 'succeeded', 1, 1, { durationMs: 5 }),
    ev('approve', 'waiting', 2),
    ev('approve', 'approved', 2, 1, { actor: 'bob' }),
    ev('push', 'started'),
  ];
  const edges = [
    { from: 'plan', to: 'approve' },
    { from: 'approve', to: 'replan' },
    { from: 'replan', to: 'approve' },
    { from: 'approve', to: 'push' },
    { from: 'approve', to: 'rejected' },
  ];
  const taken = pathTaken(events, edges);
  assert.deepEqual(taken.steps, ['plan', 'approve', 'replan', 'approve', 'push']);
  assert.deepEqual([...taken.edges].sort(), ['approve->push', 'approve->replan', 'plan->approve', 'replan->approve']);
  assert.deepEqual(statesFromEvents(events, 'running'), { plan: 'succeeded', approve: 'succeeded', replan: 'succeeded', push: 'running' });
  assert.deepEqual(statesFromEvents(events, 'cancelled').push, 'stopped', 'a step still running when the run ended shows as stopped');

  const rows = timelineRows(events);
  assert.deepEqual(rows.map((r) => `${r.step || 'run'}:${r.kind}:${r.result}${r.attempt ? `#${r.attempt}` : ''}`), [
    'run:run:info',
    'plan:attempt:failed#1',
    'plan:attempt:succeeded#2',
    'approve:approval:approved',
    'replan:attempt:succeeded#1',
    'approve:approval:approved',
    'push:attempt:running#1',
  ]);
  assert.equal(rows[1]!.detail, 'flaky');
  assert.equal(rows[2]!.progress, 'half way');
  assert.equal(rows[3]!.actor, 'alice');
  assert.equal(rows[3]!.detail, 'choice B');
});

test('unified diffs parse into rows with old and new line numbers', () => {
  const rows = parseDiff('diff --git a/m.py b/m.py\n--- a/m.py\n+++ b/m.py\n@@ -3,3 +3,3 @@ class A:\n x = 1\n-y = 2\n+y = 3\n z = 4\n');
  assert.deepEqual(rows.map((r) => [r.kind, r.old ?? null, r.new ?? null, r.text]), [
    ['file', null, null, 'm.py'],
    ['hunk', null, null, '@@ -3,3 +3,3 @@ class A:'],
    ['ctx', 3, 3, 'x = 1'],
    ['del', 4, null, 'y = 2'],
    ['add', null, 4, 'y = 3'],
    ['ctx', 5, 5, 'z = 4'],
  ]);
});

test('links: commit pages for known hosts only, console links for gcp targets, nothing but http(s)', () => {
  const sha = 'a'.repeat(40);
  assert.equal(commitUrl('https://github.com/acme/w.git', sha), `https://github.com/acme/w/commit/${sha}`);
  assert.equal(commitUrl('git@github.com:acme/w.git', sha), `https://github.com/acme/w/commit/${sha}`);
  assert.equal(commitUrl('https://gitlab.com/g/sub/w', sha), `https://gitlab.com/g/sub/w/-/commit/${sha}`);
  assert.equal(commitUrl('/srv/git/w.git', sha), undefined);
  assert.equal(commitUrl('https://git.internal/acme/w.git', sha), undefined);
  assert.equal(commitUrl('https://github.com/acme/w"onmouseover=x', sha), undefined);

  const run = {
    id: 'r1', runbookId: 'x', runbookHash: 'h', status: 'succeeded', createdAt: '', updatedAt: '', dryRun: false, autoApprove: false, inputs: {},
    alert: { source: 't', fingerprint: 'f', severity: 'info', text: '', labels: {}, receivedAt: '' },
    target: { name: 'w', repo: 'https://github.com/acme/w.git', branch: 'main', modelsDir: 'm', platform: 'gcp', labels: {}, gcp: { project: 'p1', region: 'europe-west1', job: 'w' } },
    steps: {
      commit: { status: 'succeeded', visit: 1, attempt: 1, output: { sha, subject: 's', files: [] } },
      build: { status: 'succeeded', visit: 1, attempt: 1, output: { buildId: 'b1', logUrl: 'javascript:alert(1)' } },
      job: { status: 'succeeded', visit: 1, attempt: 1, output: { executionName: 'projects/p1/locations/europe-west1/jobs/w/executions/w-abc', status: 'succeeded' } },
      logs: { status: 'succeeded', visit: 1, attempt: 1, output: { filter: 'resource.type="cloud_run_job"', entries: [], executionName: 'x' } },
    },
  } as unknown as RunRecord;
  const links = runLinks(run);
  assert.deepEqual(links.map((l) => [l.step, l.kind, l.href ?? null]), [
    ['commit', 'commit', `https://github.com/acme/w/commit/${sha}`],
    ['build', 'build', null],
    ['job', 'execution', 'https://console.cloud.google.com/run/jobs/executions/details/europe-west1/w-abc/tasks?project=p1'],
    ['logs', 'logs', 'https://console.cloud.google.com/logs/query;query=resource.type%3D%22cloud_run_job%22?project=p1'],
  ]);
  run.target.platform = 'local';
  assert.equal(runLinks(run).find((l) => l.kind === 'logs')!.href, undefined, 'no console link for a local target');
});
