// The targets file's runtime section: how target code gets its Python, its environment and its network. Bad
// declarations are refused with the file, line and field; runwright's own variable names are never accepted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseTargets } from '../../src/config/targets.js';
import { ValidationError } from '../../src/core/errors.js';

const base = (runtime: string) => `targets:
  - name: svc
    repo: /srv/git/svc.git
    runtime:
${runtime}
`;

function issues(src: string) {
  try {
    parseTargets(src, 'targets.yaml');
  } catch (e) {
    assert.ok(e instanceof ValidationError, String(e));
    return e.issues;
  }
  assert.fail('accepted');
}

test('a runtime from a requirements file, with declared env and no network, is accepted as written', () => {
  const t = parseTargets(base('      requirements: backend/requirements.txt\n      env: { APP_ENV: check, SECRET_KEY: dev-only }\n      network: none\n      maxProcs: 64'), 'targets.yaml').get('svc')!;
  assert.deepEqual(t.runtime, { requirements: 'backend/requirements.txt', env: { APP_ENV: 'check', SECRET_KEY: 'dev-only' }, network: 'none', maxProcs: 64 });
});

test("runwright's own variables cannot be handed to target code, in runtime.env, check.env or local.env", () => {
  for (const name of ['RUNWRIGHT_API_TOKENS', 'SLACK_BOT_TOKEN', 'REDIS_URL', 'GOOGLE_APPLICATION_CREDENTIALS']) {
    const i = issues(base(`      env: { ${name}: x }`));
    assert.equal(i[0]!.path, `targets.0.runtime.env.${name}`);
    assert.equal(i[0]!.line, 5);
    assert.match(i[0]!.message, /never hands its own variables/);
  }
  const c = issues(`targets:\n  - name: svc\n    repo: r\n    check: { command: [python, -c, "1"], env: { SLACK_SIGNING_SECRET: x } }\n`);
  assert.equal(c[0]!.path, 'targets.0.check.env.SLACK_SIGNING_SECRET');
});

test('runtime files stay inside the repository; the interpreter is an absolute path; requirements or pyproject', () => {
  assert.equal(issues(base('      requirements: ../../etc/passwd'))[0]!.path, 'targets.0.runtime.requirements');
  assert.equal(issues(base('      lock: /etc/passwd'))[0]!.path, 'targets.0.runtime.lock');
  assert.equal(issues(base('      python: python3'))[0]!.path, 'targets.0.runtime.python');
  assert.match(issues(base('      requirements: r.txt\n      pyproject: pyproject.toml'))[0]!.message, /requirements or pyproject, not both/);
  assert.equal(issues(base('      network: everywhere'))[0]!.path, 'targets.0.runtime.network');
  assert.equal(issues(base('      maxProcs: 1'))[0]!.path, 'targets.0.runtime.maxProcs');
});
