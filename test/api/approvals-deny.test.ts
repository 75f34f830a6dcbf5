// Issue 12 §1: approvals are denied by default and every decision records the person.
// - An approval step nobody may decide (no approvers from the runbook, the step, the target or SLACK_APPROVERS) is
//   refused when the server loads it, at its file:line; RUNWRIGHT_APPROVAL_DEFAULT=admins lets admins (only) decide.
// - One identity per person: a Slack user mapped to an API user (RUNWRIGHT_SLACK_USERS) decides as that user, with
//   that user's role and groups, and the decision records the same name whether it came from Slack or the API.
// - `runwright run … --auto-approve` still approves such a gate, recorded as auto-approve (the CLI operator).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { harness, bearer, slackRequest, TOKENS, TARGETS_FILE, SLACK_APP, SLACK_CHANNEL, SLACK_TEAM } from './harness.js';
import { loadConfig } from '../../src/config/config.js';
import { ValidationError } from '../../src/core/errors.js';
import { REDIS_URL, cleanupPrefix, testPrefix } from '../helpers/redis.js';
import { ACTION_APPROVE } from '../../src/adapters/slack/blocks.js';

const here = path.dirname(new URL(import.meta.url).pathname);
const OPEN_DIR = path.join(here, 'runbooks-open');
const root = path.resolve(here, '..', '..');

function clickBody(runId: string, user: string) {
  return slackRequest({
    type: 'block_actions',
    team: { id: SLACK_TEAM },
    api_app_id: SLACK_APP,
    user: { id: user, username: user.toLowerCase() },
    container: { type: 'message', message_ts: '1700000000.000100', channel_id: SLACK_CHANNEL },
    channel: { id: SLACK_CHANNEL },
    actions: [{ type: 'button', action_id: ACTION_APPROVE, value: JSON.stringify({ run: runId, step: 'approve', key: `${runId}.approve.1` }) }],
  });
}

test('an approval step nobody may decide is refused at load time with its file and line', async () => {
  await assert.rejects(harness({ runbooksDir: OPEN_DIR }), (e: unknown) => {
    assert.ok(e instanceof ValidationError, String(e));
    const issue = e.issues.find((i) => i.step === 'approve')!;
    assert.ok(issue, JSON.stringify(e.issues));
    assert.equal(issue.file, path.join(OPEN_DIR, 'open-gate.yaml'));
    assert.equal(issue.line, 11);
    assert.match(issue.message, /nobody may decide approval step 'approve'/);
    assert.match(issue.message, /content-worker/, 'names the targets without approvers');
    assert.match(issue.message, /RUNWRIGHT_APPROVAL_DEFAULT=admins/);
    assert.match(e.message, /open-gate\.yaml:11/);
    return true;
  });
  // SLACK_APPROVERS names someone for every gate: it loads.
  const h = await harness({ runbooksDir: OPEN_DIR, config: { slack: { approvers: ['U0ONCALL'] } } });
  await h.close();
});

test('the shipped default config is deny: RUNWRIGHT_APPROVAL_DEFAULT is deny unless set, and only deny|admins are accepted', () => {
  assert.equal(loadConfig({}).api.approvalDefault, 'deny');
  assert.equal(loadConfig({ RUNWRIGHT_APPROVAL_DEFAULT: 'admins' }).api.approvalDefault, 'admins');
  assert.throws(() => loadConfig({ RUNWRIGHT_APPROVAL_DEFAULT: 'anyone' }), /approvalDefault/);
  // A Slack identity must name a configured API user, and one Slack id is one person.
  assert.throws(() => loadConfig({ RUNWRIGHT_API_TOKENS: `alice:approver:${TOKENS.alice}`, RUNWRIGHT_SLACK_USERS: 'U0ALICE=mallory' }), /mallory/);
  assert.deepEqual(loadConfig({ RUNWRIGHT_API_TOKENS: `alice:approver:${TOKENS.alice}`, RUNWRIGHT_SLACK_USERS: 'U0ALICE=alice' }).api.slackUsers, { U0ALICE: 'alice' });
});

test('RUNWRIGHT_APPROVAL_DEFAULT=admins: an approver and an unmapped Slack user are refused, an admin (in Slack, mapped) decides, recorded by name', async () => {
  const h = await harness({
    worker: true,
    runbooksDir: OPEN_DIR,
    config: { api: { approvalDefault: 'admins', slackUsers: { U0ADMIN: 'admin', U0ALICE: 'alice' } } },
  });
  try {
    const start = await h.app!.inject({ method: 'POST', url: '/api/runs', headers: bearer(TOKENS.admin), payload: { runbook: 'open-gate', target: 'web', text: 'open gate' } });
    assert.equal(start.statusCode, 201, start.body);
    const runId = start.json().run.id as string;
    await h.engine.waitFor(runId, (r) => r.status === 'waiting_approval', 15_000);

    const byApprover = await h.app!.inject({ method: 'POST', url: `/api/runs/${runId}/approve`, headers: bearer(TOKENS.alice), payload: {} });
    assert.equal(byApprover.statusCode, 403);
    assert.equal(byApprover.json().error, 'not_an_approver');
    assert.match(byApprover.json().message, /admins only/);

    for (const user of ['U0STRANGER', 'U0ALICE']) {
      const req = clickBody(runId, user);
      const res = await fetch(`${h.url}/slack/interactions`, { method: 'POST', headers: req.headers, body: req.body });
      assert.equal(((await res.json()) as any).outcome, 'not_allowed', `${user} may not decide an admins-only gate`);
    }
    assert.equal((await h.engine.store.get(runId))!.status, 'waiting_approval');

    const req = clickBody(runId, 'U0ADMIN');
    const res = await fetch(`${h.url}/slack/interactions`, { method: 'POST', headers: req.headers, body: req.body });
    assert.equal(((await res.json()) as any).outcome, 'approved');
    const done = await h.engine.waitFor(runId, (r) => r.status === 'succeeded' || r.status === 'failed', 15_000);
    assert.equal(done.status, 'succeeded');
    assert.equal(done.approval?.actor, 'admin', 'the Slack admin is recorded as the same person as the API user');
    assert.equal(done.outcome, 'approved by admin');
  } finally {
    await h.close();
  }
});

