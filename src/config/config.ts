// Configuration: read from the environment once, validated here, nowhere else.
import { z } from 'zod';
import { ValidationError } from '../core/errors.js';

const duration = z.union([z.number(), z.string()]);

export const ConfigSchema = z.object({
  redisUrl: z.string().url().default('redis://127.0.0.1:6379'),
  /** Key prefix for every Redis key runwright writes (BullMQ queues included). */
  prefix: z.string().regex(/^[A-Za-z0-9_.-]+$/).default('runwright'),
  /** Where runs keep clones and worktrees. */
  workdir: z.string().default('.runwright/work'),
  /** Disk budget for the per-target git mirrors under the workdir (least recently used evicted first; 0 = no mirrors). */
  mirrorBudgetMb: z.coerce.number().min(0).default(2048),
  /** A run ref (refs/runwright/runs/<id>) left on a remote by a run this store calls ended or does not know is deleted
   * once its last publish is older than this (ms; at least a minute). */
  runRefGraceMs: z.coerce.number().int().min(60_000).default(3_600_000),
  runbooksDir: z.string().default('runbooks'),
  targetsFile: z.string().default('runwright.targets.yaml'),
  /** Days to keep finished runs (0 = forever). */
  retentionDays: z.coerce.number().min(0).default(30),
  worker: z.object({
    concurrency: z.coerce.number().int().min(1).max(1000).default(8),
    /** BullMQ job lock: a worker that dies holding a step loses it after this long. */
    lockDurationMs: z.coerce.number().int().min(500).default(30_000),
    stalledIntervalMs: z.coerce.number().int().min(200).default(15_000),
    /** `serve --role worker`: /metrics, /healthz and /readyz on this port (node:http, no API); 0 = any free port. */
    port: z.coerce.number().int().min(0).max(65535).default(9091),
    /** `serve --role worker`: small = V8's young generation kept at its initial size (src/cli/heap.ts); default = V8's sizing. */
    heap: z.enum(['small', 'default']).default('small'),
  }).default({ concurrency: 8, lockDurationMs: 30_000, stalledIntervalMs: 15_000, port: 9091, heap: 'small' }),
  http: z.object({
    host: z.string().default('0.0.0.0'),
    port: z.coerce.number().int().min(0).max(65535).default(8080),
    publicUrl: z.string().optional(),
  }).default({ host: '0.0.0.0', port: 8080 }),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** HTTP API (src/api): body limit, API tokens with roles, per-source intake credentials, intake rate limit. */
  api: z.object({
    bodyLimit: z.coerce.number().int().min(1024).max(64 * 1024 * 1024).default(1_048_576),
    /** Bearer tokens for the runs API. viewer reads; approver also approves/rejects; admin also cancels/retries/starts. */
    tokens: z.array(z.object({
      name: z.string().min(1),
      role: z.enum(['viewer', 'approver', 'admin']),
      token: z.string().min(16, 'API tokens need at least 16 characters'),
      /** Group ids this token's holder belongs to (matched against runbook/target approvers). */
      groups: z.array(z.string()).default([]),
    })).default([]),
    /** Intake credentials per source: a bearer token and/or an HMAC-SHA256 secret over the raw body. A source with neither is closed. */
    sources: z.object({
      generic: z.object({ token: z.string().min(16).optional(), hmacSecret: z.string().min(16).optional() }).default({}),
      alertmanager: z.object({ token: z.string().min(16).optional(), hmacSecret: z.string().min(16).optional() }).default({}),
      'cloud-monitoring': z.object({ token: z.string().min(16).optional(), hmacSecret: z.string().min(16).optional() }).default({}),
    }).prefault({}),
    rateLimit: z.object({
      /** Requests per window per source (and client address). */
      max: z.coerce.number().int().min(1).default(120),
      windowMs: z.coerce.number().int().min(1000).default(60_000),
    }).prefault({}),
    /** Base URL of the dashboard for links in Slack (default http.publicUrl). */
    dashboardUrl: z.string().url().optional(),
    /** Proxies in front of the API whose X-Forwarded-For is believed: a hop count ("true" = 1, Cloud Run's one
     * front end) or a comma list of proxy addresses/CIDRs. Never "every hop": a client could then name any address. */
    trustProxy: z.preprocess(trustProxyValue, z.union([z.literal(false), z.number().int().min(1).max(10), z.string().min(1)])).default(false),
    /** Who decides an approval step nobody is named for: deny (refused at load time) or admins (admin-role users only). */
    approvalDefault: z.enum(['deny', 'admins']).default('deny'),
    /** One identity per person: Slack user id → API user name (the token holder), e.g. U0ALICE=alice. */
    slackUsers: z.record(z.string().regex(/^[UW][A-Z0-9]{2,}$/, 'Slack user ids look like U0123ABC'), z.string().min(1)).default({}),
    /** Google IAP identities (email) → API user name, for dashboard sign-in through IAP. */
    iapUsers: z.record(z.string().min(3), z.string().min(1)).default({}),
    /** Dashboard sessions (server-side, in Redis): lifetime of a session id cookie. */
    sessionTtlMs: z.coerce.number().int().min(60_000).default(12 * 3_600_000),
    /** Failed credentials (bearer tokens, sign-ins) allowed per client address per window before 429. */
    authFailures: z.object({
      max: z.coerce.number().int().min(1).default(20),
      windowMs: z.coerce.number().int().min(1000).default(15 * 60_000),
    }).prefault({}),
  }).prefault({}).superRefine((api, ctx) => {
    const names = new Set(api.tokens.map((t) => t.name));
    for (const [field, map] of [['slackUsers', api.slackUsers], ['iapUsers', api.iapUsers]] as const) {
      for (const [id, name] of Object.entries(map)) {
        if (!names.has(name)) ctx.addIssue({ code: 'custom', path: [field, id], message: `${id} maps to '${name}', which is no API user (RUNWRIGHT_API_TOKENS)` });
      }
    }
  }),
  /** Slack approvals: bot token for chat.postMessage/chat.update, signing secret for /slack/interactions. */
  slack: z.object({
    token: z.string().optional(),
    signingSecret: z.string().optional(),
    channel: z.string().optional(),
    /** Completion notices: one message per run, updated in place, milestones in its thread (needs the bot token). */
    noticesChannel: z.string().optional(),
    /** Web API base (default https://slack.com/api/); tests point it at a loopback fake. */
    apiUrl: z.string().url().optional(),
    /** Slack user (U...) or user-group (S...) ids allowed to approve when runbook and target name none. */
    approvers: z.array(z.string().min(1)).default([]),
    /** Interactions are accepted only from this workspace (team.id), this app (api_app_id) and this channel id. */
    teamId: z.string().min(1).optional(),
    appId: z.string().min(1).optional(),
    /** The approval channel's id (C…/G…), when SLACK_CHANNEL is a name such as #incidents. */
    channelId: z.string().min(1).optional(),
  }).prefault({}),
  /** Pub/Sub push: the OIDC token Google attaches is verified against these. */
  auth: z.object({
    pubsub: z.object({
      audience: z.string().min(1).optional(),
      /** Expected `email` claim (the push subscription's service account). */
      serviceAccount: z.string().min(1).optional(),
      /** Override of Google's PEM certs URL (tests serve their own). */
      certsUrl: z.string().url().optional(),
    }).prefault({}),
    /** Dashboard sign-in through Google IAP: x-goog-iap-jwt-assertion verified for this audience
     * (/projects/<number>/global/backendServices/<id> or /projects/<number>/apps/<project>). */
    iap: z.object({
      audience: z.string().min(1).optional(),
      /** Override of IAP's public key URL (tests serve their own). */
      keysUrl: z.string().url().optional(),
    }).prefault({}),
  }).prefault({}),
  /** Google Cloud adapters (Cloud Build, Cloud Run Admin v2, Cloud Logging), all over the REST transport.
   * apiEndpoint/port/protocol/auth exist so tests can point the official clients at loopback fakes. */
  gcp: z.object({
    apiEndpoint: z.string().min(1).optional(),
    port: z.coerce.number().int().min(1).max(65535).optional(),
    protocol: z.enum(['https', 'http']).default('https'),
    /** adc = Application Default Credentials (the service account on Cloud Run); none = no credentials (fakes only). */
    auth: z.enum(['adc', 'none']).default('adc'),
    /** Per-API endpoint overrides (host[:port]). */
    endpoints: z.object({
      cloudbuild: z.object({ apiEndpoint: z.string().min(1).optional(), port: z.coerce.number().int().min(1).max(65535).optional() }).default({}),
      run: z.object({ apiEndpoint: z.string().min(1).optional(), port: z.coerce.number().int().min(1).max(65535).optional() }).default({}),
      logging: z.object({ apiEndpoint: z.string().min(1).optional(), port: z.coerce.number().int().min(1).max(65535).optional() }).default({}),
    }).prefault({}),
    /** Deadline of one API call, client retries included. */
    rpcTimeoutMs: z.coerce.number().int().min(100).default(30_000),
    /** Long-running operation polling: first delay, growing ×1.5 up to pollMaxMs. */
    pollInitialMs: z.coerce.number().int().min(10).default(2_000),
    pollMaxMs: z.coerce.number().int().min(10).default(15_000),
    buildTimeoutMs: z.coerce.number().int().min(100).default(30 * 60_000),
    executionTimeoutMs: z.coerce.number().int().min(100).default(30 * 60_000),
  }).prefault({}),
  /** Target code (checks, jobs, alembic): sandbox mode and the target venv cache (src/adapters/local/sandbox.ts). */
  sandbox: z.object({
    /** auto: bubblewrap when the host allows it, else the allowlisted environment only (logged, in /readyz); bwrap: required; off. */
    mode: z.enum(['auto', 'bwrap', 'off']).default('auto'),
    /** Where target venvs built from requirements/lock files are cached (default <tmpdir>/runwright-venvs). */
    venvDir: z.string().optional(),
  }).prefault({}),
  /** The embedded local platform: build = git worktree, deploy = run the target's job command, logs = captured lines. */
  local: z.object({
    /** Shared by every runwright process on the host: deployment state and captured job logs (JSONL) per target. */
    platformDir: z.string().default('.runwright/platform'),
    executionTimeoutMs: z.coerce.number().int().min(100).default(10 * 60_000),
  }).prefault({}),
});
export type Config = z.infer<typeof ConfigSchema>;
export { duration };

