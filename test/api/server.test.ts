// `runwright serve` as a real process (bin/runwright.js → startServer): it listens, takes alerts, runs them,
// and on SIGTERM finishes the request in flight, refuses new connections, closes everything and exits 0.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import http from 'node:http';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import { REDIS_URL, cleanupPrefix, testPrefix } from '../helpers/redis.js';
import { logLines } from '../helpers/log-lines.js';
import { RUNBOOKS_DIR, TARGETS_FILE, TOKENS } from './harness.js';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');

test('serve: SIGTERM lets the in-flight request finish, then the process exits 0', async () => {
  const prefix = testPrefix('serve');
  const child = spawn(process.execPath, [path.join(root, 'bin', 'runwright.js'), 'serve', '--role', 'all'], {
    cwd: root,
    env: {
      ...process.env,
      RUNWRIGHT_FROM_SOURCE: '1',
      REDIS_URL,
      RUNWRIGHT_PREFIX: prefix,
      RUNWRIGHT_RUNBOOKS: RUNBOOKS_DIR,
      RUNWRIGHT_TARGETS: TARGETS_FILE,
      RUNWRIGHT_WORKDIR: mkdtempSync(path.join(os.tmpdir(), 'rw-serve-')),
      HOST: '127.0.0.1',
      PORT: '0',
      LOG_LEVEL: 'info',
      RUNWRIGHT_INTAKE_TOKEN_GENERIC: TOKENS.generic,
      RUNWRIGHT_API_TOKENS: `ops:viewer:${TOKENS.viewer}`,
      SLACK_BOT_TOKEN: '',
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const { lines, logLine } = logLines(child);
  const exited = once(child, 'exit');
  try {
    const started = await Promise.race([logLine((l) => l.msg === 'runwright started'), exited.then(() => { throw new Error(`serve exited early: ${JSON.stringify(lines)}`); })]);
    const url = new URL(started.url);
    assert.equal(started.role, 'all');
    assert.ok(started.workerId);

    // A normal request first: the worker in the same process runs it to the end.
    const ok = await fetch(`${started.url}/intake/generic`, { method: 'POST', headers: { authorization: `Bearer ${TOKENS.generic}`, 'content-type': 'application/json' }, body: JSON.stringify({ text: 'the disk is full', labels: { service: 'web' } }) });
    assert.equal(ok.status, 202);
    const runId = ((await ok.json()) as any).runId;
    // Follow the run on its live event stream until it ends.
    const stream = await fetch(`${started.url}/api/runs/${runId}/stream`, { headers: { authorization: `Bearer ${TOKENS.viewer}` } });
    assert.equal(stream.headers.get('content-type'), 'text/event-stream; charset=utf-8');
    const reader = stream.body!.getReader();
    let seen = '';
    while (!/"kind":"run"[^\n]*"status":"succeeded"/.test(seen)) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`stream ended early: ${seen}`);
      seen += Buffer.from(value).toString('utf8');
    }
    await reader.cancel();
    const ready = await fetch(`${started.url}/readyz`);
    assert.equal(ready.status, 200);

    // Now a request in flight: headers and half the body sent, then SIGTERM.
    const body = JSON.stringify({ text: 'the disk is full', labels: { service: 'billing' }, fingerprint: 'in-flight' });
    const req = http.request({ host: url.hostname, port: Number(url.port), path: '/intake/generic', method: 'POST', headers: { authorization: `Bearer ${TOKENS.generic}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), expect: '100-continue' } });
    const response = new Promise<{ status: number; body: string }>((resolve, reject) => {
      req.on('response', (res) => {
        let b = '';
        res.on('data', (c) => (b += c));
        res.on('end', () => resolve({ status: res.statusCode!, body: b }));
      });
      req.on('error', reject);
    });
    // '100 Continue' comes back once the server has parsed the headers: the request is then in flight on its side
    // (before that, a busy server may still count the connection idle and close it at shutdown).
    const continued = once(req, 'continue');
    req.flushHeaders();
    await continued;
    req.write(body.slice(0, 20));
    child.kill('SIGTERM');
    await logLine((l) => l.msg === 'shutting down: finishing in-flight requests');
    // New connections are no longer accepted.
    await assert.rejects(fetch(`${started.url}/healthz`), 'the listener is closed');
    req.end(body.slice(20));
    const res = await response;
    assert.equal(res.status, 202, res.body);
    const inflightRun = JSON.parse(res.body).runId;
    assert.match(inflightRun, /^r/);
    const [code] = await exited;
    assert.equal(code, 0);
    const stopped = lines.find((l) => l.msg === 'runwright stopped');
    const shutting = lines.find((l) => l.msg === 'shutting down: finishing in-flight requests');
    assert.ok(stopped);
    assert.ok(stopped.time - shutting.time < 3000, `shutdown took ${stopped.time - shutting.time} ms`);
    assert.ok(lines.some((l) => l.msg === 'request' && l.runId === inflightRun && l.status === 202), 'the in-flight request was logged with its run id');
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    await cleanupPrefix(prefix);
  }
});
