// The runs API over inject and real HTTP: list with filters and pagination, one run with every step outcome,
// events, cancel, retry from the failed step, approve/reject with roles and approver lists, live SSE streams,
// and the OpenAPI document.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { harness, bearer, TOKENS, type Harness } from './harness.js';
import type { StepEvent } from '../../src/core/types.js';

let h: Harness;
before(async () => {
  h = await harness({ worker: true });
});
after(async () => h.close());

async function intake(text: string, labels: Record<string, string>, fingerprint: string, severity = 'error'): Promise<string> {
  const res = await h.app!.inject({ method: 'POST', url: '/intake/generic', headers: bearer(TOKENS.generic), payload: { text, labels, fingerprint, severity } });
  assert.equal(res.statusCode, 202, res.body);
  return res.json().runId;
}
const get = (url: string, token = TOKENS.viewer) => h.app!.inject({ method: 'GET', url, headers: bearer(token) });
const post = (url: string, token: string, payload?: object) => h.app!.inject({ method: 'POST', url, headers: bearer(token), ...(payload ? { payload } : {}) });

test('roles: no token 401, unknown token 401, viewer cannot act, approver cannot cancel', async () => {
  assert.equal((await h.app!.inject({ method: 'GET', url: '/api/runs' })).statusCode, 401);
  assert.equal((await get('/api/runs', 'nope-not-a-token-00000000000')).statusCode, 401);
  const id = await intake('the disk is full', { service: 'web' }, 'roles-1');
  const v = await post(`/api/runs/${id}/cancel`, TOKENS.viewer);
  assert.equal(v.statusCode, 403);
  assert.equal(v.json().message, "this needs the admin role; 'viewer1' is viewer");
  assert.equal((await post(`/api/runs/${id}/cancel`, TOKENS.alice)).statusCode, 403);
  assert.equal((await post(`/api/runs/${id}/approve`, TOKENS.viewer, {})).statusCode, 403);
  assert.equal((await get(`/api/runs/${id}`)).statusCode, 200);
});

test('get one run with every step outcome and its events; list filters by status, runbook, target and time, paginated', async () => {
  const a = await intake('the disk is full', { service: 'billing' }, 'list-a');
  const done = await h.engine.waitForEnd(a, 15_000);
  assert.equal(done.status, 'succeeded');
  const one = await get(`/api/runs/${a}`);
  assert.equal(one.statusCode, 200);
  const body = one.json();
  assert.equal(body.run.id, a);
  assert.equal(body.run.status, 'succeeded');
  assert.equal(body.run.outcome, 'inspected');
  assert.deepEqual(body.run.steps.inspect, { status: 'succeeded', output: { used: 97 }, visit: 1, attempt: 1 });
  assert.deepEqual(body.run.target, { name: 'billing', platform: 'local', branch: 'main', labels: { service: 'billing' } });
  assert.equal(body.run.target.repo, undefined, 'no repo, commands or env in the API');
  assert.deepEqual(body.events.map((e: StepEvent) => `${e.step}:${e.kind}`), [':run', 'inspect:started', 'inspect:succeeded', 'done:succeeded', 'done:run']);
  const evs = await get(`/api/runs/${a}/events?after=${body.events[1].id}`);
  assert.deepEqual(evs.json().events.map((e: StepEvent) => e.kind), ['succeeded', 'succeeded', 'run']);

  for (let i = 0; i < 4; i++) await intake('p99 latency high', { service: 'web' }, `list-lat-${i}`, 'critical');
  const latest = await get('/api/runs?runbook=high-latency&limit=3');
  assert.equal(latest.statusCode, 200);
  assert.equal(latest.json().runs.length, 3);
  assert.ok(latest.json().nextCursor);
  const page2 = await get(`/api/runs?runbook=high-latency&limit=3&cursor=${latest.json().nextCursor}`);
  assert.ok(page2.json().runs.length >= 1);
  const ids = [...latest.json().runs, ...page2.json().runs].map((r: any) => r.id);
  assert.equal(new Set(ids).size, ids.length, 'pages do not overlap');
  assert.ok(latest.json().runs.every((r: any) => r.runbookId === 'high-latency' && r.steps === undefined));
  const byTarget = await get('/api/runs?target=billing&status=succeeded');
  assert.ok(byTarget.json().runs.some((r: any) => r.id === a));
  assert.ok(byTarget.json().runs.every((r: any) => r.target.name === 'billing' && r.status === 'succeeded'));
  const future = await get(`/api/runs?since=${new Date(Date.now() + 3_600_000).toISOString()}`);
  assert.deepEqual(future.json().runs, []);
  const past = await get(`/api/runs?until=${Date.parse(done.createdAt) - 1}`);
  assert.ok(!past.json().runs.some((r: any) => r.id === a));
  const bad = await get('/api/runs?status=sleeping');
  assert.equal(bad.statusCode, 400);
  assert.equal(bad.json().field, 'querystring.status');
  assert.equal((await get('/api/runs?since=yesterday')).json().field, 'since');
  assert.equal((await get('/api/runs/nope')).statusCode, 404);
});