/** Build the config from environment variables (RUNWRIGHT_*, REDIS_URL) plus explicit overrides. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: Partial<Record<keyof Config, unknown>> = {}): Config {
  const raw: Record<string, unknown> = {
    redisUrl: env.REDIS_URL,
    prefix: env.RUNWRIGHT_PREFIX,
    workdir: env.RUNWRIGHT_WORKDIR,
    mirrorBudgetMb: env.RUNWRIGHT_MIRROR_BUDGET_MB,
    runRefGraceMs: env.RUNWRIGHT_RUN_REF_GRACE_MS,
    runbooksDir: env.RUNWRIGHT_RUNBOOKS,
    targetsFile: env.RUNWRIGHT_TARGETS,
    retentionDays: env.RUNWRIGHT_RETENTION_DAYS,
    worker: {
      concurrency: env.RUNWRIGHT_WORKER_CONCURRENCY,
      lockDurationMs: env.RUNWRIGHT_LOCK_DURATION_MS,
      stalledIntervalMs: env.RUNWRIGHT_STALLED_INTERVAL_MS,
      port: env.RUNWRIGHT_WORKER_PORT,
      heap: env.RUNWRIGHT_WORKER_HEAP,
    },
    http: { host: env.HOST, port: env.PORT, publicUrl: env.RUNWRIGHT_PUBLIC_URL },
    logLevel: env.LOG_LEVEL,
    api: {
      bodyLimit: env.RUNWRIGHT_BODY_LIMIT,
      tokens: parseTokenList(env.RUNWRIGHT_API_TOKENS),
      sources: {
        generic: { token: env.RUNWRIGHT_INTAKE_TOKEN_GENERIC, hmacSecret: env.RUNWRIGHT_INTAKE_HMAC_GENERIC },
        alertmanager: { token: env.RUNWRIGHT_INTAKE_TOKEN_ALERTMANAGER, hmacSecret: env.RUNWRIGHT_INTAKE_HMAC_ALERTMANAGER },
        'cloud-monitoring': { token: env.RUNWRIGHT_INTAKE_TOKEN_CLOUD_MONITORING, hmacSecret: env.RUNWRIGHT_INTAKE_HMAC_CLOUD_MONITORING },
      },
      rateLimit: { max: env.RUNWRIGHT_INTAKE_RATE_MAX, windowMs: env.RUNWRIGHT_INTAKE_RATE_WINDOW_MS },
      dashboardUrl: env.RUNWRIGHT_DASHBOARD_URL,
      trustProxy: env.RUNWRIGHT_TRUST_PROXY,
      approvalDefault: env.RUNWRIGHT_APPROVAL_DEFAULT,
      slackUsers: pairList(env.RUNWRIGHT_SLACK_USERS),
      iapUsers: pairList(env.RUNWRIGHT_IAP_USERS),
      sessionTtlMs: env.RUNWRIGHT_SESSION_TTL_MS,
      authFailures: { max: env.RUNWRIGHT_AUTH_FAILURES_MAX, windowMs: env.RUNWRIGHT_AUTH_FAILURES_WINDOW_MS },
    },
    slack: {
      token: env.SLACK_BOT_TOKEN,
      signingSecret: env.SLACK_SIGNING_SECRET,
      channel: env.SLACK_CHANNEL,
      noticesChannel: env.SLACK_NOTICES_CHANNEL,
      apiUrl: env.SLACK_API_URL,
      approvers: env.SLACK_APPROVERS ? env.SLACK_APPROVERS.split(',').map((x) => x.trim()).filter(Boolean) : undefined,
      teamId: env.SLACK_TEAM_ID,
      appId: env.SLACK_APP_ID,
      channelId: env.SLACK_CHANNEL_ID,
    },
    auth: {
      pubsub: { audience: env.RUNWRIGHT_PUBSUB_AUDIENCE, serviceAccount: env.RUNWRIGHT_PUBSUB_SERVICE_ACCOUNT, certsUrl: env.RUNWRIGHT_GOOGLE_CERTS_URL },
      iap: { audience: env.RUNWRIGHT_IAP_AUDIENCE, keysUrl: env.RUNWRIGHT_IAP_KEYS_URL },
    },
    gcp: {
      apiEndpoint: env.RUNWRIGHT_GCP_API_ENDPOINT,
      port: env.RUNWRIGHT_GCP_PORT,
      protocol: env.RUNWRIGHT_GCP_PROTOCOL,
      auth: env.RUNWRIGHT_GCP_AUTH,
      rpcTimeoutMs: env.RUNWRIGHT_GCP_RPC_TIMEOUT_MS,
      buildTimeoutMs: env.RUNWRIGHT_GCP_BUILD_TIMEOUT_MS,
      executionTimeoutMs: env.RUNWRIGHT_GCP_EXECUTION_TIMEOUT_MS,
    },
    sandbox: { mode: env.RUNWRIGHT_SANDBOX, venvDir: env.RUNWRIGHT_VENV_DIR },
    local: { platformDir: env.RUNWRIGHT_LOCAL_PLATFORM_DIR, executionTimeoutMs: env.RUNWRIGHT_LOCAL_EXECUTION_TIMEOUT_MS },
    ...overrides,
  };
  const parsed = ConfigSchema.safeParse(stripUndefined(raw));
  if (!parsed.success) {
    throw new ValidationError(parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: `config: ${i.message}` })));
  }
  return parsed.data;
}

/** RUNWRIGHT_API_TOKENS: a JSON array of {name, role, token, groups?} or "name:role:token,name:role:token". */
function parseTokenList(v: string | undefined): unknown {
  if (!v) return undefined;
  if (v.trim().startsWith('[')) {
    try {
      return JSON.parse(v);
    } catch {
      return 'RUNWRIGHT_API_TOKENS is not valid JSON';
    }
  }
  return v.split(',').filter((x) => x.trim()).map((entry) => {
    const [name, role, ...rest] = entry.trim().split(':');
    return { name, role, token: rest.join(':') };
  });
}

