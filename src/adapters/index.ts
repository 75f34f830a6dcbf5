// Builds the Ports bundle for a platform. Each port has one adapter per implementation.
import type { Ports } from '../ports/index.js';
import type { Config } from '../config/config.js';
import { LocalGit } from './local/git.js';
import { LocalProcess } from './local/process.js';
import { LocalBuild } from './local/build.js';
import { LocalDeploy } from './local/deploy.js';
import { LocalLogs } from './local/logs.js';
import { PermanentError } from '../core/errors.js';

export type Platform = 'local' | 'gcp';
export { sandboxStatus, type SandboxStatus } from './local/sandbox.js';

function unavailable(port: string, platform: string): any {
  return new Proxy({}, {
    get(_t, prop) {
      if (prop === 'then') return undefined;
      return async () => { throw new PermanentError(`the ${port} port has no ${platform} adapter configured`, 'port_unavailable'); };
    },
  });
}

/** A port whose adapter module loads on first use (the Google clients take ~1 s to import; local runs never need them). */
function lazyPort<T extends object>(load: () => Promise<T>): T {
  let p: Promise<T> | undefined;
  return new Proxy({}, {
    get(_t, prop) {
      if (prop === 'then') return undefined;
      return async (...args: unknown[]) => {
        const impl: any = await (p ??= load());
        if (typeof impl[prop] !== 'function') return undefined;
        return impl[prop](...args);
      };
    },
  }) as T;
}

/** build/deploy/logs for a platform: gcp = Cloud Build, Cloud Run jobs, Cloud Logging; local = worktree, job command, captured lines. */
function platformPorts(config: Config, platform: Platform, git: LocalGit, proc: LocalProcess): Pick<Ports, 'build' | 'deploy' | 'logs'> {
  if (platform === 'gcp') {
    return {
      build: lazyPort(async () => new (await import('./gcp/build.js')).GcpBuild(config.gcp, git)),
      deploy: lazyPort(async () => new (await import('./gcp/deploy.js')).GcpDeploy(config.gcp)),
      logs: lazyPort(async () => new (await import('./gcp/logs.js')).GcpLogs(config.gcp)),
    };
  }
  return {
    build: new LocalBuild(git, proc, config.local.executionTimeoutMs),
    deploy: new LocalDeploy(proc, config.local.platformDir, config.local.executionTimeoutMs),
    logs: new LocalLogs(config.local.platformDir),
  };
}

export function createPorts(config: Config, platform: Platform = 'local', overrides: Partial<Ports> = {}): Ports {
  const proc = new LocalProcess({ sandbox: config.sandbox.mode, venvDir: config.sandbox.venvDir });
  const git = new LocalGit();
  return {
    git,
    proc,
    ...platformPorts(config, platform, git, proc),
    chat: slackChat(config) ?? unavailable('chat', platform),
    ...overrides,
  };
}

/** Slack approvals (chat.postMessage / chat.update with Block Kit) when SLACK_BOT_TOKEN and SLACK_CHANNEL are set.
 * The server (src/api/server.ts) passes its own SlackChat sharing the engine's Redis; this one opens Redis lazily. */
function slackChat(config: Config): Ports['chat'] | undefined {
  const { token, channel, apiUrl } = config.slack ?? {};
  if (!token || !channel) return undefined;
  return lazyPort(async () => new (await import('./slack/chat.js')).SlackChat({ token, channel, apiUrl, redisUrl: config.redisUrl, prefix: config.prefix }));
}
