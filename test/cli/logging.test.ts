// On Google Cloud (K_SERVICE, K_JOB or GOOGLE_CLOUD_PROJECT set) every JSON log line carries Cloud Logging's
// `severity`; elsewhere the lines stay as pino writes them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { createLogger } from '../../src/logging.js';

function capture(env: NodeJS.ProcessEnv): { lines: () => Record<string, unknown>[]; log: ReturnType<typeof createLogger> } {
  const out: string[] = [];
  const destination = new Writable({
    write(c, _e, cb) {
      out.push(...String(c).split('\n').filter(Boolean));
      cb();
    },
  });
  return { log: createLogger({ level: 'trace', destination, env }), lines: () => out.map((l) => JSON.parse(l)) };
}

test('Cloud Logging severity on Google Cloud, for every level', async () => {
  for (const env of [{ K_SERVICE: 'runwright-api' }, { K_JOB: 'x' }, { GOOGLE_CLOUD_PROJECT: 'acme-prod' }]) {
    const { log, lines } = capture(env);
    log.trace('t');
    log.debug('d');
    log.info({ runId: 'r1' }, 'i');
    log.warn('w');
    log.error('e');
    log.fatal('f');
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(lines().map((l) => [l.msg, l.severity, l.level]), [['t', 'DEBUG', 10], ['d', 'DEBUG', 20], ['i', 'INFO', 30], ['w', 'WARNING', 40], ['e', 'ERROR', 50], ['f', 'CRITICAL', 60]], JSON.stringify(env));
    assert.equal(lines()[2]!.runId, 'r1');
  }
});

test('no severity field elsewhere', async () => {
  const { log, lines } = capture({});
  log.warn('w');
  await new Promise((r) => setImmediate(r));
  assert.equal(lines()[0]!.severity, undefined);
  assert.equal(lines()[0]!.level, 40);
});

test('secrets are redacted by key at the top of a log object and up to two levels below; other fields stay', async () => {
  const { log, lines } = capture({});
  log.info({ token: 'xoxb-top', runId: 'r1' }, 'top');
  log.info({ target: { password: 'pw-one', name: 'billing' } }, 'one');
  log.info({ req: { headers: { authorization: 'Bearer two' } }, cfg: { slack: { signingSecret: 's3' } } }, 'two');
  log.info({ apiTokens: ['t1'], creds: { clientSecret: 'cs', private_key: 'pk' } }, 'more');
  await new Promise((r) => setImmediate(r));
  const [top, one, two, more] = lines();
  assert.equal(top!.token, '[redacted]');
  assert.equal(top!.runId, 'r1');
  assert.deepEqual(one!.target, { password: '[redacted]', name: 'billing' });
  assert.deepEqual(two!.req, { headers: { authorization: '[redacted]' } });
  assert.deepEqual(two!.cfg, { slack: { signingSecret: '[redacted]' } });
  assert.equal(more!.apiTokens, '[redacted]');
  assert.deepEqual(more!.creds, { clientSecret: '[redacted]', private_key: '[redacted]' });
  for (const l of lines()) for (const s of ['xoxb-top', 'pw-one', 'Bearer two', 's3', 'cs', 'pk']) assert.ok(!JSON.stringify(l).includes(`"${s}"`), s);
});
