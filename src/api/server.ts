// `runwright serve`: load runbooks and targets, create the Engine, start the worker (role worker|all) and the
// HTTP API (role api|all), wire Slack approvals, and shut down gracefully on SIGTERM/SIGINT (in-flight
// requests finish, event streams end, the worker finishes or hands back its jobs).
//
// What a role does not use is never loaded: the HTTP API (fastify, the dashboard, auth) only for api/all, the
// Slack client only when Slack is configured; `--role worker` answers /healthz, /readyz and /metrics on its own
// small port (src/ops/worker-http.ts, node:http).
import type { Logger as PinoLogger } from 'pino';
import type { Config } from '../config/config.js';
import { Engine } from '../engine/engine.js';
import type { World } from '../engine/bootstrap.js';
import { approvalCoverage } from '../core/runbook-model.js';
import { createPorts, sandboxStatus } from '../adapters/index.js';
import type { SlackChat } from '../adapters/slack/chat.js';
import { createLogger } from '../logging.js';
import { errorInfo, ValidationError } from '../core/errors.js';
import type { RunwrightApp } from './app.js';
import type { ApprovalNotifier } from './slack/notifier.js';
import type { RunNotices } from './slack/run-notices.js';
import type { WorkerHttp } from '../ops/worker-http.js';

export type Role = 'api' | 'worker' | 'all';

export interface StartOptions {
  config: Config;
  role: Role | string;
  logger?: PinoLogger;
  /** Runbooks, targets and registry (default: loaded from config.runbooksDir / config.targetsFile). */
  world?: World;
  /** Install SIGTERM/SIGINT handlers that close everything and exit (default true). */
  handleSignals?: boolean;
  /** Slack notifier retry schedule (tests shorten it). */
  slackRetry?: { baseMs?: number; maxMs?: number; attempts?: number };
}

export interface Server {
  engine: Engine;
  app?: RunwrightApp;
  chat?: SlackChat;
  notifier?: ApprovalNotifier;
  /** Completion notices (SLACK_NOTICES_CHANNEL). */
  notices?: RunNotices;
  /** http://host:port when the API listens. */
  url?: string;
  /** `--role worker`: its health and metrics port. */
  workerHttp?: WorkerHttp;
  close(): Promise<void>;
}

