// POST /slack/interactions: Slack's interactivity requests (block_actions from the approval buttons).
// Verified first (v0 signature over the raw body, timestamp within 5 minutes, each signature used once),
// then: the run must still wait at that gate, the clicker must be an allowed approver, and only then is the
// decision taken. Anything that changes nothing is answered to the clicker alone (chat.postEphemeral).
import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import '../types.js';
import type { Engine } from '../../engine/engine.js';
import type { Config } from '../../config/config.js';
import { errorInfo, RunwrightError, ValidationError } from '../../core/errors.js';
import type { SlackChat } from '../../adapters/slack/chat.js';
import { ACTION_APPROVE, ACTION_CHOOSE_PREFIX, ACTION_REJECT, escapeMrkdwn, type ApprovalActionValue } from '../../adapters/slack/blocks.js';
import { HttpError } from '../errors.js';
import { verifySlackRequest } from './signature.js';
import type { ApprovalPolicy } from '../approvers.js';
import type { Metrics } from '../metrics.js';
import { approvalKey } from './notifier.js';

export interface SlackDeps {
  engine: Engine;
  config: Config;
  chat?: SlackChat;
  metrics: Metrics;
  approvals: ApprovalPolicy;
  /** Seconds since the epoch (tests pin it for Slack's documented example). */
  nowSeconds?: () => number;
}

interface BlockActionsPayload {
  type: string;
  api_app_id?: string;
  team?: { id?: string };
  user?: { id?: string; username?: string; name?: string; team_id?: string };
  channel?: { id?: string };
  container?: { channel_id?: string; message_ts?: string };
  actions?: { action_id?: string; value?: string }[];
}

export type InteractionOutcome = 'approved' | 'rejected' | 'not_waiting' | 'not_allowed' | 'unknown_run' | 'ignored' | 'invalid';

/** Fields of any JSON type may arrive: only strings count. */
const str = (v: unknown) => (typeof v === 'string' ? v : undefined);

/** The channel id clicks must come from: SLACK_CHANNEL_ID, or SLACK_CHANNEL when it is an id (C…/G…). */
export function approvalChannelId(config: Config): string | undefined {
  if (config.slack.channelId) return config.slack.channelId;
  const c = config.slack.channel;
  return c && /^[CG][A-Z0-9]{2,}$/.test(c) ? c : undefined;
}

