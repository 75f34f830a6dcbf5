// Slack request signing (v0): HMAC-SHA256 over `v0:<timestamp>:<raw body>` with the app's signing secret.
import { createHmac, timingSafeEqual } from 'node:crypto';

export const SLACK_TOLERANCE_SECONDS = 300;

export function slackSignature(signingSecret: string, timestamp: string, rawBody: string | Buffer): string {
  const h = createHmac('sha256', signingSecret);
  h.update(`v0:${timestamp}:`);
  h.update(rawBody);
  return `v0=${h.digest('hex')}`;
}

export type SlackVerifyResult = { ok: true } | { ok: false; reason: string };

/**
 * Checks X-Slack-Request-Timestamp (within 5 minutes of now, either way) and X-Slack-Signature
 * (constant-time compare). Never says which part of a signature differed.
 */
export function verifySlackRequest(opts: {
  signingSecret: string;
  timestamp: string | undefined;
  signature: string | undefined;
  rawBody: string | Buffer;
  nowSeconds?: number;
}): SlackVerifyResult {
  const { signingSecret, timestamp, signature, rawBody } = opts;
  if (!timestamp) return { ok: false, reason: 'missing X-Slack-Request-Timestamp header' };
  if (!signature) return { ok: false, reason: 'missing X-Slack-Signature header' };
  if (!/^\d{1,12}$/.test(timestamp)) return { ok: false, reason: 'X-Slack-Request-Timestamp is not a Unix time' };
  const now = opts.nowSeconds ?? Math.floor(Date.now() / 1000);
  if (Math.abs(now - Number(timestamp)) > SLACK_TOLERANCE_SECONDS) {
    return { ok: false, reason: 'X-Slack-Request-Timestamp is more than 5 minutes from now (stale or replayed request)' };
  }
  const expected = Buffer.from(slackSignature(signingSecret, timestamp, rawBody), 'utf8');
  const given = Buffer.from(signature, 'utf8');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    return { ok: false, reason: 'X-Slack-Signature does not match the request' };
  }
  return { ok: true };
}
