// Alerts as structured logs, made by the real loggers (python-json-logger, structlog) around a real SQLAlchemy
// failure: the CLI's reader (alertFromText, `runwright run --alert FILE`) and the HTTP intake (Pub/Sub push) read
// the same text through one function (src/core/log-entry.ts), with the traceback that is in a separate field.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { alertFromText } from '../../src/cli/alert-file.js';
import { normalizePubSub } from '../../src/api/intake/pubsub.js';
import { readSqlalchemyError } from '../../src/actions/sqlalchemy/lib/error-text.js';
import { structuredLogText } from '../../src/core/log-entry.js';
import { flaskPython, isSkip, type PythonEnv } from '../fixtures/sqlalchemy/python-env.js';

// A broken model and a job that logs its failure with the named logger; prints one JSON line on stderr.
const JOB = `import sys, logging
from sqlalchemy import Column, Integer
from sqlalchemy.orm import declarative_base, relationship, configure_mappers
Base = declarative_base()
class Organization(Base):
    __tablename__ = "organizations"
    id = Column(Integer, primary_key=True)
    feature_flags = relationship("FeatureFlag")
which = sys.argv[1]
if which == "json-logger":
    from pythonjsonlogger.json import JsonFormatter
    h = logging.StreamHandler(sys.stderr); h.setFormatter(JsonFormatter("%(levelname)s %(message)s"))
    log = logging.getLogger("job"); log.addHandler(h); log.propagate = False
else:
    import structlog
    structlog.configure(processors=[structlog.processors.add_log_level, structlog.processors.format_exc_info, structlog.processors.JSONRenderer()], logger_factory=structlog.PrintLoggerFactory(sys.stderr))
    log = structlog.get_logger()
try:
    configure_mappers()
except Exception:
    if which == "json-logger":
        log.exception("job failed to start")
    else:
        log.error("job failed to start", exc_info=True)
`;

const py = flaskPython();

function line(which: string): Record<string, unknown> {
  const r = spawnSync((py as PythonEnv).python, ['-c', JOB, which], { encoding: 'utf8' });
  const l = r.stderr.split('\n').find((x) => x.startsWith('{'));
  assert.ok(l, r.stderr);
  return JSON.parse(l);
}

const entry = (jsonPayload: object) => ({ insertId: 'a1', severity: 'ERROR', jsonPayload, resource: { type: 'cloud_run_job', labels: { job_name: 'content-worker' } }, logName: 'projects/p/logs/stderr' });
const envelope = (e: object) => ({ message: { data: Buffer.from(JSON.stringify(e)).toString('base64'), messageId: '1' }, subscription: 'projects/p/subscriptions/s' });

describe('structured-log alerts (real loggers, real SQLAlchemy)', { skip: isSkip(py) ? py.skip : false }, () => {
  for (const which of ['json-logger', 'structlog'] as const) {
    test(`${which}: message + separate traceback field, as an entry, a Pub/Sub push and a gcloud list`, () => {
      const payload = line(which);
      const trace = String(payload.exc_info ?? payload.exception ?? '');
      assert.match(trace, /^Traceback/, 'the traceback is in its own field');
      assert.doesNotMatch(String(payload.message ?? payload.event), /FeatureFlag/, 'the message alone does not carry the error');
      const e = entry(payload);
      const fromEntry = alertFromText(JSON.stringify(e)).text;
      const fromCliEnvelope = alertFromText(JSON.stringify(envelope(e)));
      const fromIntake = normalizePubSub(envelope(e) as any, new Date().toISOString()).alerts[0]!;
      assert.equal(fromCliEnvelope.text, fromEntry);
      assert.equal(fromIntake.text, fromEntry, 'the HTTP intake and the CLI read the same text');
      assert.equal(fromCliEnvelope.resource?.type, 'cloud_run_job', 'the CLI keeps the entry resource of an envelope');
      assert.match(fromEntry, /job failed to start/);
      assert.match(fromEntry, /Traceback/);
      const list = JSON.stringify([entry({ message: 'starting' }), e]);
      assert.equal(alertFromText(list).text, `starting\n${fromEntry}`);
      assert.equal(structuredLogText(payload), fromEntry, 'a bare structured line reads the same');
      const r = readSqlalchemyError(fromEntry);
      assert.equal(r.readable, true);
      assert.equal(r.mapper?.class, 'Organization');
      assert.equal(r.cause?.name, 'FeatureFlag');
    });
  }

  test('plain text starting with "[" stays plain text; a broken JSON object is refused', () => {
    assert.equal(alertFromText('[ERROR] worker failed').text, '[ERROR] worker failed');
    assert.throws(() => alertFromText('{"jsonPayload": '), /not valid JSON/);
  });
});
