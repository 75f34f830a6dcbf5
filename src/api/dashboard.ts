// The on-call dashboard (issue #6): HTML shells and built assets (src/ui → dist/dashboard), sign-in with an API
// token into an HttpOnly SameSite=Strict cookie, CSRF-checked actions that go through the runs API itself (same
// role and approver checks), and the read routes the pages need beyond the runs API: a runbook's step graph by
// id + hash, a run's external links and approval context, and status counts.
import { mkdirSync } from 'node:fs';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fastifyStatic from '@fastify/static';
import { parse as parseYaml } from 'yaml';
import './types.js';
import type { Engine } from '../engine/engine.js';
import type { Config } from '../config/config.js';
import type { Json, RunRecord } from '../core/types.js';
import { edges as stepEdges, parseRunbook, stepKind, type Runbook, type StepDef } from '../core/runbook.js';
import { exprContext } from '../core/graph.js';
import { render } from '../core/expr.js';
import { isTerminal } from '../core/types.js';
import { IAP_HEADER, roleAllows, safeEqual, TokenAuth, type IapVerifier, type Principal } from './auth.js';
import type { ApprovalPolicy } from './approvers.js';
import { refuseIfBlocked, SESSION_COOKIE, type FailureLimiter, type Session, type SessionStore } from './sessions.js';
import { HttpError } from './errors.js';
import { ensureUiBuilt, type UiAssets } from './dashboard-assets.js';
import type { EdgeKind, GraphEdge, GraphStep, RunbookGraph, RunLink } from './dashboard-types.js';

export type { EdgeKind, GraphEdge, GraphStep, RunbookGraph, RunLink };

const CSRF_HEADER = 'x-runwright-csrf';
const BASE = '/dashboard';

