// A real runwright server for API tests: Engine on real Redis (unique prefix), the fastify app listening on
// loopback (tests use both inject and real HTTP), optional worker, optional Slack against a fake Slack API,
// Pub/Sub OIDC against our own certs. Logs are captured so tests can read them.
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { createHmac } from 'node:crypto';
import { loadConfig, type Config } from '../../src/config/config.js';
import { loadRunbooksDir } from '../../src/core/runbook.js';
import { loadTargets } from '../../src/config/targets.js';
import { defaultRegistry } from '../../src/actions/index.js';
import { createLogger } from '../../src/logging.js';
import { startServer, type Server } from '../../src/api/server.js';
import { slackSignature } from '../../src/api/slack/signature.js';
import { REDIS_URL, cleanupPrefix, testPrefix } from '../helpers/redis.js';
import type { FakeSlack } from '../fakes/slack.js';
import type { FakeGoogleCerts } from '../fakes/google-oidc.js';

const here = path.dirname(new URL(import.meta.url).pathname);
export const RUNBOOKS_DIR = path.join(here, 'runbooks');
export const TARGETS_FILE = path.join(here, 'targets.yaml');
/** The project's own runbooks (runbooks/*.yaml). */
export const PROJECT_RUNBOOKS_DIR = path.resolve(here, '..', '..', 'runbooks');

export const TOKENS = {
  viewer: 'viewer-token-0123456789abcdef',
  alice: 'alice-approver-token-0123456789',
  bob: 'bob-approver-token-0123456789ab',
  admin: 'admin-token-0123456789abcdefgh',
  generic: 'generic-intake-token-0123456789',
  genericHmac: 'generic-hmac-secret-0123456789ab',
  alertmanager: 'alertmanager-token-0123456789ab',
  cloudMonitoring: 'cloudmon-token-0123456789abcdef',
  slackBot: 'xoxb-test-bot-token-0123456789',
  slackSigning: 'slack-signing-secret-0123456789abcdef',
};
export const PUBSUB_AUDIENCE = 'https://runwright.example.com/intake/pubsub';
export const PUBSUB_SA = 'log-sink-push@acme-prod.iam.gserviceaccount.com';
export const SLACK_CHANNEL = 'C0APPROVALS';
/** The workspace and app Slack interactions must come from (SLACK_TEAM_ID, SLACK_APP_ID). */
export const SLACK_TEAM = 'T0TEAM';
export const SLACK_APP = 'A0APP';
export const DASHBOARD = 'https://runwright.example.com/dashboard';

export const bearer = (t: string) => ({ authorization: `Bearer ${t}` });

export interface Harness extends Server {
  config: Config;
  prefix: string;
  url: string;
  logs: string[];
  /** Stop the server but keep its Redis data (a restart follows on the same prefix). */
  stop(): Promise<void>;
  close(): Promise<void>;
}

export async function harness(opts: { worker?: boolean; slack?: FakeSlack; google?: FakeGoogleCerts; config?: Record<string, unknown>; runbooksDir?: string; prefix?: string } = {}): Promise<Harness> {
  const prefix = opts.prefix ?? testPrefix('api');
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      logs.push(...String(chunk).split('\n').filter(Boolean));
      cb();
    },
  });
  const config = loadConfig({ REDIS_URL }, deepMerge({
    prefix,
    workdir: mkdtempSync(path.join(os.tmpdir(), 'rw-api-')),
    retentionDays: 0,
    logLevel: 'debug',
    http: { host: '127.0.0.1', port: 0, publicUrl: 'https://runwright.example.com' },
    api: {
      tokens: [
        { name: 'viewer1', role: 'viewer', token: TOKENS.viewer },
        { name: 'alice', role: 'approver', token: TOKENS.alice },
        { name: 'bob', role: 'approver', token: TOKENS.bob },
        { name: 'admin', role: 'admin', token: TOKENS.admin },
      ],
      sources: {
        generic: { token: TOKENS.generic, hmacSecret: TOKENS.genericHmac },
        alertmanager: { token: TOKENS.alertmanager },
        'cloud-monitoring': { token: TOKENS.cloudMonitoring },
      },
      dashboardUrl: DASHBOARD,
    },
    slack: { signingSecret: TOKENS.slackSigning, channel: SLACK_CHANNEL, teamId: SLACK_TEAM, appId: SLACK_APP, ...(opts.slack ? { token: TOKENS.slackBot, apiUrl: opts.slack.url } : {}) },
    auth: { pubsub: opts.google ? { audience: PUBSUB_AUDIENCE, serviceAccount: PUBSUB_SA, certsUrl: opts.google.url } : {} },
  }, opts.config ?? {}) as any);
  const registry = defaultRegistry();
  const world = { registry, runbooks: loadRunbooksDir(opts.runbooksDir ?? RUNBOOKS_DIR, registry.catalog()), targets: loadTargets(TARGETS_FILE) };
  const logger = createLogger({ level: 'debug', destination: sink });
  const server = await startServer({ config, role: opts.worker ? 'all' : 'api', world, logger, handleSignals: false, slackRetry: { baseMs: 40, maxMs: 200, attempts: 200 } });
  return {
    ...server,
    config,
    prefix,
    url: server.url!,
    logs,
    stop: () => server.close(),
    close: async () => {
      await server.close();
      await cleanupPrefix(prefix);
    },
  };
}

export function hmac(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** A Slack interactivity request (form body payload=<json>) signed like Slack signs it. */
export function slackRequest(payload: unknown, opts: { secret?: string; ts?: number } = {}): { body: string; headers: Record<string, string> } {
  const body = `payload=${encodeURIComponent(JSON.stringify(payload))}`;
  const ts = String(opts.ts ?? Math.floor(Date.now() / 1000));
  return {
    body,
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      'x-slack-request-timestamp': ts,
      'x-slack-signature': slackSignature(opts.secret ?? TOKENS.slackSigning, ts, body),
    },
  };
}

/** Everything under the prefix that would mean work was enqueued or recorded: runs and queued jobs. */
export async function nothingEnqueued(h: Harness): Promise<{ runs: number; jobs: number }> {
  const runs = (await h.engine.store.list({ limit: 500 })).runs.length;
  const counts = await h.engine.queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized');
  return { runs, jobs: Object.values(counts).reduce((a, b) => a + b, 0) };
}

/** Overrides merged into the defaults object by object (arrays and values replace; undefined unsets). */
function deepMerge(base: Record<string, any>, over: Record<string, any>): Record<string, any> {
  const out: Record<string, any> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    out[k] = v && typeof v === 'object' && !Array.isArray(v) && base[k] && typeof base[k] === 'object' && !Array.isArray(base[k]) ? deepMerge(base[k], v) : v;
  }
  return out;
}