export async function slackRoutes(app: FastifyInstance, deps: SlackDeps): Promise<void> {
  const { engine, config, chat, metrics, approvals } = deps;
  const redis = engine.store.redis;
  const channelId = approvalChannelId(config);
  const missing = [config.slack.teamId ? '' : 'SLACK_TEAM_ID', config.slack.appId ? '' : 'SLACK_APP_ID', channelId ? '' : 'SLACK_CHANNEL_ID (or SLACK_CHANNEL as a channel id)'].filter(Boolean);

  /** A correctly signed click from another workspace, app or channel (Slack Connect, multi-workspace installs) is refused. */
  const checkOrigin = (payload: BlockActionsPayload, channel: string | undefined) => {
    const team = str(payload.team?.id) ?? str(payload.user?.team_id);
    const wrong = (reason: string, field: string, message: string) => {
      metrics.intakeRejected.inc({ source: 'slack', reason });
      throw new HttpError(403, reason, message, field);
    };
    if (team !== config.slack.teamId) wrong('wrong_team', 'team.id', 'this interaction comes from another Slack workspace (team.id)');
    if (str(payload.api_app_id) !== config.slack.appId) wrong('wrong_app', 'api_app_id', 'this interaction is for another Slack app (api_app_id)');
    if (channel !== channelId) wrong('wrong_channel', 'channel.id', 'this interaction comes from another channel than the approval channel');
  };

  const tell = async (req: FastifyRequest, channel: string | undefined, user: string | undefined, text: string) => {
    if (!chat || !channel || !user) return;
    await chat.postEphemeral(channel, user, text).catch((e) => req.log.warn({ err: errorInfo(e) }, 'could not answer the clicker in Slack'));
  };

  app.post<{ Body: { payload?: string } }>('/slack/interactions', {
    schema: {
      tags: ['slack'],
      summary: 'Slack interactivity endpoint (approval buttons); signed by Slack',
      body: { type: 'object', required: ['payload'], properties: { payload: { type: 'string', maxLength: 200_000 } } },
      response: { 200: { type: 'object', properties: { outcome: { type: 'string' }, message: { type: 'string' } } }, 400: { $ref: 'Error#' }, 401: { $ref: 'Error#' }, 503: { $ref: 'Error#' } },
    },
    // The signature is checked on the raw bytes, before the payload is looked at (even before validation).
    preValidation: async (req) => {
      if (!config.slack.signingSecret) throw new HttpError(503, 'slack_not_configured', 'Slack interactions are not configured (SLACK_SIGNING_SECRET)');
      if (missing.length) throw new HttpError(503, 'slack_not_configured', `Slack interactions are not configured: set ${missing.join(', ')}`);
      const ts = req.headers['x-slack-request-timestamp'];
      const sig = req.headers['x-slack-signature'];
      const v = verifySlackRequest({
        signingSecret: config.slack.signingSecret,
        timestamp: typeof ts === 'string' ? ts : undefined,
        signature: typeof sig === 'string' ? sig : undefined,
        rawBody: req.rawBody ?? Buffer.alloc(0),
        nowSeconds: deps.nowSeconds?.(),
      });
      if (!v.ok) {
        metrics.intakeRejected.inc({ source: 'slack', reason: 'bad_signature' });
        throw new HttpError(401, 'bad_signature', v.reason, 'x-slack-signature');
      }
      // A valid signature is good for one request: a replay inside the 5-minute window is refused too.
      const seen = await redis.set(`${engine.store.prefix}:slack:seen:${createHash('sha256').update(String(sig)).digest('hex')}`, '1', 'EX', 600, 'NX');
      if (!seen) {
        metrics.intakeRejected.inc({ source: 'slack', reason: 'replayed' });
        throw new HttpError(401, 'replayed', 'this signed request was already received (replay)', 'x-slack-signature');
      }
    },
  }, async (req) => {
    let payload: BlockActionsPayload;
    try {
      payload = JSON.parse(req.body.payload!) as BlockActionsPayload;
    } catch {
      throw new HttpError(400, 'bad_request', 'body.payload: is not JSON', 'payload');
    }
    // payload=null or a number is JSON too: only an object is an interaction (else a TypeError answered 500).
    if (!payload || typeof payload !== 'object' || Array.isArray(payload)) throw new HttpError(400, 'bad_request', 'body.payload: is not a JSON object', 'payload');
    const channel = str(payload.container?.channel_id) ?? str(payload.channel?.id);
    checkOrigin(payload, channel);
    if (payload.type !== 'block_actions') return { outcome: 'ignored', message: `interaction type '${String(payload.type).slice(0, 40)}' is not handled` };
    const action = payload.actions?.[0];
    // Fields of any JSON type may arrive: only strings count (a numeric action_id threw on startsWith → 500).
    const userId = str(payload.user?.id);
    const actionId = str(action?.action_id) ?? '';
    let decision: 'approved' | 'rejected';
    if (actionId === ACTION_APPROVE || actionId.startsWith(ACTION_CHOOSE_PREFIX)) decision = 'approved';
    else if (actionId === ACTION_REJECT) decision = 'rejected';
    else return { outcome: 'ignored', message: 'not an approval button' };
    let value: ApprovalActionValue;
    try {
      value = JSON.parse(action?.value ?? '') as ApprovalActionValue;
    } catch {
      throw new HttpError(400, 'bad_request', 'actions[0].value: is not a runwright approval value', 'actions[0].value');
    }
    if (!userId || typeof value?.run !== 'string' || typeof value.step !== 'string') throw new HttpError(400, 'bad_request', 'user.id and actions[0].value.run/step are required', 'payload');
    const choice = actionId.startsWith(ACTION_CHOOSE_PREFIX) ? str(value.choice) : undefined;
    req.runId = value.run;
    const log = req.log.child({ runId: value.run, step: value.step, slackUser: userId });

    const run = await engine.store.get(value.run);
    if (!run) {
      await tell(req, channel, userId, `Run \`${value.run}\` does not exist (any more).`);
      return { outcome: 'unknown_run', message: `no run '${value.run}'` };
    }
    const visit = run.steps[value.step]?.visit ?? 1;
    const stillThisGate = run.status === 'waiting_approval' && run.currentStep === value.step && (!value.key || value.key === approvalKey(run.id, value.step, visit));
    if (!stillThisGate) {
      const who = run.approval ? ` It was decided by ${run.approval.actor.startsWith('slack:') ? `<@${escapeMrkdwn(run.approval.actor.slice(6))}>` : escapeMrkdwn(run.approval.actor)} at ${run.approval.at}.` : '';
      const msg = `Nothing changed: run \`${run.id}\` is ${run.status.replace('_', ' ')}, not waiting for this approval.${who}`;
      await tell(req, channel, userId, msg);
      log.info({ status: run.status }, 'Slack click on an approval that is no longer open');
      return { outcome: 'not_waiting', message: msg };
    }
    const person = approvals.identities.fromSlack(userId);
    const ok = await approvals.may(person, run).catch((e) => {
      log.warn({ err: errorInfo(e) }, 'could not check Slack user-group membership; refusing');
      return false;
    });
    if (!ok) {
      metrics.approvals.inc({ via: 'slack', outcome: 'refused' });
      log.warn('Slack user is not an allowed approver; nothing changed');
      await tell(req, channel, userId, `You are not an allowed approver for run \`${run.id}\`. Nothing changed.`);
      return { outcome: 'not_allowed', message: 'not an allowed approver' };
    }
    try {
      await engine.decide(run.id, { decision, actor: approvals.identities.actor(person), comment: `via Slack (${person.name ? `slack:${userId}` : str(payload.user?.username) ?? str(payload.user?.name) ?? userId})`, choice });
    } catch (e) {
      if (e instanceof ValidationError || (e instanceof RunwrightError && e.code !== 'internal')) {
        await tell(req, channel, userId, `Nothing changed: ${e.message}`);
        log.info({ err: errorInfo(e) }, 'Slack decision refused');
        return { outcome: e instanceof ValidationError ? 'invalid' : 'not_waiting', message: e.message };
      }
      throw e;
    }
    metrics.approvals.inc({ via: 'slack', outcome: decision });
    log.info({ decision, choice, actor: approvals.identities.actor(person) }, 'approval decided in Slack');
    return { outcome: decision, message: `${decision} by ${person.name ?? userId}` };
  });
}
