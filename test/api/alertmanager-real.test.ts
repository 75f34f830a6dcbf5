// Issue 12, done-when: a real Prometheus Alertmanager (Debian prometheus-alertmanager, started here on a loopback
// port) with a webhook receiver pointing at the intake. Alerts are posted to it with its HTTP API v2 (node fetch).
// - a group of 3 alerts → 1 run (the group's alerts attached to it);
// - during an induced overload (the intake's window for Alertmanager's credential is full) the intake answers 503,
//   Alertmanager retries, and the notification ends in exactly one run;
// - a resolved notification changes nothing.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { harness, bearer, TOKENS, type Harness } from './harness.js';
import type { IntakeRecord } from '../../src/api/intake/log.js';

const AM_BIN = ['/usr/bin/prometheus-alertmanager', '/usr/bin/alertmanager'].find((p) => existsSync(p));
const skip = AM_BIN ? false : 'prometheus-alertmanager is not installed: apt-get install -y prometheus-alertmanager (scripts/setup.sh installs it)';

/** Intake window for this test: 3 requests per 8 s per (source, credential). */
const RATE = { max: 3, windowMs: 8_000 };

let h: Harness;
let am: ChildProcess | undefined;
let amUrl = '';
const amLog: string[] = [];

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

async function until<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 90_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}\nalertmanager log:\n${amLog.slice(-40).join('\n')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

before(async () => {
  if (skip) return;
  h = await harness({ worker: true, config: { api: { rateLimit: RATE } } });
  const dir = mkdtempSync(path.join(os.tmpdir(), 'rw-am-'));
  const port = await freePort();
  amUrl = `http://127.0.0.1:${port}`;
  writeFileSync(path.join(dir, 'alertmanager.yml'), [
    'route:',
    '  receiver: runwright',
    '  group_by: [alertname, service]',
    '  group_wait: 1s',
    '  group_interval: 2s',
    '  repeat_interval: 1h',
    'receivers:',
    '  - name: runwright',
    '    webhook_configs:',
    `      - url: ${h.url}/intake/alertmanager`,
    '        send_resolved: true',
    '        http_config:',
    '          authorization:',
    '            type: Bearer',
    `            credentials: ${TOKENS.alertmanager}`,
    '',
  ].join('\n'));
  am = spawn(AM_BIN!, [`--config.file=${path.join(dir, 'alertmanager.yml')}`, `--storage.path=${path.join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--cluster.listen-address=', '--log.level=debug'], { stdio: ['ignore', 'pipe', 'pipe'] });
  for (const s of [am.stdout!, am.stderr!]) s.on('data', (d) => amLog.push(...String(d).split('\n').filter(Boolean)));
  await until('alertmanager to be ready', async () => (await fetch(`${amUrl}/-/ready`)).ok, 60_000);
});

after(async () => {
  if (am && am.exitCode === null) {
    const exited = new Promise((r) => am!.once('exit', r));
    am.kill('SIGTERM');
    await exited;
  }
  await h?.close();
});

/** Post alerts to Alertmanager's API v2, as Prometheus would. */
async function fire(service: string, opts: { resolved?: boolean; startsAt: string }) {
  const alerts = [0, 1, 2].map((i) => ({
    labels: { alertname: 'DiskFull', service, pod: `${service}-${i}`, severity: 'critical' },
    annotations: { summary: `disk is full on ${service}-${i}` },
    startsAt: opts.startsAt,
    ...(opts.resolved ? { endsAt: new Date().toISOString() } : {}),
    generatorURL: 'http://prometheus.example/graph',
  }));
  const res = await fetch(`${amUrl}/api/v2/alerts`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(alerts) });
  assert.equal(res.status, 200, await res.text());
}

const records = async (): Promise<IntakeRecord[]> => (await h.app!.inject({ method: 'GET', url: '/api/alerts?limit=500', headers: bearer(TOKENS.viewer) })).json().records;
/** The intake records of the 3 alerts Alertmanager delivered for this target's group. */
const deliveredTo = (target: string) => until(`the notification for ${target}`, async () => {
  const rs = (await records()).filter((r) => r.target === target && r.source === 'alertmanager');
  return rs.length >= 3 ? rs : undefined;
});
const runsOn = async (target: string) => (await h.engine.store.list({ target, limit: 100 })).runs;
const metric = async (re: RegExp) => Number(re.exec((await h.app!.inject({ method: 'GET', url: '/metrics' })).body)?.[1] ?? 0);

test('a group of 3 alerts → 1 run; a resolved notification changes nothing', { skip, timeout: 180_000 }, async () => {
  const startsAt = new Date().toISOString();
  await fire('web', { startsAt });
  const delivered = await deliveredTo('web');
  assert.deepEqual(delivered.map((r) => r.outcome).sort(), ['attached', 'attached', 'started']);
  const runs = await runsOn('web');
  assert.equal(runs.length, 1, 'one run for the group');
  const run = (await h.engine.store.get(runs[0]!.id))!;
  assert.equal(run.runbookId, 'disk-full');
  assert.deepEqual((run.alert.raw as any).alerts.map((a: any) => a.labels.pod).sort(), ['web-0', 'web-1', 'web-2']);
  assert.match(String((run.alert.raw as any).groupKey), /alertname="DiskFull"/);
  const done = await h.engine.waitFor(run.id, (r) => r.status === 'succeeded' || r.status === 'failed', 30_000);
  assert.equal(done.status, 'succeeded');

  // Resolved: Alertmanager sends the group again with status resolved; every alert is skipped, nothing else moves.
  const before = JSON.stringify(await h.engine.store.get(run.id));
  await fire('web', { startsAt, resolved: true });
  const resolved = await until('the resolved notification', async () => {
    const rs = (await records()).filter((r) => r.source === 'alertmanager' && r.outcome === 'skipped' && /is resolved/.test(r.reason ?? ''));
    return rs.length >= 3 ? rs : undefined;
  });
  assert.equal(resolved.length, 3);
  assert.equal((await runsOn('web')).length, 1, 'no run started');
  assert.equal(JSON.stringify(await h.engine.store.get(run.id)), before, 'the run is unchanged');
});

test('overload: the intake answers 503, Alertmanager retries, and the notification ends in exactly one run', { skip, timeout: 180_000 }, async () => {
  let counting = false;
  let fillerRefused = 0;
  const ping = async () => {
    const code = (await h.app!.inject({
      method: 'POST', url: '/intake/alertmanager', headers: { ...bearer(TOKENS.alertmanager), 'content-type': 'application/json' },
      payload: JSON.stringify({ version: '4', status: 'resolved', alerts: [{ status: 'resolved', labels: { alertname: 'Filler' } }] }),
    })).statusCode;
    if (counting && code === 503) fillerRefused++;
    return code;
  };
  // Fill a fresh window for Alertmanager's credential: after a 503, the first 200 opens a new window.
  await until('a full window', async () => (await ping()) === 503);
  await until('a fresh window', async () => (await ping()) === 200);
  for (let i = 1; i < RATE.max; i++) assert.equal(await ping(), 200);
  assert.equal(await ping(), 503);
  const refusedBefore = await metric(/runwright_intake_rejected_total\{source="alertmanager",reason="rate_limited"\} (\d+)/);
  counting = true;

  await fire('billing', { startsAt: new Date().toISOString() });
  // Alertmanager is refused while the window is full (kept full until it has been: a slow machine may see a new window).
  await until('Alertmanager to be refused', async () => {
    if ((await metric(/runwright_intake_rejected_total\{source="alertmanager",reason="rate_limited"\} (\d+)/)) > refusedBefore + fillerRefused) return true;
    await ping();
    return false;
  });
  // …retries, and gets through once the window has passed.
  const delivered = await deliveredTo('billing');
  assert.deepEqual(delivered.map((r) => r.outcome).sort(), ['attached', 'attached', 'started']);
  const runs = await runsOn('billing');
  assert.equal(runs.length, 1, 'exactly one run');
  assert.equal((await h.engine.store.get(runs[0]!.id))!.runbookId, 'disk-full');
  assert.ok(amLog.some((l) => /Notify attempt failed|notify retry canceled|Notify for alerts failed|status code 503/i.test(l)), 'Alertmanager saw the 503');
});