export async function startServer(opts: StartOptions): Promise<Server> {
  const { config } = opts;
  const role = opts.role as Role;
  if (!['api', 'worker', 'all'].includes(role)) throw new Error(`role must be api, worker or all (got '${String(opts.role)}')`);
  const logger = opts.logger ?? createLogger({ level: config.logLevel });
  const world = opts.world ?? (await import('../engine/bootstrap.js')).loadWorld(config); // the loader (YAML, zod, actions) only when not given
  // Deny by default: an approval gate nobody may decide is refused before anything starts.
  const uncovered = approvalCoverage(world.runbooks.values(), world.targets.values(), { fallback: config.slack.approvers, adminsDecide: config.api.approvalDefault === 'admins' });
  if (uncovered.length) throw new ValidationError(uncovered);

  let chat: SlackChat | undefined;
  const engine = await Engine.create({
    config,
    runbooks: world.runbooks,
    targets: world.targets,
    registry: world.registry,
    logger: logger.child({ component: 'engine' }),
    ports: (platform) => createPorts(config, platform, chat ? { chat } : {}),
  });

  // The runs' Slack messages (an approval message, or one in SLACK_NOTICES_CHANNEL): every process can bring one up to
  // date (the approval notifier does after a decision, wherever it runs); the API processes follow the events.
  // The Slack client and these modules load only when Slack is configured.
  const slack = config.slack.token && (config.slack.channel || config.slack.noticesChannel)
    ? { SlackChat: (await import('../adapters/slack/chat.js')).SlackChat, RunNotices: (await import('./slack/run-notices.js')).RunNotices }
    : undefined;
  if (slack && config.slack.token && config.slack.channel) chat = new slack.SlackChat({ token: config.slack.token, channel: config.slack.channel, apiUrl: config.slack.apiUrl, redis: engine.store.redis, prefix: config.prefix });
  let notices: RunNotices | undefined;
  let noticesChat: SlackChat | undefined;
  let offNotices: (() => Promise<void>) | undefined;
  if (slack && config.slack.token && (config.slack.channel || config.slack.noticesChannel)) {
    noticesChat = chat ?? new slack.SlackChat({ token: config.slack.token, channel: config.slack.noticesChannel!, apiUrl: config.slack.apiUrl, redis: engine.store.redis, prefix: config.prefix });
    notices = new slack.RunNotices({
      chat: noticesChat,
      channel: config.slack.noticesChannel,
      approvals: !!chat,
      redis: engine.store.redis,
      prefix: config.prefix,
      logger: logger.child({ component: 'slack-notices' }),
      dashboardUrl: config.api.dashboardUrl ?? config.http.publicUrl,
      getRun: (id) => engine.store.get(id),
      events: (id) => engine.store.events(id),
      runbook: (run) => engine.runbooks.get(run.runbookId),
      retry: opts.slackRetry,
    });
    const ns = notices;
    if (role !== 'worker') offNotices = await engine.store.subscribe((ev) => ns.onEvent(ev));
  }

  let notifier: ApprovalNotifier | undefined;
  let unsubscribe: (() => Promise<void>) | undefined;
  if (chat) {
    const { ApprovalNotifier } = await import('./slack/notifier.js');
    notifier = new ApprovalNotifier({
      chat,
      redis: engine.store.redis,
      prefix: config.prefix,
      logger: logger.child({ component: 'slack' }),
      dashboardUrl: config.api.dashboardUrl ?? config.http.publicUrl,
      retry: opts.slackRetry,
      runMessages: notices,
      stillWaiting: async (runId, step, visit) => {
        const run = await engine.store.get(runId);
        return !!run && run.status === 'waiting_approval' && run.currentStep === step && (run.steps[step]?.visit ?? 1) === visit;
      },
    });
    engine.setHooks(notifier.hooks());
    // A run cancelled while its approval message is open: close the message.
    const n = notifier;
    unsubscribe = await engine.store.subscribe((ev) => {
      if (ev.kind !== 'run' || (ev.output as { status?: string } | undefined)?.status !== 'cancelled') return;
      void engine.store.get(ev.runId).then((run) => run && n.runEnded(run, ev.actor, ev.at)).catch(() => undefined);
    });
  } else {
    logger.warn('Slack is not configured (SLACK_BOT_TOKEN, SLACK_CHANNEL): approvals only through the API and dashboard');
  }

  if (chat && notifier) {
    const { resumePendingApprovals } = await import('./slack/resume.js');
    const n = await resumePendingApprovals(engine, chat, notifier).catch((e) => {
      logger.warn({ err: errorInfo(e) }, 'could not look for approvals still to post to Slack');
      return 0;
    });
    if (n) logger.info({ count: n }, 'posting approval messages that were never posted');
  }

  let consuming = false;
  if (role === 'worker' || role === 'all') {
    // Target code runs on this host: say how it is isolated (a warning when only the allowlisted environment is left).
    const sandbox = sandboxStatus(config.sandbox.mode);
    if (sandbox.kind === 'bwrap') logger.info({ sandbox }, 'target code runs under bubblewrap');
    else logger.warn({ sandbox }, `target code runs WITHOUT a sandbox (allowlisted environment only): ${sandbox.reason}`);
    // Run refs a dead worker left on the targets' remotes go with the workspace sweep (at start-up, then periodically).
    engine.workspace.sweepRunRefsOf?.([...world.targets.values()], { graceMs: config.runRefGraceMs });
    await engine.startWorker();
    consuming = true;
  }
  let workerHttp: WorkerHttp | undefined;
  if (role === 'worker') {
    const { startWorkerHttp } = await import('../ops/worker-http.js');
    workerHttp = await startWorkerHttp({ engine, host: config.http.host, port: config.worker.port, logger: logger.child({ component: 'worker-http' }), consuming: () => consuming });
  }

  let app: RunwrightApp | undefined;
  let url: string | undefined;
  if (role === 'api' || role === 'all') {
    const { buildApp } = await import('./app.js');
    app = await buildApp({ engine, config, logger, chat });
    url = await app.listen({ host: config.http.host, port: config.http.port });
  }
  logger.info({ role, url: url ?? workerHttp?.url, workerId: role === 'api' ? undefined : engine.workerId, runbooks: [...world.runbooks.keys()], targets: [...world.targets.keys()] }, 'runwright started');

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      // Stop taking requests and let in-flight ones finish, then stop the worker and the rest.
      if (app) await app.close();
      consuming = false; // /readyz says so while the worker hands back its jobs; /healthz answers until the end
      await unsubscribe?.();
      await offNotices?.();
      await notifier?.close();
      await notices?.close();
      // Engine.close() closes the BullMQ Queue but not the connection it duplicated for it: end it here.
      const queueConn = (engine.queue as unknown as { opts?: { connection?: { status?: string; disconnect?: () => void } } }).opts?.connection;
      await engine.close();
      if (queueConn?.disconnect && queueConn.status !== 'end') queueConn.disconnect();
      await workerHttp?.close();
      await chat?.close();
      if (noticesChat !== chat) await noticesChat?.close();
      logger.info('runwright stopped');
    })());

  if (opts.handleSignals !== false) {
    const onSignal = (sig: string) => {
      logger.info({ signal: sig }, 'shutting down: finishing in-flight requests');
      const hard = setTimeout(() => {
        logger.error('shutdown took longer than 30 s; exiting');
        process.exit(1);
      }, 30_000);
      hard.unref();
      close().then(
        () => {
          logger.flush?.();
          process.exit(0);
        },
        (e) => {
          logger.error({ err: errorInfo(e) }, 'shutdown failed');
          process.exit(1);
        },
      );
    };
    process.once('SIGTERM', () => onSignal('SIGTERM'));
    process.once('SIGINT', () => onSignal('SIGINT'));
  }

  return { engine, app, chat, notifier, notices, url, workerHttp, close };
}