test('cancel (admin) and retry from the failed step', async () => {
  const c = await intake('needs a human for billing', { service: 'billing' }, 'cancel-1');
  await h.engine.waitFor(c, (r) => r.status === 'waiting_approval', 15_000);
  const res = await post(`/api/runs/${c}/cancel`, TOKENS.admin, { reason: 'false alarm' });
  assert.equal(res.statusCode, 200);
  assert.equal(res.json().run.status, 'cancelled');
  assert.equal(res.json().run.outcome, 'cancelled by admin: false alarm');
  const twice = await post(`/api/runs/${c}/cancel`, TOKENS.admin);
  assert.equal(twice.statusCode, 409);

  // fail-once: step two fails on attempt 1 (no retry policy) → run failed; retry resumes at step two.
  const f = await intake('job fail once please', { service: 'web' }, 'retry-1');
  const failed = await h.engine.waitForEnd(f, 15_000);
  assert.equal(failed.status, 'failed');
  assert.equal(failed.steps.two?.status, 'failed');
  const r = await post(`/api/runs/${f}/retry`, TOKENS.admin);
  assert.equal(r.statusCode, 200, r.body);
  const ok = await h.engine.waitForEnd(f, 15_000);
  assert.equal(ok.status, 'succeeded');
  assert.equal(ok.outcome, 'recovered');
  assert.equal(ok.steps.two?.attempt, 2);
  const ev = (await h.engine.store.events(f)).filter((e) => e.step === 'one' && e.kind === 'started');
  assert.equal(ev.length, 1, 'step one did not run again');
  assert.equal((await post(`/api/runs/${f}/retry`, TOKENS.admin)).statusCode, 409);
});

test('approve/reject: an approver not in the list is refused and the run is unchanged; an allowed one decides once', async () => {
  const id = await intake('needs a human for billing', { service: 'billing' }, 'approve-1');
  await h.engine.waitFor(id, (r) => r.status === 'waiting_approval', 15_000);
  const before = (await get(`/api/runs/${id}`)).json();
  assert.deepEqual(before.approvers, ['U0ALLOWED', 'SONCALL1', 'alice', 'carol']);
  const bob = await post(`/api/runs/${id}/approve`, TOKENS.bob, { comment: 'ship it' });
  assert.equal(bob.statusCode, 403);
  assert.equal(bob.json().error, 'not_an_approver');
  const unchanged = (await get(`/api/runs/${id}`)).json();
  assert.equal(unchanged.run.status, 'waiting_approval');
  assert.equal(unchanged.run.approval, undefined);
  assert.equal(unchanged.events.length, before.events.length);
  const badChoice = await post(`/api/runs/${id}/approve`, TOKENS.alice, { choice: 'Z' });
  assert.equal(badChoice.statusCode, 400);
  assert.equal(badChoice.json().field, 'choice');
  const extra = await post(`/api/runs/${id}/reject`, TOKENS.alice, { choice: 'A' });
  assert.equal(extra.statusCode, 400, 'reject takes no choice');
  const ok = await post(`/api/runs/${id}/reject`, TOKENS.alice, { comment: 'wrong diagnosis' });
  assert.equal(ok.statusCode, 200);
  assert.deepEqual({ ...ok.json().run.approval, at: undefined }, { decision: 'rejected', actor: 'alice', comment: 'wrong diagnosis', at: undefined });
  const again = await post(`/api/runs/${id}/approve`, TOKENS.alice, {});
  assert.equal(again.statusCode, 409);
  assert.match(again.json().message, /not waiting for approval \(decided by alice at /);
  const done = await h.engine.waitForEnd(id, 15_000);
  assert.equal(done.status, 'escalated');
  assert.equal(done.approvals?.length, 1);
});

/** Read SSE frames from a real HTTP response until `until` says stop. */
function sse(path: string, headers: Record<string, string>, until: (frames: { id?: string; event?: string; data: any }[]) => boolean): Promise<{ status: number; frames: { id?: string; event?: string; data: any }[] }> {
  return new Promise((resolve, reject) => {
    const req = http.get(`${h.url}${path}`, { headers: { ...bearer(TOKENS.viewer), ...headers } }, (res) => {
      const frames: { id?: string; event?: string; data: any }[] = [];
      let buf = '';
      if (res.statusCode !== 200) {
        res.resume();
        return resolve({ status: res.statusCode!, frames });
      }
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buf += chunk;
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const f: { id?: string; event?: string; data: any } = { data: undefined };
          for (const line of block.split('\n')) {
            if (line.startsWith('id: ')) f.id = line.slice(4);
            else if (line.startsWith('event: ')) f.event = line.slice(7);
            else if (line.startsWith('data: ')) f.data = JSON.parse(line.slice(6));
          }
          if (f.data !== undefined) frames.push(f);
          if (until(frames)) {
            req.destroy();
            return resolve({ status: 200, frames });
          }
        }
      });
      res.on('error', () => undefined);
    });
    req.on('error', (e) => (e.message.includes('socket hang up') ? undefined : reject(e)));
  });
}

