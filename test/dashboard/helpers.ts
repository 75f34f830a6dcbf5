// Dashboard tests: the real service (startServer: engine + worker on real Redis with a unique prefix, the fastify app
// on loopback) and a real browser (Debian's chromium through playwright-core, headless, fresh profile).
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { after, before } from 'node:test';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { loadConfig, type Config } from '../../src/config/config.js';
import { loadRunbooksDir } from '../../src/core/runbook.js';
import { loadTargets } from '../../src/config/targets.js';
import { defaultRegistry } from '../../src/actions/index.js';
import { defineAction } from '../../src/core/action.js';
import { PermanentError } from '../../src/core/errors.js';
import { createLogger } from '../../src/logging.js';
import { startServer, type Server } from '../../src/api/server.js';
import { REDIS_URL, cleanupPrefix, testPrefix } from '../helpers/redis.js';

const here = path.dirname(new URL(import.meta.url).pathname);
export const ROOT = path.resolve(here, '..', '..');
export const ARTIFACTS = path.join(ROOT, 'artifacts', 'dashboard');

export const TOKENS = {
  viewer: 'dash-viewer-token-0123456789abcdef',
  alice: 'dash-alice-approver-token-012345',
  admin: 'dash-admin-token-0123456789abcdef',
  intake: 'dash-intake-token-0123456789abcdef',
};

/** Test action: waits `ms` (honouring cancel), then returns `output`, or fails permanently when `fail` is true. */
export const demoStep = defineAction({
  name: 'demo.step',
  description: 'Waits ms milliseconds, then outputs `output` (or fails when `fail`)',
  sideEffects: false,
  params: z.object({ ms: z.number().int().min(0).max(600_000).default(0), output: z.any().optional(), fail: z.boolean().optional() }),
  async run(p, ctx) {
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(resolve, p.ms);
      ctx.signal.addEventListener('abort', () => {
        clearTimeout(t);
        reject(ctx.signal.reason ?? new Error('aborted'));
      }, { once: true });
    });
    if (p.fail) throw new PermanentError('cache directory is still locked by another process', 'still_locked');
    return (p.output ?? {}) as never;
  },
});

export interface DashServer extends Server {
  url: string;
  config: Config;
  prefix: string;
  logs: string[];
  close(): Promise<void>;
}

export async function startDashboard(opts: { worker?: boolean; config?: Record<string, unknown> } = {}): Promise<DashServer> {
  const prefix = testPrefix('dash');
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      logs.push(...String(chunk).split('\n').filter(Boolean));
      cb();
    },
  });
  const config = loadConfig({ REDIS_URL }, {
    prefix,
    workdir: mkdtempSync(path.join(os.tmpdir(), 'rw-dash-')),
    retentionDays: 0,
    logLevel: 'info',
    http: { host: '127.0.0.1', port: 0 },
    worker: { concurrency: 4, lockDurationMs: 30_000, stalledIntervalMs: 15_000 },
    api: {
      tokens: [
        { name: 'viewer1', role: 'viewer', token: TOKENS.viewer },
        { name: 'alice', role: 'approver', token: TOKENS.alice },
        { name: 'root', role: 'admin', token: TOKENS.admin },
      ],
      sources: { generic: { token: TOKENS.intake } },
      rateLimit: { max: 10_000, windowMs: 60_000 },
      ...((opts.config?.api as object) ?? {}),
    },
    ...Object.fromEntries(Object.entries(opts.config ?? {}).filter(([k]) => k !== 'api')),
  } as never);
  const registry = defaultRegistry([demoStep]);
  const world = { registry, runbooks: loadRunbooksDir(path.join(here, 'runbooks'), registry.catalog()), targets: loadTargets(path.join(here, 'targets.yaml')) };
  const logger = createLogger({ level: 'info', destination: sink });
  const server = await startServer({ config, role: opts.worker === false ? 'api' : 'all', world, logger, handleSignals: false });
  return {
    ...server,
    url: server.url!,
    config,
    prefix,
    logs,
    close: async () => {
      await server.close();
      await cleanupPrefix(prefix);
    },
  };
}