test('one identity per person: alice decides in Slack as alice, and the API and Slack both check the same list', async () => {
  // fix-approval lists [U0ALLOWED, SONCALL1, alice]; billing adds carol.
  const h = await harness({ worker: true, config: { api: { slackUsers: { U0ALICE: 'alice', U0BOB: 'bob' } } } });
  try {
    const startRun = async (fp: string) => {
      const r = await h.app!.inject({ method: 'POST', url: '/intake/generic', headers: bearer(TOKENS.generic), payload: { text: 'billing needs a human', labels: { service: 'billing' }, fingerprint: fp } });
      assert.equal(r.statusCode, 202, r.body);
      return (await h.engine.waitFor(r.json().runId, (x) => x.status === 'waiting_approval', 15_000)).id;
    };
    const a = await startRun('id-alice');
    // bob is an approver-role API user but not in the list, in Slack as in the API.
    const bobSlack = clickBody(a, 'U0BOB');
    assert.equal(((await (await fetch(`${h.url}/slack/interactions`, { method: 'POST', headers: bobSlack.headers, body: bobSlack.body })).json()) as any).outcome, 'not_allowed');
    assert.equal((await h.app!.inject({ method: 'POST', url: `/api/runs/${a}/approve`, headers: bearer(TOKENS.bob), payload: {} })).statusCode, 403);
    // alice's Slack account is listed only by her API name: she may decide, and is recorded as alice.
    const aliceSlack = clickBody(a, 'U0ALICE');
    assert.equal(((await (await fetch(`${h.url}/slack/interactions`, { method: 'POST', headers: aliceSlack.headers, body: aliceSlack.body })).json()) as any).outcome, 'approved');
    const ra = await h.engine.waitFor(a, (x) => x.status !== 'waiting_approval' && x.status !== 'running', 15_000);
    assert.equal(ra.approval?.actor, 'alice');
    assert.match(ra.approval?.comment ?? '', /via Slack \(slack:U0ALICE\)/);
    // The same person through the API: the same name in the record.
    const b = await startRun('id-alice-api');
    const viaApi = await h.app!.inject({ method: 'POST', url: `/api/runs/${b}/approve`, headers: bearer(TOKENS.alice), payload: {} });
    assert.equal(viaApi.statusCode, 200, viaApi.body);
    assert.equal(viaApi.json().run.approval.actor, 'alice');
    // An unmapped Slack user listed by id is recorded by Slack id.
    const c = await startRun('id-slack-only');
    const listed = clickBody(c, 'U0ALLOWED');
    assert.equal(((await (await fetch(`${h.url}/slack/interactions`, { method: 'POST', headers: listed.headers, body: listed.body })).json()) as any).outcome, 'approved');
    assert.equal((await h.engine.store.get(c))!.approval?.actor, 'slack:U0ALLOWED');
  } finally {
    await h.close();
  }
});

test('`runwright run … --auto-approve` still approves a gate nobody is named for, recorded as auto-approve', async () => {
  const prefix = testPrefix('cli-auto');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'rw-cli-auto-'));
  const alert = path.join(dir, 'alert.json');
  writeFileSync(alert, JSON.stringify({ text: 'open gate', labels: { service: 'web' } }));
  try {
    const r = spawnSync(process.execPath, [path.join(root, 'bin', 'runwright.js'), 'run', path.join(OPEN_DIR, 'open-gate.yaml'), '--alert', alert, '--target', 'web', '--targets', TARGETS_FILE, '--platform', 'local', '--auto-approve', '--json'], {
      cwd: root,
      env: { ...process.env, RUNWRIGHT_FROM_SOURCE: '1', REDIS_URL, RUNWRIGHT_PREFIX: prefix, RUNWRIGHT_WORKDIR: path.join(dir, 'work'), SLACK_APPROVERS: '', RUNWRIGHT_APPROVAL_DEFAULT: '' },
      encoding: 'utf8',
      timeout: 120_000,
    });
    assert.equal(r.status, 0, r.stderr + r.stdout);
    const out = JSON.parse(r.stdout);
    assert.equal(out.status, 'succeeded');
    assert.equal(out.approval.actor, 'auto-approve');
    assert.equal(out.outcome, 'approved by auto-approve');
  } finally {
    await cleanupPrefix(prefix);
  }
});