const err = (...codes: number[]) => Object.fromEntries(codes.map((c) => [c, { $ref: 'Error#' }]));
const idParams = { type: 'object', required: ['id'], properties: { id: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$' } } } as const;
const security = [{ bearer: [] }];

/**
 * Strict policy for the dashboard pages: only our own script and stylesheet, no inline anything, and Trusted Types
 * required for every DOM HTML sink, so even a stray innerHTML in the bundle would throw instead of parsing data.
 */
export const DASHBOARD_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "require-trusted-types-for 'script'",
  "trusted-types 'none'",
].join('; ');

function securityHeaders(reply: FastifyReply): void {
  reply.header('content-security-policy', DASHBOARD_CSP);
  reply.header('x-content-type-options', 'nosniff');
  reply.header('x-frame-options', 'DENY');
  reply.header('referrer-policy', 'no-referrer');
  reply.header('cross-origin-opener-policy', 'same-origin');
  reply.header('permissions-policy', 'camera=(), microphone=(), geolocation=()');
}

/** A cross-site request: the browser says so (Sec-Fetch-Site) or its Origin is not this host. */
function crossSite(req: FastifyRequest): boolean {
  const site = req.headers['sec-fetch-site'];
  if (typeof site === 'string' && site !== 'same-origin' && site !== 'none') return true;
  const origin = req.headers.origin;
  if (typeof origin === 'string' && origin !== 'null') {
    try {
      return new URL(origin).host !== req.host;
    } catch {
      return true;
    }
  }
  return origin === 'null';
}

// ---------------------------------------------------------------- runbook graph

/** Steps and edges of a runbook (the shape the run page draws). */
export function runbookGraph(rb: Pick<Runbook, 'id' | 'title' | 'description' | 'hash' | 'start' | 'steps'>, loaded: boolean): RunbookGraph {
  const steps: GraphStep[] = rb.steps.map((s) => ({
    id: s.id,
    kind: stepKind(s),
    ...(s.action ? { action: s.action } : {}),
    ...(s.description ? { description: s.description.trim() } : {}),
    ...(s.end ? { end: s.end } : {}),
    ...(s.approval?.options ? { options: s.approval.options } : {}),
    ...(s.maxVisits ? { maxVisits: s.maxVisits } : {}),
    ...(s.retry ? { attempts: s.retry.attempts } : {}),
  }));
  const out: GraphEdge[] = [];
  for (const s of rb.steps) {
    for (const e of stepEdges(s)) {
      const m = /^(branches|switch)\[(\d+)\]/.exec(e.field);
      if (m) {
        const list = m[1] === 'branches' ? s.branches : s.switch;
        const when = list?.[Number(m[2])]?.when;
        out.push({ from: s.id, to: e.to, kind: m[1] === 'branches' ? 'branch' : 'switch', label: when ?? 'default' });
      } else out.push({ from: s.id, to: e.to, kind: e.field as EdgeKind });
    }
  }
  return { id: rb.id, title: rb.title, description: rb.description?.trim(), hash: rb.hash, start: rb.start, loaded, steps, edges: out };
}

/** Only the structure of a stored source the loader no longer accepts (an action renamed since the run). */
function lenientRunbook(source: string, hash: string): Pick<Runbook, 'id' | 'title' | 'description' | 'hash' | 'start' | 'steps'> | null {
  const data = parseYaml(source, { maxAliasCount: 50 }) as { id?: unknown; title?: unknown; description?: unknown; start?: unknown; steps?: unknown } | null;
  if (!data || typeof data.id !== 'string' || !Array.isArray(data.steps)) return null;
  const steps = (data.steps as StepDef[]).filter((s) => s && typeof s === 'object' && typeof s.id === 'string');
  if (!steps.length) return null;
  return { id: data.id, title: typeof data.title === 'string' ? data.title : data.id, description: typeof data.description === 'string' ? data.description : undefined, hash, start: typeof data.start === 'string' ? data.start : steps[0]!.id, steps };
}

// ---------------------------------------------------------------- links

const httpUrl = (s: unknown): string | undefined => {
  if (typeof s !== 'string') return undefined;
  try {
    const u = new URL(s);
    return u.protocol === 'https:' || u.protocol === 'http:' ? u.toString() : undefined;
  } catch {
    return undefined;
  }
};

/** https://github.com/o/r(.git) / gitlab / bitbucket → the web page of a commit. */
export function commitUrl(repo: string, sha: string): string | undefined {
  const ssh = /^git@([\w.-]+):(.+?)(?:\.git)?$/.exec(repo);
  let host: string;
  let repoPath: string;
  if (ssh) {
    host = ssh[1]!;
    repoPath = ssh[2]!;
  } else {
    try {
      const u = new URL(repo);
      if (u.protocol !== 'https:' && u.protocol !== 'http:') return undefined;
      host = u.host;
      repoPath = u.pathname.replace(/^\/+/, '').replace(/\.git$/, '').replace(/\/+$/, '');
    } catch {
      return undefined;
    }
  }
  if (!/^[\w.-]+(\/[\w.-]+)+$/.test(repoPath)) return undefined;
  if (host === 'github.com') return `https://github.com/${repoPath}/commit/${sha}`;
  if (host === 'gitlab.com') return `https://gitlab.com/${repoPath}/-/commit/${sha}`;
  if (host === 'bitbucket.org') return `https://bitbucket.org/${repoPath}/commits/${sha}`;
  return undefined;
}

const SHA40 = /^[0-9a-f]{40}$/;

/** Links to what a run's steps produced: the commit, the build, the job execution, the Cloud Logging query. */
export function runLinks(run: RunRecord): RunLink[] {
  const out: RunLink[] = [];
  const seen = new Set<string>();
  const add = (l: RunLink) => {
    const k = `${l.step} ${l.kind} ${l.text}`;
    if (!seen.has(k)) {
      seen.add(k);
      out.push(l);
    }
  };
  const gcp = run.target.gcp;
  for (const [step, st] of Object.entries(run.steps)) {
    const o = st.output;
    if (!o || typeof o !== 'object' || Array.isArray(o)) continue;
    const r = o as Record<string, Json>;
    if (typeof r.sha === 'string' && SHA40.test(r.sha) && (r.subject !== undefined || r.files !== undefined || r.pushed !== undefined)) {
      add({ step, kind: 'commit', label: r.pushed === true ? 'Pushed commit' : 'Commit', text: r.sha.slice(0, 12), href: commitUrl(run.target.repo, r.sha) });
    }
    if (typeof r.buildId === 'string' && r.buildId !== 'dry-run') {
      add({ step, kind: 'build', label: 'Build', text: r.buildId, href: httpUrl(r.logUrl) });
    }
    // A deployment (deploy.job's output); the log check names the same execution, linked from the deploy step.
    if (typeof r.executionName === 'string' && r.executionName !== 'dry-run' && (r.status !== undefined || r.taskCounts !== undefined)) {
      const m = /^projects\/([^/]+)\/locations\/([^/]+)\/jobs\/([^/]+)\/executions\/([^/]+)$/.exec(r.executionName);
      const href = m ? `https://console.cloud.google.com/run/jobs/executions/details/${encodeURIComponent(m[2]!)}/${encodeURIComponent(m[4]!)}/tasks?project=${encodeURIComponent(m[1]!)}` : undefined;
      add({ step, kind: 'execution', label: 'Job execution', text: m ? m[4]! : r.executionName, href });
    }
    if (typeof r.filter === 'string' && r.filter && (r.executionName !== undefined || r.entries !== undefined)) {
      const href = run.target.platform === 'gcp' && gcp?.project ? `https://console.cloud.google.com/logs/query;query=${encodeURIComponent(r.filter)}?project=${encodeURIComponent(gcp.project)}` : undefined;
      add({ step, kind: 'logs', label: 'Cloud Logging query', text: r.filter, href });
    }
  }
  return out;
}

function clipJson(v: unknown, max = 60_000): Json | undefined {
  if (v === undefined) return undefined;
  const s = JSON.stringify(v);
  if (s === undefined) return undefined;
  if (s.length <= max) return JSON.parse(s) as Json;
  return { truncated: true, preview: s.slice(0, max) };
}

// ---------------------------------------------------------------- routes

export interface DashboardDeps {
  engine: Engine;
  config: Config;
  /** Where the built assets are (tests); default: build src/ui into dist/dashboard when stale. */
  assets?: UiAssets;
  approvals: ApprovalPolicy;
  sessions: SessionStore;
  failures: FailureLimiter;
  /** How dashboard actions reach the runs API in-process with the session (see app.ts SESSION_PROXY_HEADER). */
  proxy: { header: string; secret: string };
  iap: IapVerifier;
}

export async function dashboardRoutes(app: FastifyInstance, deps: DashboardDeps): Promise<void> {
  const { engine, config } = deps;
  const tokens = new TokenAuth(config.api.tokens);
  let assets: UiAssets;
  try {
    assets = deps.assets ?? (await ensureUiBuilt());
    if (assets.built) app.log.info({ version: assets.manifest?.version, dir: assets.dir }, 'dashboard assets built');
  } catch (e) {
    app.log.error({ err: e }, 'dashboard assets could not be built; the dashboard pages will answer 503');
    assets = { dir: '', manifest: null, built: false };
  }
  const version = assets.manifest?.version ?? '0';

  const { approvals, sessions, failures, iap } = deps;
  const cookieOptions = (req: FastifyRequest) => ({ path: '/', httpOnly: true, sameSite: 'strict' as const, secure: req.protocol === 'https' });
  const sessionOf = (req: FastifyRequest): Promise<Session | null> => sessions.get(req.cookies?.[SESSION_COOKIE]);
  /** Cookie session + CSRF token header + same-origin: what every state-changing dashboard call needs. */
  const requireSession = async (req: FastifyRequest): Promise<Session> => {
    if (crossSite(req)) throw new HttpError(403, 'cross_site', 'cross-site requests are refused', 'origin');
    const s = await sessionOf(req);
    if (!s) throw new HttpError(401, 'unauthorized', 'not signed in (or the session ended: signed out, expired or its token rotated)', 'cookie');
    const given = req.headers[CSRF_HEADER];
    if (typeof given !== 'string' || !safeEqual(given, s.csrf)) throw new HttpError(403, 'csrf', `missing or wrong ${CSRF_HEADER} header`, CSRF_HEADER);
    return s;
  };
  const principalView = (p: Principal, s: Session) => ({ name: p.name, role: p.role, groups: p.groups, csrf: s.csrf, via: s.via });
  const startSession = (reply: FastifyReply, req: FastifyRequest, s: Session) =>
    reply.setCookie(SESSION_COOKIE, s.id, { ...cookieOptions(req), maxAge: Math.floor(config.api.sessionTtlMs / 1000) });
  /** Behind Google IAP (when configured): a verified x-goog-iap-jwt-assertion of a mapped person opens a session. */
  const iapSession = async (req: FastifyRequest, reply: FastifyReply): Promise<Session | null> => {
    if (!iap.configured || !req.headers[IAP_HEADER]) return null;
    await refuseIfBlocked(failures, req.ip);
    const r = await iap.verify(String(req.headers[IAP_HEADER]));
    const principal = r.ok && r.email ? approvals.identities.fromEmail(r.email) : undefined;
    if (!principal) {
      await failures.fail(req.ip);
      req.log.info({ reason: r.ok ? 'no API user is mapped to this IAP identity (RUNWRIGHT_IAP_USERS)' : r.reason }, 'IAP sign-in refused');
      return null;
    }
    const s = await sessions.create(principal, 'iap', r.ok ? r.email! : '');
    startSession(reply, req, s);
    req.log.info({ user: principal.name, role: principal.role }, 'dashboard sign-in through IAP');
    return s;
  };

  const shell = (page: 'list' | 'run' | 'new') => `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<meta name="referrer" content="no-referrer">
<title>runwright · on-call</title>
<link rel="icon" href="${BASE}/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="${BASE}/assets/app.css?v=${version}">
<script type="module" src="${BASE}/assets/app.js?v=${version}"></script>
</head>
<body data-page="${page}">
<a class="skip" href="#main">Skip to content</a>
<div id="app" aria-busy="true"><noscript><p class="noscript">The runwright dashboard needs JavaScript.</p></noscript></div>
</body>
</html>
`;
  const sendShell = (page: 'list' | 'run' | 'new') => async (_req: FastifyRequest, reply: FastifyReply) => {
    securityHeaders(reply);
    reply.header('cache-control', 'no-store');
    if (!assets.manifest) return reply.status(503).type('text/plain; charset=utf-8').send('The dashboard assets are not built: run `npm run build:ui`.\n');
    return reply.type('text/html; charset=utf-8').send(shell(page));
  };

  const hide = { hide: true } as const;
  app.get('/', { schema: hide }, async (_req, reply) => reply.redirect(`${BASE}/`));
  app.get(BASE, { schema: hide }, async (_req, reply) => reply.redirect(`${BASE}/`));
  // Slack's "Open run" links to <dashboardUrl>/runs/<id>; dashboardUrl defaults to the service's public URL.
  app.get<{ Params: { id: string } }>('/runs/:id', { schema: { ...hide, params: idParams } }, async (req, reply) => reply.redirect(`${BASE}/runs/${encodeURIComponent(req.params.id)}`));
  app.get(`${BASE}/`, { schema: hide }, sendShell('list'));
  app.get<{ Params: { id: string } }>(`${BASE}/runs/:id`, { schema: { ...hide, params: idParams } }, sendShell('run'));
  app.get(`${BASE}/new`, { schema: hide }, sendShell('new'));
  app.get(`${BASE}/favicon.svg`, { schema: hide }, async (_req, reply) => {
    securityHeaders(reply);
    reply.header('cache-control', 'public, max-age=86400');
    return reply.type('image/svg+xml').send('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="6" fill="#1f2a44"/><path d="M8 22l6-12 4 8 2-4 4 8" fill="none" stroke="#4ade80" stroke-width="3" stroke-linecap="round" stroke-linejoin="round"/></svg>');
  });

  if (assets.dir) {
    mkdirSync(assets.dir, { recursive: true });
    await app.register(async (scope) => {
      // Source maps show the unminified sources: signed-in users only.
      scope.addHook('onRequest', async (req) => {
        if (req.url.split('?')[0]!.endsWith('.map') && !(await sessionOf(req))) throw new HttpError(401, 'unauthorized', 'source maps need a dashboard session', 'cookie');
      });
      scope.addHook('onSend', async (_req, reply, payload) => {
        securityHeaders(reply);
        return payload;
      });
      await scope.register(fastifyStatic, {
        root: assets.dir,
        prefix: `${BASE}/assets/`,
        decorateReply: false,
        index: false,
        list: false,
        dotfiles: 'deny',
        allowedPath: (p) => !p.endsWith('manifest.json'),
        // Asset URLs carry ?v=<content hash>, so a new build is a new URL.
        maxAge: '1h',
      });
    });
  }

  // -------------------------------------------------------------- session

  app.post<{ Body: { token: string } }>(`${BASE}/session`, {
    config: { rateLimit: { max: 20, timeWindow: '1 minute' } },
    schema: {
      tags: ['dashboard'], summary: 'Sign in to the dashboard with an API token (sets an HttpOnly, SameSite=Strict cookie)',
      body: { type: 'object', required: ['token'], additionalProperties: false, properties: { token: { type: 'string', minLength: 1, maxLength: 512 } } },
      response: { 200: { type: 'object', properties: { signedIn: { type: 'boolean' }, name: { type: 'string' }, role: { type: 'string' }, groups: { type: 'array', items: { type: 'string' } }, csrf: { type: 'string' }, via: { type: 'string' } } }, ...err(400, 401, 403, 429) },
    },
  }, async (req, reply) => {
    if (crossSite(req)) throw new HttpError(403, 'cross_site', 'cross-site sign-in is refused', 'origin');
    await refuseIfBlocked(failures, req.ip);
    const principal = tokens.authenticate(req.body.token);
    if (!principal) {
      await failures.fail(req.ip);
      req.log.info({ ip: req.ip }, 'dashboard sign-in refused: unknown token');
      throw new HttpError(401, 'unauthorized', 'unknown API token', 'token');
    }
    const s = await sessions.create(principal, 'token', req.body.token);
    startSession(reply, req, s);
    reply.header('cache-control', 'no-store');
    req.principal = principal;
    req.log.info({ user: principal.name, role: principal.role }, 'dashboard sign-in');
    return { signedIn: true, ...principalView(principal, s) };
  });

  app.post(`${BASE}/session/end`, {
    schema: { tags: ['dashboard'], summary: 'Sign out (ends the session in Redis and clears the cookie)', response: { 204: { type: 'null' }, ...err(401, 403) } },
  }, async (req, reply) => {
    const s = await requireSession(req);
    req.principal = s.principal;
    await sessions.destroy(s.id);
    reply.clearCookie(SESSION_COOKIE, cookieOptions(req));
    return reply.status(204).send();
  });

  // Who is signed in (200 either way, so a signed-out page load is not an error); the CSRF token for actions.
  app.get(`${BASE}/session`, {
    schema: { tags: ['dashboard'], summary: 'Who is signed in to the dashboard, and the CSRF token for its actions', response: { 200: { type: 'object', properties: { signedIn: { type: 'boolean' }, name: { type: 'string' }, role: { type: 'string' }, groups: { type: 'array', items: { type: 'string' } }, csrf: { type: 'string' }, via: { type: 'string' } } } } },
  }, async (req, reply) => {
    reply.header('cache-control', 'no-store');
    const s = (await sessionOf(req)) ?? (await iapSession(req, reply));
    if (!s) return { signedIn: false };
    req.principal = s.principal;
    return { signedIn: true, ...principalView(s.principal, s) };
  });

  // -------------------------------------------------------------- actions (through the runs API itself)

  const ACTIONS = ['approve', 'reject', 'cancel', 'retry'] as const;
  type ActionName = (typeof ACTIONS)[number];
  app.post<{ Params: { id: string; action: ActionName }; Body: { comment?: string; choice?: string } | undefined }>(`${BASE}/api/runs/:id/:action`, {
    schema: {
      tags: ['dashboard'], summary: 'Approve / reject / cancel / retry from the dashboard (cookie session + CSRF header); the runs API decides',
      params: { type: 'object', required: ['id', 'action'], properties: { id: idParams.properties.id, action: { type: 'string', enum: [...ACTIONS] } } },
      body: { type: ['object', 'null'], additionalProperties: false, properties: { comment: { type: 'string', maxLength: 2000 }, choice: { type: 'string', maxLength: 40 } } },
    },
  }, async (req, reply) => {
    const s = await requireSession(req);
    req.principal = s.principal;
    req.runId = req.params.id;
    const b = req.body ?? {};
    const comment = b.comment?.trim() || undefined;
    const body: Record<string, string> = {};
    if (req.params.action === 'approve') Object.assign(body, comment ? { comment } : {}, b.choice ? { choice: b.choice } : {});
    else if (req.params.action === 'reject') Object.assign(body, comment ? { comment } : {});
    else if (req.params.action === 'cancel') Object.assign(body, comment ? { reason: comment } : {});
    const res = await app.inject({
      method: 'POST',
      url: `/api/runs/${encodeURIComponent(req.params.id)}/${req.params.action}`,
      headers: { cookie: `${SESSION_COOKIE}=${s.id}`, [deps.proxy.header]: deps.proxy.secret, 'content-type': 'application/json' },
      payload: JSON.stringify(body),
    });
    reply.header('cache-control', 'no-store');
    return reply.status(res.statusCode).type('application/json; charset=utf-8').send(res.body);
  });

  // Start a run by hand (the dry-run plan first, then the run): the runs API decides who may (approver and up).
  app.post<{ Body: { runbook: string; target: string; text: string; dryRun?: boolean } }>(`${BASE}/api/runs`, {
    schema: {
      tags: ['dashboard'], summary: 'Start a run (or its dry run) from the dashboard (cookie session + CSRF header); the runs API decides',
      body: { type: 'object', required: ['runbook', 'target', 'text'], additionalProperties: false, properties: { runbook: { type: 'string', maxLength: 100 }, target: { type: 'string', maxLength: 100 }, text: { type: 'string', minLength: 1, maxLength: 65536 }, dryRun: { type: 'boolean' } } },
    },
  }, async (req, reply) => {
    const s = await requireSession(req);
    req.principal = s.principal;
    const b = req.body;
    const res = await app.inject({
      method: 'POST',
      url: '/api/runs',
      headers: { cookie: `${SESSION_COOKIE}=${s.id}`, [deps.proxy.header]: deps.proxy.secret, 'content-type': 'application/json' },
      payload: JSON.stringify({ runbook: b.runbook, target: b.target, text: b.text, severity: 'error', dryRun: !!b.dryRun }),
    });
    reply.header('cache-control', 'no-store');
    return reply.status(res.statusCode).type('application/json; charset=utf-8').send(res.body);
  });

  // -------------------------------------------------------------- read routes the pages need

  const graphCache = new Map<string, RunbookGraph>();
  app.get<{ Params: { id: string }; Querystring: { hash?: string } }>('/api/runbooks/:id/graph', {
    config: { role: 'viewer', cookieAuth: true },
    schema: {
      tags: ['catalog'], security, summary: "A runbook's steps and edges (the version a run used: hash= its runbookHash)",
      params: { type: 'object', required: ['id'], properties: { id: { type: 'string', pattern: '^[a-z0-9][a-z0-9-]{0,99}$' } } },
      querystring: { type: 'object', additionalProperties: false, properties: { hash: { type: 'string', pattern: '^[A-Za-z0-9]{8,128}$' } } },
      response: {
        200: {
          type: 'object',
          properties: {
            id: { type: 'string' }, title: { type: 'string' }, description: { type: 'string' }, hash: { type: 'string' }, start: { type: 'string' }, loaded: { type: 'boolean' },
            steps: { type: 'array', items: { type: 'object', properties: { id: { type: 'string' }, kind: { type: 'string' }, action: { type: 'string' }, description: { type: 'string' }, end: { type: 'string' }, options: { type: 'array', items: { type: 'string' } }, maxVisits: { type: 'integer' }, attempts: { type: 'integer' } } } },
            edges: { type: 'array', items: { type: 'object', properties: { from: { type: 'string' }, to: { type: 'string' }, kind: { type: 'string' }, label: { type: 'string' } } } },
          },
        },
        ...err(400, 401, 403, 404),
      },
    },
  }, async (req, reply) => {
    const { id } = req.params;
    const hash = req.query.hash;
    const loaded = engine.runbooks.get(id);
    if (loaded && (!hash || loaded.hash === hash)) return runbookGraph(loaded, true);
    if (!hash) throw new HttpError(404, 'not_found', `no runbook '${id}'`, 'id');
    const key = `${id}@${hash}`;
    let g = graphCache.get(key);
    if (!g) {
      const source = await engine.store.runbookSource(hash);
      if (!source) throw new HttpError(404, 'not_found', `no stored source for runbook '${id}' at ${hash.slice(0, 12)}`, 'hash');
      let rb: Pick<Runbook, 'id' | 'title' | 'description' | 'hash' | 'start' | 'steps'> | null;
      try {
        rb = parseRunbook(source, `${id}@${hash.slice(0, 12)}`, (await engine.actions()).catalog());
      } catch {
        rb = lenientRunbook(source, hash);
      }
      if (!rb || rb.id !== id) throw new HttpError(404, 'not_found', `the source stored at ${hash.slice(0, 12)} is not runbook '${id}'`, 'hash');
      g = runbookGraph({ ...rb, hash }, false);
      if (graphCache.size > 200) graphCache.clear();
      graphCache.set(key, g);
    }
    reply.header('cache-control', 'private, max-age=3600');
    return g;
  });

  app.get<{ Params: { id: string } }>(`${BASE}/api/runs/:id/context`, {
    config: { role: 'viewer', cookieAuth: true },
    schema: {
      tags: ['dashboard'], security, summary: "A run's external links (commit, build, execution, logs) and, when it waits, the approval with what the caller may do",
      params: idParams,
      response: {
        200: {
          type: 'object',
          properties: {
            links: { type: 'array', items: { type: 'object', properties: { step: { type: 'string' }, kind: { type: 'string' }, label: { type: 'string' }, href: { type: 'string' }, text: { type: 'string' } } } },
            approval: {
              type: 'object',
              properties: { step: { type: 'string' }, prompt: { type: 'string' }, options: { type: 'array', items: { type: 'string' } }, recommend: { type: 'string' }, findings: {}, proposal: {}, approvers: { type: 'array', items: { type: 'string' } }, mayDecide: { type: 'boolean' } },
            },
            may: { type: 'object', properties: { approve: { type: 'boolean' }, cancel: { type: 'boolean' }, retry: { type: 'boolean' } } },
          },
        },
        ...err(401, 403, 404),
      },
    },
  }, async (req, reply) => {
    req.runId = req.params.id;
    const run = await engine.store.get(req.params.id);
    if (!run) throw new HttpError(404, 'not_found', `no run '${req.params.id}'`, 'id');
    const p = req.principal!;
    const admin = roleAllows(p.role, 'admin');
    const out: Record<string, unknown> = { links: runLinks(run), may: { approve: false, cancel: admin && !isTerminal(run.status), retry: admin && run.status === 'failed' } };
    if (run.status === 'waiting_approval' && run.currentStep) {
      const rb = [...engine.runbooks.values()].find((r) => r.hash === run.runbookHash) ?? engine.runbooks.get(run.runbookId);
      const def = rb?.stepMap.get(run.currentStep)?.approval;
      const approvers = approvals.allowed(run);
      const mayDecide = await approvals.may(approvals.identities.fromPrincipal(p), run);
      (out.may as Record<string, boolean>).approve = mayDecide;
      const ctx = exprContext(run);
      const r = async (tpl?: string) => (tpl ? await render(tpl, ctx).catch(() => undefined) : undefined);
      const prompt = def ? await r(def.prompt) : undefined;
      const recommend = def ? await r(def.recommend) : undefined;
      out.approval = {
        step: run.currentStep,
        prompt: prompt === undefined ? undefined : String(prompt),
        options: def?.options ?? [],
        recommend: recommend === undefined || recommend === null || recommend === '' ? undefined : String(recommend),
        findings: def ? clipJson(await r(def.findings)) : undefined,
        proposal: def ? clipJson(await r(def.proposal)) : undefined,
        approvers,
        mayDecide,
      };
    }
    reply.header('cache-control', 'no-store');
    return out;
  });

  app.get(`${BASE}/api/summary`, {
    config: { role: 'viewer', cookieAuth: true },
    schema: { tags: ['dashboard'], security, summary: 'How many runs are in each status (index sizes, no scan)', response: { 200: { type: 'object', properties: { counts: { type: 'object', additionalProperties: { type: 'integer' } } } }, ...err(401, 403) } },
  }, async (_req, reply) => {
    reply.header('cache-control', 'no-store');
    return { counts: await engine.store.countByStatus() };
  });
}