/** POST a generic alert; returns the intake results. */
export async function postAlert(base: string, body: Record<string, unknown>): Promise<{ outcome: string; runId?: string; reason?: string }[]> {
  const res = await fetch(`${base}/intake/generic`, { method: 'POST', headers: { authorization: `Bearer ${TOKENS.intake}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const json = (await res.json()) as { results?: unknown } | unknown[];
  if (res.status >= 300) throw new Error(`intake answered ${res.status}: ${JSON.stringify(json)}`);
  return (Array.isArray(json) ? json : (json as { results: unknown[] }).results) as { outcome: string; runId?: string }[];
}

export const CHROMIUM_ARGS = ['--no-sandbox', '--headless', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

export interface Browser {
  context: BrowserContext;
  /** Console errors and page errors seen so far (CSP violations show up here). */
  problems: string[];
  /** Leave this page's console out of `problems` (a page that provokes refusals on purpose). */
  ignoreProblems(page: Page): void;
  newPage(viewport?: { width: number; height: number }): Promise<Page>;
  close(): Promise<void>;
}

/** Debian's chromium with a fresh profile directory (never a downloaded browser). */
export async function launchBrowser(): Promise<Browser> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'rw-chromium-'));
  const context = await chromium.launchPersistentContext(dir, {
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1440, height: 900 },
    colorScheme: 'light',
    reducedMotion: 'reduce',
    timezoneId: 'UTC',
    locale: 'en-US',
  });
  context.setDefaultTimeout(20_000);
  // Functions passed to page.evaluate are compiled by tsx, which names inner functions through an `__name` helper
  // that only exists in Node; give the page a no-op one.
  await context.addInitScript({ content: 'globalThis.__name = (f) => f;' });
  const problems: string[] = [];
  const ignored = new WeakSet<Page>();
  const watch = (p: Page) => {
    p.on('console', (m) => {
      if (m.type() === 'error' && !ignored.has(p)) problems.push(`console: ${m.text()}`);
    });
    p.on('pageerror', (e) => {
      if (!ignored.has(p)) problems.push(`pageerror: ${e.message}`);
    });
  };
  context.pages().forEach(watch);
  context.on('page', watch);
  return {
    context,
    problems,
    ignoreProblems: (p) => ignored.add(p),
    async newPage(viewport) {
      const p = context.pages().find((x) => x.url() === 'about:blank') ?? (await context.newPage());
      if (viewport) await p.setViewportSize(viewport);
      return p;
    },
    async close() {
      await context.close().catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Sign in through the page's own form (signed out first); resolves when the signed-in page has loaded. */
export async function signIn(page: Page, base: string, token: string, at = '/dashboard/'): Promise<void> {
  await page.context().clearCookies();
  await page.goto(`${base}${at}`);
  await page.waitForSelector('#token');
  await page.fill('#token', token);
  await page.click('form.signin button[type=submit]');
  await page.waitForSelector('body[data-loaded="true"]');
}

export async function screenshot(page: Page, name: string, fullPage = false): Promise<string> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const file = path.join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage });
  return file;
}

/** Poll until fn returns a truthy value (for server-side state the page does not show). */
export async function until<T>(fn: () => Promise<T | undefined | null | false>, timeoutMs = 15_000, what = 'condition'): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** A service and a browser for the whole test file (started before, closed after). */
export function useDashboard(opts: Parameters<typeof startDashboard>[0] = {}): { srv: () => DashServer; browser: () => Browser } {
  let srv: DashServer | undefined;
  let browser: Browser | undefined;
  before(async () => {
    srv = await startDashboard(opts);
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await srv?.close();
  });
  return { srv: () => srv!, browser: () => browser! };
}
