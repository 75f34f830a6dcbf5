// Builds the Ports bundle for a platform. Each port has one adapter per implementation.
import type { Ports } from '../ports/index.js';
import type { Config } from '../config/config.js';
import { LocalGit } from './local/git.js';
import { LocalProcess } from './local/process.js';
import { PermanentError } from '../core/errors.js';

export type Platform = 'local' | 'gcp';

function unavailable(port: string, platform: string): any {
  return new Proxy({}, {
    get(_t, prop) {
      if (prop === 'then') return undefined;
      return async () => { throw new PermanentError(`the ${port} port has no ${platform} adapter configured`, 'port_unavailable'); };
    },
  });
}

export function createPorts(_config: Config, platform: Platform = 'local', overrides: Partial<Ports> = {}): Ports {
  const proc = new LocalProcess();
  return {
    git: new LocalGit(),
    proc,
    build: unavailable('build', platform),
    deploy: unavailable('deploy', platform),
    logs: unavailable('logs', platform),
    chat: unavailable('chat', platform),
    ...overrides,
  };
}