test('SSE: a run stream replays history then goes live until the end; Last-Event-ID resumes; the all-runs stream sees new runs', async () => {
  const id = await intake('needs a human for billing', { service: 'billing' }, 'sse-1');
  await h.engine.waitFor(id, (r) => r.status === 'waiting_approval', 15_000);
  const ended = (fs: any[]) => fs.some((f) => f.data.kind === 'run' && f.data.output?.status === 'succeeded');
  const streamP = sse(`/api/runs/${id}/stream`, {}, ended);
  const allP = sse('/api/stream', {}, (fs) => fs.some((f) => f.data.runId === id && f.data.kind === 'approved'));
  // Wait until both streams are subscribed (they log it), then decide.
  await waitForLog((l) => l.msg === 'event stream opened' && l.stream === 'all');
  await waitForLog((l) => l.msg === 'event stream opened' && l.runId === id);
  assert.equal((await post(`/api/runs/${id}/approve`, TOKENS.alice, { choice: 'B' })).statusCode, 200);
  const { frames } = await streamP;
  assert.equal(frames[0]!.event, 'run');
  assert.equal(frames[0]!.data.status, 'waiting_approval');
  const kinds = frames.slice(1).map((f) => `${f.data.step}:${f.data.kind}`);
  assert.deepEqual(kinds, [':run', 'plan:started', 'plan:succeeded', 'approve:waiting', 'approve:approved', 'fix_b:started', 'fix_b:succeeded', 'done:succeeded', 'done:run']);
  assert.ok(frames.slice(1).every((f) => f.id && f.id === f.data.id), 'SSE id = event id');
  const all = await allP;
  assert.ok(all.frames.some((f) => f.data.runId === id && f.data.kind === 'approved' && f.data.actor === 'alice'));
  // Reconnect with Last-Event-ID: only what came after.
  const mid = frames.find((f) => f.data.kind === 'approved')!.id!;
  const resumed = await sse(`/api/runs/${id}/stream`, { 'last-event-id': mid }, ended);
  assert.deepEqual(resumed.frames.slice(1).map((f) => `${f.data.step}:${f.data.kind}`), ['fix_b:started', 'fix_b:succeeded', 'done:succeeded', 'done:run']);
  assert.equal((await sse('/api/runs/nope/stream', {}, () => true)).status, 404);
  const signIn = await h.app!.inject({ method: 'POST', url: '/dashboard/session', payload: { token: TOKENS.viewer } });
  const session = signIn.cookies.find((c) => c.name === 'runwright_session')!;
  const cookie = await sse(`/api/runs/${id}/stream`, { authorization: '', cookie: `runwright_session=${session.value}` }, (fs) => fs.length >= 2);
  assert.equal(cookie.status, 200, 'EventSource can authenticate with the session cookie');
  const rawToken = await sse(`/api/runs/${id}/stream`, { authorization: '', cookie: `runwright_token=${TOKENS.viewer}` }, () => true);
  assert.equal(rawToken.status, 401, 'a raw API token in a cookie is not a session');
  await waitFor(() => h.app!.runwright.streams.size === 0);
});

test('OpenAPI document: every route, the run shapes and the security schemes', async () => {
  const res = await fetch(`${h.url}/openapi.json`);
  assert.equal(res.status, 200);
  const doc = (await res.json()) as any;
  assert.equal(doc.openapi, '3.0.3');
  for (const p of ['/intake/generic', '/intake/alertmanager', '/intake/cloud-monitoring', '/intake/pubsub', '/api/runs', '/api/runs/{id}', '/api/runs/{id}/events', '/api/runs/{id}/approve', '/api/runs/{id}/reject', '/api/runs/{id}/cancel', '/api/runs/{id}/retry', '/api/runs/{id}/stream', '/api/stream', '/slack/interactions', '/healthz', '/readyz', '/metrics']) {
    assert.ok(doc.paths[p], `path ${p}`);
  }
  for (const s of ['Run', 'RunSummary', 'StepEvent', 'StepState', 'ApprovalDecision', 'Error', 'IntakeRecord', 'GenericAlert', 'AlertmanagerWebhook', 'PubSubPush']) assert.ok(doc.components.schemas[s], `schema ${s}`);
  assert.deepEqual(Object.keys(doc.components.securitySchemes).sort(), ['bearer', 'hmac', 'oidc']);
  assert.equal(doc.paths['/api/runs/{id}'].get.responses['200'].content['application/json'].schema.properties.run.$ref, '#/components/schemas/Run');
  assert.ok(doc.paths['/api/runs'].get.parameters.some((p: any) => p.name === 'status' && p.in === 'query'));
});

async function waitFor(pred: () => boolean, ms = 5000): Promise<void> {
  const t0 = Date.now();
  while (!pred()) {
    if (Date.now() - t0 > ms) throw new Error('condition not reached');
    await new Promise((r) => setImmediate(r));
  }
}
async function waitForLog(pred: (l: any) => boolean, ms = 5000): Promise<void> {
  await waitFor(() => h.logs.some((l) => pred(JSON.parse(l))), ms);
}
