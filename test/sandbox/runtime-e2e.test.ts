// A target whose models import packages that are not installed system-wide (Flask-SQLAlchemy, pydantic; Debian's
// python3 has neither) runs the seed runbook end to end through the CLI on the local platform: runwright builds
// its venv from backend/requirements.txt with pip (the machine's local index), the check, the pre-flight and the
// job run in it — sandboxed, with none of runwright's variables — and the next run reuses the venv.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { simpleGit } from 'simple-git';
import YAML from 'yaml';
import { REDIS_URL, cleanupPrefix, testPrefix } from '../helpers/redis.js';
import { publishRepo } from '../../src/demo/sample-service.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const RUNBOOK = path.join(ROOT, 'runbooks', 'sqlalchemy-mapper-failure.yaml');
const SECRET = `rw-secret-${Math.random().toString(36).slice(2)}`;

const FILES: Record<string, string> = {
  'backend/requirements.txt': 'Flask-SQLAlchemy>=3\npydantic>=2\n',
  'backend/app/__init__.py': '',
  'backend/app/extensions.py': 'from flask_sqlalchemy import SQLAlchemy\n\ndb = SQLAlchemy()\n',
  'backend/app/settings.py': [
    'from pydantic import BaseModel',
    '',
    '',
    'class Settings(BaseModel):',
    '    database_url: str = "sqlite://"',
    '    org_name_max: int = 200',
    '',
    '',
    'settings = Settings()',
    '',
  ].join('\n'),
  'backend/app/models/__init__.py': 'from app.models.organization import Organization\nfrom app.models.user import User\n\n__all__ = ["Organization", "User"]\n',
  'backend/app/models/organization.py': [
    'from app.extensions import db',
    'from app.settings import settings',
    '',
    '',
    'class Organization(db.Model):',
    '    __tablename__ = "organizations"',
    '',
    '    id = db.Column(db.Integer, primary_key=True)',
    '    name = db.Column(db.String(settings.org_name_max), nullable=False)',
    '',
    '    users = db.relationship("User", back_populates="organization")',
    '    feature_flags = db.relationship(',
    '        "FeatureFlag",',
    '        back_populates="organization",',
    '        cascade="all, delete-orphan",',
    '    )',
    '',
  ].join('\n'),
  'backend/app/models/user.py': [
    'from app.extensions import db',
    '',
    '',
    'class User(db.Model):',
    '    __tablename__ = "users"',
    '',
    '    id = db.Column(db.Integer, primary_key=True)',
    '    email = db.Column(db.String(320), nullable=False, unique=True)',
    '    organization_id = db.Column(db.Integer, db.ForeignKey("organizations.id"))',
    '',
    '    organization = db.relationship("Organization", back_populates="users")',
    '',
  ].join('\n'),
  // The job: a Flask app on SQLite; prints what of the environment it got (names only) for the test to check.
  'backend/worker.py': [
    'import json',
    'import os',
    '',
    'from flask import Flask',
    '',
    'from app.extensions import db',
    'from app.models import Organization, User',
    'from app.settings import settings',
    '',
    '',
    'def log(severity, message):',
    '    print(json.dumps({"severity": severity, "message": message}), flush=True)',
    '',
    '',
    'app = Flask(__name__)',
    'app.config["SQLALCHEMY_DATABASE_URI"] = settings.database_url',
    'db.init_app(app)',
    '',
    'if __name__ == "__main__":',
    '    log("INFO", "env: " + ",".join(sorted(os.environ)))',
    '    with app.app_context():',
    '        db.create_all()',
    '        org = Organization(name="Acme")',
    '        db.session.add_all([org, User(email="ada@example.com", organization=org)])',
    '        db.session.commit()',
    '        log("INFO", f"processed {User.query.count()} user(s)")',
    '',
  ].join('\n'),
};

const ALERT =
  "sqlalchemy.exc.InvalidRequestError: One or more mappers failed to initialize - can't proceed with initialization of other mappers. " +
  "Triggering mapper: 'Mapper[Organization(organizations)]'. Original exception was: When initializing mapper Mapper[Organization(organizations)], " +
  "expression 'FeatureFlag' failed to locate a name ('FeatureFlag'). If this is a class name, consider adding this relationship() to the " +
  "<class 'app.models.organization.Organization'> class after both dependent classes have been defined.";

let root: string;
let remote: string;
let prefix: string;

async function sampleRepo(dir: string): Promise<string> {
  return (await publishRepo(dir, 'flask-svc', FILES, 'Organization has feature flags')).remote;
}

