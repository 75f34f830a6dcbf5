// The incident report's "Cause found" opens with one distilled line, built from the structured outputs of the
// diagnosis steps of real runs (test/fixtures/runs: the SQLAlchemy runbook on the demo's sample service, the Alembic
// runbook on its fixtures); a run without such outputs keeps the step summaries alone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { causeFound, incidentReport } from '../../src/core/report.js';
import type { RunRecord, StepEvent } from '../../src/core/types.js';

const DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'runs');
const load = (name: string): RunRecord & { events: StepEvent[] } => JSON.parse(readFileSync(path.join(DIR, `${name}.json`), 'utf8'));
const causeSection = (md: string) => md.slice(md.indexOf('## Cause found\n'), md.indexOf('\n## Fix\n'));

test('SQLAlchemy: the relationship that names a missing class, with file and line, first in the section', () => {
  for (const name of ['seed', 'second-broken-model']) {
    const run = load(name);
    const line = "Organization.feature_flags: relationship('FeatureFlag') names a class that does not exist (backend/app/models/organization.py:15)";
    assert.equal(causeFound(run, run.events), line, name);
    const sec = causeSection(incidentReport(run, run.events));
    assert.ok(sec.startsWith(`## Cause found\n\n**${line}**\n\n- ✅ **identify**: `), sec);
    assert.match(sec, /- ✅ \*\*inspect\*\*: /, 'the step summaries follow');
  }
});

test('SQLAlchemy without the inspect step: where the check failed; a healthy check: the alert is stale', () => {
  const run = load('seed');
  delete run.steps.inspect;
  delete run.steps.plan;
  assert.match(causeFound(run, run.events)!, /^Organization\.feature_flags \(backend\/app\/models\/organization\.py:15\): InvalidRequestError: When initializing mapper mapped class Organization->organizations, expression 'FeatureFlag' failed to locate a name/);
  (run.steps.confirm!.output as Record<string, unknown>).healthy = true;
  assert.equal(causeFound(run, run.events), 'the check passes at 395eba0da251: the alert is stale (nothing is broken now)');
});

test('Alembic: reserved attribute names and missing model imports, named with their files', () => {
  const reserved = load('alembic-reserved');
  assert.equal(causeFound(reserved, reserved.events), "Event.metadata, Tenant.metadata: 'metadata' is a name SQLAlchemy reserves on declarative classes (backend/app/models/event.py, backend/app/models/tenant.py)");
  const imports = load('alembic-imports');
  const line = 'backend/alembic/env.py does not import app.models.alert_rule, app.models.event before target_metadata: autogenerate would drop events, alert_rules';
  assert.equal(causeFound(imports, imports.events), line);
  assert.ok(causeSection(incidentReport(imports, imports.events)).startsWith(`## Cause found\n\n**${line}**\n\n- `));
});

test('no structured diagnosis: the step summaries alone, as before', () => {
  const run = load('seed');
  for (const id of ['identify', 'confirm', 'inspect', 'plan']) delete run.steps[id];
  assert.equal(causeFound(run, run.events), undefined);
  const sec = causeSection(incidentReport(run, run.events));
  assert.ok(sec.startsWith('## Cause found\n\n- ✅ **checkout**: '), sec);
});
