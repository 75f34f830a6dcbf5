// Issue 12 §6, one test per item: inputs named like Object.prototype members; Alertmanager caps on fingerprint length
// and label count; JSON intake routes refuse form bodies (415); no git credentials from a target's repo URL in the
// run record in Redis; dashboard source maps need a session; a queued run names the lock's current holder.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { harness, bearer, nothingEnqueued, TOKENS, type Harness } from './harness.js';
import { parseRunbook } from '../../src/core/runbook.js';
import { defaultRegistry } from '../../src/actions/index.js';
import { ValidationError } from '../../src/core/errors.js';
import { withCredentials } from '../../src/engine/target-secrets.js';
import type { Target } from '../../src/core/types.js';

let h: Harness;
before(async () => {
  h = await harness({ worker: true });
});
after(async () => {
  await h.close();
});

const asJson = { 'content-type': 'application/json' };

test('runbook inputs named toString, constructor, __proto__ (or any Object.prototype member) are refused at load time, at their line', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'rw-proto-'));
  for (const name of ['toString', 'constructor', '__proto__', 'hasOwnProperty', 'valueOf']) {
    const file = path.join(dir, `${name}.yaml`);
    const src = `id: proto\ntitle: Proto\nmatch: { any: [ { text: x } ] }\ninputs:\n  ok: { type: string, default: a }\n  ${name}: { type: string, default: "1" }\nsteps:\n  - id: s\n    end: succeeded\n    outcome: "{{ inputs.ok }}"\n`;
    writeFileSync(file, src);
    assert.throws(() => parseRunbook(src, file, defaultRegistry().catalog()), (e: unknown) => {
      assert.ok(e instanceof ValidationError);
      assert.equal(e.issues[0]!.line, 6, JSON.stringify(e.issues));
      assert.equal(e.issues[0]!.path, `inputs.${name}`);
      assert.match(e.issues[0]!.message, new RegExp(`input name '${name.replace(/_/g, '_')}' is reserved`));
      return true;
    });
  }
  // A template reading inputs.toString is a reference to an undeclared input, not to a built-in.
  const reads = `id: proto\ntitle: Proto\nmatch: { any: [ { text: x } ] }\nsteps:\n  - id: s\n    end: succeeded\n    outcome: "{{ inputs.toString }}"\n`;
  assert.throws(() => parseRunbook(reads, 'reads.yaml', defaultRegistry().catalog()), /inputs\.toString, which the runbook does not declare/);
});

test('alert inputs named like Object.prototype members are refused (400 naming the field), not silently dropped', async () => {
  for (const name of ['toString', 'constructor', 'hasOwnProperty']) {
    const res = await h.app!.inject({ method: 'POST', url: '/intake/generic', headers: { ...bearer(TOKENS.generic), ...asJson }, payload: JSON.stringify({ text: 'disk is full', labels: { service: 'web' }, fingerprint: `proto-${name}`, runbook: 'disk-full', target: 'web', inputs: { [name]: 'x' } }) });
    assert.equal(res.statusCode, 400, res.body);
    assert.equal(res.json().field, `inputs.${name}`);
    assert.match(res.json().message, new RegExp(`has no input '${name}'`));
  }
  const proto = await h.app!.inject({ method: 'POST', url: '/intake/generic', headers: { ...bearer(TOKENS.generic), ...asJson }, payload: '{"text":"disk is full","runbook":"disk-full","target":"web","inputs":{"__proto__":{"threshold":1}}}' });
  assert.equal(proto.statusCode, 400);
  assert.equal((await h.engine.store.list({ limit: 50 })).runs.filter((r) => r.alert.fingerprint.startsWith('proto-')).length, 0);
});

test('Alertmanager: a fingerprint longer than 128 characters or more than 64 labels is refused and nothing is enqueued', async () => {
  const before = await nothingEnqueued(h);
  const alert = (over: object) => ({ version: '4', status: 'firing', groupKey: 'g-caps', alerts: [{ status: 'firing', labels: { alertname: 'DiskFull', service: 'web' }, ...over }] });
  const send = (body: object) => h.app!.inject({ method: 'POST', url: '/intake/alertmanager', headers: { ...bearer(TOKENS.alertmanager), ...asJson }, payload: JSON.stringify(body) });
  const longFp = await send(alert({ fingerprint: 'f'.repeat(129) }));
  assert.equal(longFp.statusCode, 400);
  assert.equal(longFp.json().field, 'alerts[0].fingerprint');
  const labels = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`l${i}`, 'v']));
  const many = await send(alert({ labels: { alertname: 'DiskFull', ...labels } }));
  assert.equal(many.statusCode, 400);
  assert.equal(many.json().field, 'alerts[0].labels');
  const common = await send({ ...alert({}), commonLabels: labels });
  assert.equal(common.statusCode, 400);
  assert.equal(common.json().field, 'commonLabels');
  assert.deepEqual(await nothingEnqueued(h), before);
  // At the caps it is accepted.
  const atCap = await send(alert({ fingerprint: 'f'.repeat(128), labels: { alertname: 'Nothing', ...Object.fromEntries(Array.from({ length: 63 }, (_, i) => [`l${i}`, 'v'])) } }));
  assert.equal(atCap.statusCode, 200, atCap.body);
});