/** "a=b,c=d" → {a: 'b', c: 'd'} (RUNWRIGHT_SLACK_USERS=U0ALICE=alice,…; RUNWRIGHT_IAP_USERS=alice@example.com=alice,…). */
function pairList(v: string | undefined): Record<string, string> | undefined {
  if (!v) return undefined;
  const out: Record<string, string> = Object.create(null);
  for (const entry of v.split(',')) {
    const i = entry.indexOf('=');
    if (i > 0) out[entry.slice(0, i).trim()] = entry.slice(i + 1).trim();
  }
  return { ...out };
}

/** RUNWRIGHT_TRUST_PROXY: false/true(=1 hop)/a hop count/proxy addresses. */
function trustProxyValue(v: unknown): unknown {
  if (v === undefined || v === false || v === 'false' || v === '0' || v === '') return false;
  if (v === true || v === 'true') return 1;
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && /^\d+$/.test(v.trim())) return Number(v.trim());
  return v;
}

function stripUndefined(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(stripUndefined);
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) if (x !== undefined && x !== '') out[k] = stripUndefined(x);
    return out;
  }
  return v;
}

/** "30s", "5m", "4h", "250ms", "1d" or a number of ms → ms. */
export function parseDuration(v: string | number): number {
  if (typeof v === 'number') return v;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(v);
  if (!m) throw new Error(`bad duration ${JSON.stringify(v)} (use e.g. 250ms, 30s, 5m, 4h, 1d)`);
  const n = Number(m[1]);
  const mult = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[(m[2] ?? 'ms') as 'ms'];
  return Math.round(n * mult);
}