function cli(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(ROOT, 'bin', 'runwright.js'), ...args], { cwd: root, env: { ...process.env, ...env, RUNWRIGHT_FROM_SOURCE: '1' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const noFlask = spawnSync('/usr/bin/python3', ['-c', 'import flask_sqlalchemy'], { timeout: 30_000 }).status === 0 ? 'flask_sqlalchemy is installed system-wide here: this test needs it absent' : false;

describe('a target with its own dependencies, through the CLI', { skip: noFlask }, () => {
  before(async () => {
    root = mkdtempSync(path.join(os.tmpdir(), 'rw-runtime-e2e-'));
    remote = await sampleRepo(path.join(root, 'origin'));
    prefix = testPrefix('rte2e');
    const target = {
      name: 'flask-svc',
      repo: remote,
      branch: 'main',
      modelsDir: 'backend/app/models',
      platform: 'local',
      runtime: { requirements: 'backend/requirements.txt', env: { APP_ENV: 'check' } },
      check: { command: ['python', '-c', 'import app.models; from sqlalchemy.orm import configure_mappers; configure_mappers()'], cwd: 'backend' },
      local: { command: ['python', 'worker.py'], workdir: 'backend', timeoutMs: 120_000 },
      labels: { service: 'flask-svc' },
    };
    writeFileSync(path.join(root, 'targets.yaml'), YAML.stringify({ targets: [target] }));
    writeFileSync(path.join(root, 'alert.json'), JSON.stringify({ text: ALERT, labels: { service: 'flask-svc' } }));
  });
  after(async () => {
    await cleanupPrefix(prefix);
    rmSync(root, { recursive: true, force: true });
  });

  test('the seed runbook fixes it end to end; the venv is built once and reused by the next run', { timeout: 20 * 60_000 }, async () => {
    const venvDir = path.join(root, 'venvs');
    const env = {
      REDIS_URL,
      RUNWRIGHT_PREFIX: prefix,
      RUNWRIGHT_WORKDIR: path.join(root, 'work'),
      RUNWRIGHT_LOCAL_PLATFORM_DIR: path.join(root, 'platform'),
      RUNWRIGHT_VENV_DIR: venvDir,
      RUNWRIGHT_API_TOKENS: `ops:admin:${SECRET}`,
      SLACK_SIGNING_SECRET: SECRET,
    };
    const args = ['run', RUNBOOK, '--alert', path.join(root, 'alert.json'), '--target', 'flask-svc', '--targets', path.join(root, 'targets.yaml'), '--platform', 'local', '--auto-approve', '--json'];
    const first = await cli(args, env);
    assert.equal(first.code, 0, `${first.stderr.slice(-3000)}`);
    const run = JSON.parse(first.stdout);
    assert.equal(run.status, 'succeeded', run.outcome);
    const s = run.steps;
    // the check failed for the reason in the alert — not ModuleNotFoundError: the venv has Flask-SQLAlchemy and pydantic
    assert.equal(s.confirm.output.healthy, false);
    assert.equal(s.confirm.output.mapper.class, 'Organization');
    assert.doesNotMatch(s.confirm.output.check.output, /ModuleNotFoundError/);
    const rt = s.confirm.output.check.runtime;
    assert.equal(rt.venv.built, true, 'the first check built the venv');
    assert.equal(rt.venv.from, 'backend/requirements.txt');
    assert.equal(s.preflight.output.passed, true, s.preflight.output.check.output);
    assert.equal(s.preflight.output.check.runtime.venv.built, false, 'the pre-flight reused it');
    assert.equal(s.preflight.output.check.runtime.venv.key, rt.venv.key);
    assert.deepEqual(rt.env, ['APP_ENV', 'HOME', 'LANG', 'PATH', 'PYTHONDONTWRITEBYTECODE', 'TMPDIR']);
    // the job ran in the venv too, and saw nothing of runwright's
    assert.equal(s.deploy.output.status, 'succeeded');
    assert.equal(s.deploy.output.details.runtime.venv.key, rt.venv.key);
    assert.ok(!first.stdout.includes(SECRET));
    const remoteHead = (await simpleGit(remote).raw(['rev-parse', 'refs/heads/main'])).trim();
    assert.equal(remoteHead, s.push.output.sha, 'the fix is on the remote');

    // A second alert on the now healthy repo: the check runs in the cached venv (nothing rebuilt), nothing committed.
    const second = await cli(args, env);
    const run2 = JSON.parse(second.stdout);
    const c2 = run2.steps.confirm.output;
    assert.equal(c2.healthy, true, c2.check.output);
    assert.equal(c2.check.runtime.venv.built, false, 'reused by the next run');
    assert.equal(c2.check.runtime.venv.key, rt.venv.key);
    assert.equal((await simpleGit(remote).raw(['rev-parse', 'refs/heads/main'])).trim(), remoteHead, 'a stale alert commits nothing');
    const entries = readdirSync(venvDir).filter((e) => !e.startsWith('.'));
    assert.deepEqual(entries.filter((e) => e === rt.venv.key), [rt.venv.key], 'one published venv');
    assert.equal(entries.length, 2, `the link and its folder only: ${entries.join(', ')}`);
  });
});
