// Shared bits for the SQLAlchemy tests: which interpreters run, and scenario services built per test file.
import { rmSync } from 'node:fs';
import { debianPython, isSkip, venvPython, type PythonEnv } from '../fixtures/sqlalchemy/python-env.js';
import { buildService, type Service } from '../fixtures/sqlalchemy/generate.js';
import { scenarios, type Scenario } from '../fixtures/sqlalchemy/scenarios.js';

export interface Interpreters {
  sa14: PythonEnv | { skip: string };
  sa2: PythonEnv | { skip: string };
}

let cached: Interpreters | undefined;
export function interpreters(): Interpreters {
  if (!cached) {
    cached = { sa14: debianPython(), sa2: venvPython() };
    for (const [k, v] of Object.entries(cached)) if (isSkip(v)) console.log(`# ${k}: skipped — ${v.skip}`);
  }
  return cached;
}

/** The interpreter a scenario runs under for a given line, or a skip reason. */
export function pythonFor(s: Scenario, line: '1.4' | '2.x'): PythonEnv | { skip: string } {
  const i = interpreters();
  if (line === '1.4') return s.sqlalchemy === '2.x' ? { skip: `by design: ${s.name} uses the 2.0 typed style, which SQLAlchemy 1.4 does not have` } : i.sa14;
  return i.sa2;
}

export { scenarios, isSkip };
export type { Scenario, Service, PythonEnv };

const made: Service[] = [];
export function service(s: Scenario, py: PythonEnv): Service {
  const svc = buildService(s, { python: py.python });
  made.push(svc);
  return svc;
}

export function cleanupServices(): void {
  for (const s of made.splice(0)) rmSync(s.root, { recursive: true, force: true });
}