test('JSON intake routes refuse form bodies and other content types with 415, before anything is read', async () => {
  const form = 'text=disk+is+full&labels%5Bservice%5D=web';
  for (const [url, headers] of [
    ['/intake/generic', bearer(TOKENS.generic)],
    ['/intake/alertmanager', bearer(TOKENS.alertmanager)],
    ['/intake/cloud-monitoring', bearer(TOKENS.cloudMonitoring)],
    ['/intake/pubsub', {}],
  ] as const) {
    for (const type of ['application/x-www-form-urlencoded', 'text/plain', 'multipart/form-data; boundary=x']) {
      const res = await h.app!.inject({ method: 'POST', url, headers: { ...headers, 'content-type': type }, payload: form });
      assert.equal(res.statusCode, 415, `${url} ${type}: ${res.body}`);
      assert.equal(res.json().error, 'unsupported_media_type');
      assert.equal(res.json().field, 'content-type');
    }
  }
  const metrics = (await h.app!.inject({ method: 'GET', url: '/metrics' })).body;
  assert.match(metrics, /runwright_intake_rejected_total\{source="generic",reason="unsupported_media_type"\} 3/);
});

test('git credentials in a target repo URL never reach the run record in Redis; the worker puts its own back', async () => {
  const web = h.engine.targets.get('web')!;
  const secretTarget: Target = { ...web, repo: 'https://ci-bot:s3cr3t-T0KEN@git.example.com/acme/web.git', gcp: { project: 'p', region: 'r', job: 'j', repoUrl: 'https://oauth2:gl-s3cr3t@gitlab.example.com/acme/web.git' } };
  const res = await h.engine.submit({ runbookId: 'disk-full', target: secretTarget, alert: { source: 'test', fingerprint: 'creds', severity: 'info', text: 'disk is full', labels: {}, receivedAt: new Date().toISOString() } });
  assert.equal(res.result, 'created');
  const id = res.run.id;
  await h.engine.waitFor(id, (r) => r.status === 'succeeded' || r.status === 'failed', 15_000);
  const raw = JSON.stringify(await h.engine.store.redis.hgetall(`${h.prefix}:run:${id}`)) + JSON.stringify(await h.engine.store.redis.xrange(`${h.prefix}:run:${id}:ev`, '-', '+'));
  assert.ok(!raw.includes('s3cr3t'), 'no credential anywhere in the run hash or its events');
  const stored = (await h.engine.store.get(id))!;
  assert.equal(stored.target.repo, 'https://git.example.com/acme/web.git');
  assert.equal(stored.target.gcp?.repoUrl, 'https://gitlab.example.com/acme/web.git');
  const api = await h.app!.inject({ method: 'GET', url: `/api/runs/${id}`, headers: bearer(TOKENS.viewer) });
  assert.ok(!api.body.includes('s3cr3t'));
  // A worker that knows the target (same name, same URL once stripped) restores its own credentials for the step.
  const known = new Map([[secretTarget.name, secretTarget]]);
  assert.equal(withCredentials(stored.target, known).repo, secretTarget.repo);
  assert.equal(withCredentials(stored.target, known).gcp?.repoUrl, secretTarget.gcp!.repoUrl);
  // …and never for a URL that differs (another repository under the same target name).
  assert.equal(withCredentials({ ...stored.target, repo: 'https://git.example.com/other/repo.git' }, known).repo, 'https://git.example.com/other/repo.git');
  assert.equal(withCredentials(stored.target, new Map()).repo, 'https://git.example.com/acme/web.git');
});

test('dashboard source maps need a session; the bundle itself does not', async () => {
  assert.equal((await fetch(`${h.url}/dashboard/assets/app.js`)).status, 200);
  for (const map of ['app.js.map', 'app.css.map']) {
    const anon = await fetch(`${h.url}/dashboard/assets/${map}`);
    assert.equal(anon.status, 401, map);
    assert.equal(((await anon.json()) as any).field, 'cookie');
    assert.equal((await fetch(`${h.url}/dashboard/assets/${map}?v=1`)).status, 401, `${map} with a query`);
  }
  const signIn = await h.app!.inject({ method: 'POST', url: '/dashboard/session', payload: { token: TOKENS.viewer } });
  const c = signIn.cookies.find((x) => x.name === 'runwright_session')!;
  const withSession = await fetch(`${h.url}/dashboard/assets/app.js.map`, { headers: { cookie: `runwright_session=${c.value}` } });
  assert.equal(withSession.status, 200);
  assert.ok(Array.isArray(((await withSession.json()) as any).sources));
});

test('a queued run names the run that holds the lock now, not one that already ended', async () => {
  const start = async () => {
    const r = await h.app!.inject({ method: 'POST', url: '/api/runs', headers: bearer(TOKENS.admin), payload: { runbook: 'fix-approval', target: 'web', text: 'needs a human' } });
    assert.equal(r.statusCode, 201, r.body);
    return r.json().run.id as string;
  };
  const a = await start();
  await h.engine.waitFor(a, (r) => r.status === 'waiting_approval', 15_000);
  const b = await start();
  const c = await start();
  assert.equal((await h.engine.store.get(b))!.waitingReason, `waiting for target lock held by run ${a}`);
  assert.equal((await h.engine.store.get(c))!.waitingReason, `waiting for target lock held by run ${a}`);
  const cancel = await h.app!.inject({ method: 'POST', url: `/api/runs/${a}/cancel`, headers: bearer(TOKENS.admin), payload: {} });
  assert.equal(cancel.statusCode, 200, cancel.body);
  await h.engine.waitFor(b, (r) => r.status === 'waiting_approval', 15_000);
  const waiting = (await h.engine.store.get(c))!;
  assert.equal(waiting.status, 'waiting_lock');
  assert.equal(waiting.waitingReason, `waiting for target lock held by run ${b}`);
  for (const id of [b, c]) await h.app!.inject({ method: 'POST', url: `/api/runs/${id}/cancel`, headers: bearer(TOKENS.admin), payload: {} });
});
