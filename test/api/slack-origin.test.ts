// Issue 12 §2: a correctly signed Slack click is acted on only when it comes from our workspace (team.id), our app
// (api_app_id) and the approval channel; anything else is refused (403), changes nothing and is counted in /metrics.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { harness, bearer, slackRequest, TOKENS, SLACK_APP, SLACK_CHANNEL, SLACK_TEAM, type Harness } from './harness.js';
import { ACTION_APPROVE } from '../../src/adapters/slack/blocks.js';

let h: Harness;
before(async () => {
  h = await harness({ worker: true });
});
after(async () => {
  await h.close();
});

function click(runId: string, over: { team?: unknown; app?: unknown; channel?: unknown; userTeam?: unknown } = {}) {
  const channel = 'channel' in over ? over.channel : SLACK_CHANNEL;
  return slackRequest({
    type: 'block_actions',
    team: 'team' in over ? (over.team === undefined ? undefined : { id: over.team }) : { id: SLACK_TEAM },
    api_app_id: 'app' in over ? over.app : SLACK_APP,
    user: { id: 'U0ALLOWED', username: 'allowed', ...('userTeam' in over ? { team_id: over.userTeam } : {}) },
    container: { type: 'message', message_ts: '1700000000.000200', channel_id: channel },
    channel: { id: channel },
    actions: [{ type: 'button', action_id: ACTION_APPROVE, value: JSON.stringify({ run: runId, step: 'approve', key: `${runId}.approve.1` }) }],
  });
}

const send = async (req: { body: string; headers: Record<string, string> }) => {
  const res = await fetch(`${h.url}/slack/interactions`, { method: 'POST', headers: req.headers, body: req.body });
  return { status: res.status, body: (await res.json()) as any };
};

test('another workspace, another app or another channel: refused, counted, the run still waits; ours: approved', async () => {
  const start = await h.app!.inject({ method: 'POST', url: '/intake/generic', headers: bearer(TOKENS.generic), payload: { text: 'billing needs a human', labels: { service: 'billing' }, fingerprint: 'slack-origin' } });
  assert.equal(start.statusCode, 202, start.body);
  const runId = start.json().runId as string;
  await h.engine.waitFor(runId, (r) => r.status === 'waiting_approval', 15_000);

  const cases: [string, ReturnType<typeof click>, string][] = [
    ['wrong_team', click(runId, { team: 'T0OTHER' }), 'team.id'],
    ['wrong_team', click(runId, { team: undefined, userTeam: 'T0OTHER' }), 'team.id'],
    ['wrong_team', click(runId, { team: undefined }), 'team.id'],
    ['wrong_app', click(runId, { app: 'A0OTHER' }), 'api_app_id'],
    ['wrong_app', click(runId, { app: 42 }), 'api_app_id'],
    ['wrong_channel', click(runId, { channel: 'C0ELSEWHERE' }), 'channel.id'],
    ['wrong_channel', click(runId, { channel: undefined }), 'channel.id'],
  ];
  for (const [reason, req, field] of cases) {
    const r = await send(req);
    assert.equal(r.status, 403, `${reason}: ${JSON.stringify(r.body)}`);
    assert.equal(r.body.error, reason);
    assert.equal(r.body.field, field);
  }
  assert.equal((await h.engine.store.get(runId))!.status, 'waiting_approval', 'nothing changed');
  const metrics = (await h.app!.inject({ method: 'GET', url: '/metrics' })).body;
  assert.match(metrics, /runwright_intake_rejected_total\{source="slack",reason="wrong_team"\} 3/);
  assert.match(metrics, /runwright_intake_rejected_total\{source="slack",reason="wrong_app"\} 2/);
  assert.match(metrics, /runwright_intake_rejected_total\{source="slack",reason="wrong_channel"\} 2/);

  const ok = await send(click(runId));
  assert.equal(ok.status, 200);
  assert.equal(ok.body.outcome, 'approved');
});

test('without SLACK_TEAM_ID / SLACK_APP_ID / the channel id configured, clicks are refused (503 naming what is missing)', async () => {
  const bare = await harness({ config: { slack: { teamId: undefined, appId: undefined, channel: '#incidents' } } });
  try {
    const req = click('rnope');
    const res = await fetch(`${bare.url}/slack/interactions`, { method: 'POST', headers: req.headers, body: req.body });
    assert.equal(res.status, 503);
    const body = (await res.json()) as any;
    assert.equal(body.error, 'slack_not_configured');
    assert.match(body.message, /SLACK_TEAM_ID, SLACK_APP_ID, SLACK_CHANNEL_ID/);
  } finally {
    await bare.close();
  }
});
