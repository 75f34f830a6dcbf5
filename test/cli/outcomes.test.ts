// Failure is never shown as success: a deploy whose execution failed and an `end: failed` step are ✗ in the CLI;
// each step is one human line (no raw JSON); the summary says what a person should look at; --json stays the
// run record; `runwright report` prints the incident report; a dry run never parks and never claims a push.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { parseRunbook } from '../../src/core/runbook.js';
import { defaultRegistry } from '../../src/actions/index.js';
import { ACTION_OUTPUTS } from '../../src/actions/outputs.js';
import { simpleGit } from 'simple-git';
import { cli, assertNoTrace, ROOT, sample, type Sample } from './helpers.js';
import { cleanupPrefix } from '../helpers/redis.js';

let notCured: Sample;
let notCuredJson: Sample;
let seed: Sample;
before(async () => {
  notCured = await sample('second-broken-model');
  notCuredJson = await sample('second-broken-model');
  seed = await sample('seed');
});
after(async () => {
  for (const s of [notCured, notCuredJson, seed]) {
    await cleanupPrefix(s.env.RUNWRIGHT_PREFIX!);
    rmSync(s.dir, { recursive: true, force: true });
  }
});

const stepLine = (out: string, step: string, re: RegExp) => out.split('\n').filter((l) => new RegExp(`^\\d\\d:\\d\\d:\\d\\d . ${step}\\s`).test(l) && re.test(l));

test('a fix that does not cure: the failed execution and the failed end are ✗, the summary says what to look at; report and --json agree', async () => {
  const r = await cli([...notCured.runArgs, '--auto-approve'], { env: notCured.env });
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assertNoTrace(r.stdout + r.stderr);
  const out = r.stdout;
  assert.equal(stepLine(out, 'deploy', /✓/).length, 0, 'no ✓ on the deploy whose execution failed');
  assert.equal(stepLine(out, 'deploy', /^.{9}✗ deploy\s+finished in \d+ ms: execution \S+ FAILED \(tasks: 0 succeeded, 1 failed\)/).length, 1, out);
  assert.equal(stepLine(out, 'not_cured', /^.{9}✗ not_cured\s+end failed: Fix A \(/).length, 1, out);
  assert.doesNotMatch(out, /✓ not_cured|succeeded: end: failed/);
  // one human line per step: no JSON objects, no line cut mid-JSON
  for (const l of out.split('\n').filter((x) => /^\d\d:\d\d:\d\d [✓✗○] /.test(x))) assert.doesNotMatch(l, /\{"|"\w+":/, l);
  assert.match(out, /✓ commit\s+succeeded in \d+ ms: committed [0-9a-f]{12} 1 file — Fix SQLAlchemy: Comment out broken Organization\.feature_flags relationship/);
  assert.match(out, /\n✗ run (\S+) FAILED — Fix A/);
  assert.match(out, /what to look at:\n/);
  assert.match(out, /  - step 'verify' failed: \d+ log entries since .* match \["sqlalchemy"\]: .*'Auditor' failed to locate a name/);
  assert.match(out, /  - review branch runwright\/\S+ \(commit [0-9a-f]{12}\) pushed to /);
  assert.match(out, /  - not rolled back: the job still runs the fix/);
  assert.doesNotMatch(out, /Nothing pushed/);
  const runId = /incident report: runwright report (\S+)/.exec(out)![1]!;

  const rep = await cli(['report', runId], { env: notCured.env });
  assert.equal(rep.code, 0, rep.stderr);
  const md = rep.stdout;
  assert.match(md, /^# Incident report: .* on content-worker\n/);
  assert.match(md, /\*\*Status:\*\* ❌ \*\*FAILED\*\*/);
  for (const h of ['## Symptom', '## Cause found', '## Fix', '## Verification', '## Approvals', '## What a person should look at', '## Timeline']) assert.ok(md.includes(`\n${h}\n`), h);
  assert.match(md, /FeatureFlag' failed to locate a name/); // the symptom, verbatim
  assert.match(md, /```diff\n[^]*-    feature_flags = relationship\(/);
  assert.match(md, /- ❌ \*\*deploy\*\*: execution \S+ FAILED/);
  assert.match(md, /✅ approved by \*\*auto-approve\*\* at .*, option A/);
  assert.match(md, /\| deploy \| ❌ finished/);
  assert.match(md, /\| not_cured \| ❌ end failed/);

  const missing = await cli(['report', 'no-such-run'], { env: notCured.env });
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /no run 'no-such-run' under prefix/);

  // --json (on a second copy of the service: the first is fixed now): stdout is the run record only, the step
  // lines go to stderr, the record's shape unchanged
  const j = await cli([...notCuredJson.runArgs, '--auto-approve', '--json'], { env: notCuredJson.env });
  assert.equal(j.code, 1, j.stderr);
  assert.equal(stepLine(j.stderr, 'deploy', /✗ deploy\s+finished/).length, 1, j.stderr);
  const rec = JSON.parse(j.stdout);
  assert.equal(rec.status, 'failed');
  assert.equal(rec.steps.deploy.output.status, 'failed');
  assert.equal(rec.steps.not_cured.output.end, 'failed');
  assert.ok(Array.isArray(rec.events) && rec.events.length > 10);
  for (const k of ['id', 'runbookId', 'runbookHash', 'alert', 'target', 'inputs', 'outcome', 'createdAt', 'dryRun', 'autoApprove', 'steps', 'events']) assert.ok(k in rec, k);

  // Every field a real step output carries is documented in the action reference (docs/ACTIONS.md).
  const rb = parseRunbook(readFileSync(path.join(ROOT, 'runbooks', 'sqlalchemy-mapper-failure.yaml'), 'utf8'), 'rb.yaml', defaultRegistry().catalog());
  for (const [id, st] of Object.entries<{ output?: Record<string, unknown> }>(rec.steps)) {
    const action = rb.stepMap.get(id)?.action;
    if (!action || !st.output || typeof st.output !== 'object') continue;
    const documented = Object.keys(ACTION_OUTPUTS[action] ?? {});
    if (documented.includes('*')) continue;
    assert.deepEqual(Object.keys(st.output).filter((k) => !documented.includes(k)), [], `${action} (step ${id}) outputs fields docs/ACTIONS.md does not list`);
  }
});

test('--dry-run never parks at an approval, never claims a push, and is marked on its end lines', async () => {
  const r = await cli([...seed.runArgs, '--dry-run'], { env: seed.env });
  assert.notEqual(r.code, 3, 'a dry run does not park');
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const out = r.stdout;
  assert.match(out, /DRY RUN, nothing written/);
  assert.match(out, /✔ approve\s+approved: dry run: passed without a person \(nothing is written\) \(by dry-run\)/);
  assert.match(out, /○ push\s+planned in \d+ ms: DRY RUN, would push [0-9a-f]{12} to main/);
  assert.doesNotMatch(out, /^\S+ ✓ (push|prepare_branch)\s/m);
  assert.doesNotMatch(out, /: pushed [0-9a-f]{12} to /, 'no step line says it pushed');
  assert.match(out, /end succeeded \[DRY RUN, nothing written\]/);
  assert.match(out, /\n✓ run \S+ SUCCEEDED \(DRY RUN: nothing was written\)/);
  // and the remote really has nothing new: only main, at the sample's head
  const refs = await simpleGit().listRemote(['--heads', seed.remote]);
  assert.equal(refs.trim().split('\n').length, 1, refs);
  assert.match(refs, /\trefs\/heads\/main\s*$/);
});
