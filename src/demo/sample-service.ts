// The seed incident's service, made from scratch: a git repository (bare "remote" + the history pushed to it) whose
// backend/app/models has the broken Organization model — `relationship("FeatureFlag")` with no FeatureFlag class —
// and a content worker (backend/worker.py) that fails on its first query, as in the seed. Used by `npm run demo`
// and by the deploy tests; the target it returns runs on the local platform (or gcp, with the `gcp` section).
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { simpleGit } from 'simple-git';
import type { Target } from '../core/types.js';

export const SAMPLE_FILES: Record<string, string> = {
  'README.md': '# content-worker\n\nProcesses content; backend/ is the worker and its SQLAlchemy models.\n',
  'backend/app/__init__.py': '',
  'backend/app/models/__init__.py': [
    '# Every model is imported here so SQLAlchemy can resolve string references between them.',
    'from app.models.base import Base',
    'from app.models.organization import Organization',
    'from app.models.user import User',
    '',
    '__all__ = ["Base", "Organization", "User"]',
    '',
  ].join('\n'),
  'backend/app/models/base.py': 'from sqlalchemy.orm import declarative_base\n\nBase = declarative_base()\n',
  'backend/app/models/organization.py': [
    'from sqlalchemy import Column, Integer, String',
    'from sqlalchemy.orm import relationship',
    '',
    'from app.models.base import Base',
    '',
    '',
    'class Organization(Base):',
    '    __tablename__ = "organizations"',
    '',
    '    id = Column(Integer, primary_key=True)',
    '    name = Column(String(200), nullable=False)',
    '',
    '    # Relationships',
    '    users = relationship("User", back_populates="organization")',
    '    feature_flags = relationship(',
    '        "FeatureFlag",',
    '        back_populates="organization",',
    '        cascade="all, delete-orphan",',
    '    )',
    '',
  ].join('\n'),
  'backend/app/models/user.py': [
    'from sqlalchemy import Column, ForeignKey, Integer, String',
    'from sqlalchemy.orm import relationship',
    '',
    'from app.models.base import Base',
    '',
    '',
    'class User(Base):',
    '    __tablename__ = "users"',
    '',
    '    id = Column(Integer, primary_key=True)',
    '    email = Column(String(320), nullable=False, unique=True)',
    '    organization_id = Column(Integer, ForeignKey("organizations.id"))',
    '',
    '    organization = relationship("Organization", back_populates="users")',
    '',
  ].join('\n'),
  // The job: Cloud Run style structured logs on stdout; an exception also leaves its traceback on stderr.
  'backend/worker.py': [
    'import json',
    'import sys',
    '',
    'from sqlalchemy import create_engine',
    'from sqlalchemy.orm import Session',
    '',
    'from app.models import Base, Organization, User',
    '',
    '',
    'def log(severity, message):',
    '    print(json.dumps({"severity": severity, "message": message}), flush=True)',
    '',
    '',
    'def main():',
    '    log("INFO", "content-worker: starting")',
    '    engine = create_engine("sqlite://")',
    '    Base.metadata.create_all(engine)',
    '    with Session(engine) as session:',
    '        org = Organization(name="Acme")',
    '        user = User(email="ada@example.com")',
    '        session.add_all([org, user])',
    '        user.organization = org',
    '        session.commit()',
    '        count = session.query(User).count()',
    '    log("INFO", f"content-worker: processed {count} user(s)")',
    '',
    '',
    'if __name__ == "__main__":',
    '    try:',
    '        main()',
    '    except Exception as exc:',
    '        log("ERROR", f"content-worker failed: {type(exc).__module__}.{type(exc).__name__}: {exc}")',
    '        raise',
    '',
  ].join('\n'),
  'backend/Dockerfile': 'FROM python:3.11-slim\nRUN pip install --no-cache-dir "sqlalchemy>=1.4,<3"\nWORKDIR /app\nCOPY . .\nCMD ["python", "worker.py"]\n',
  'backend/cloudbuild.yaml': [
    'steps:',
    '  - name: gcr.io/cloud-builders/docker',
    '    args: [build, -t, us-central1-docker.pkg.dev/$PROJECT_ID/services/content-worker:$BUILD_ID, .]',
    'images:',
    '  - us-central1-docker.pkg.dev/$PROJECT_ID/services/content-worker:$BUILD_ID',
    'options:',
    '  logging: CLOUD_LOGGING_ONLY',
    '',
  ].join('\n'),
};

export interface SampleService {
  /** the bare repository playing the remote (what runs clone and push to) */
  remote: string;
  /** the history's head on main */
  head: string;
  target: Target;
}

/**
 * A variant where fixing Organization does not cure the job: the worker also imports a reports model (outside
 * app/models, so the models' check never sees it) whose relationship names a class that does not exist either.
 */
export const SECOND_BROKEN_MODEL: Record<string, string> = {
  'backend/app/reports.py': [
    'from sqlalchemy import Column, ForeignKey, Integer',
    'from sqlalchemy.orm import relationship',
    '',
    'from app.models.base import Base',
    '',
    '',
    'class Report(Base):',
    '    __tablename__ = "reports"',
    '',
    '    id = Column(Integer, primary_key=True)',
    '    organization_id = Column(Integer, ForeignKey("organizations.id"))',
    '    auditor = relationship("Auditor")',
    '',
  ].join('\n'),
};

/**
 * A service's history as one commit on main, published to a bare repository `<root>/<name>.git` (the remote runs
 * clone and push to) from a scratch clone `<root>/seed`. `root` must be empty or absent.
 */
export async function publishRepo(root: string, name: string, files: Record<string, string>, message: string): Promise<{ remote: string; head: string }> {
  const remote = path.join(root, `${name}.git`);
  const seed = path.join(root, 'seed');
  mkdirSync(remote, { recursive: true });
  mkdirSync(seed, { recursive: true });
  await simpleGit(remote).init(true, ['--initial-branch=main']);
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(seed, rel)), { recursive: true });
    writeFileSync(path.join(seed, rel), text);
  }
  const g = simpleGit(seed);
  await g.init(['--initial-branch=main']);
  await g.addConfig('user.name', 'Dev').addConfig('user.email', 'dev@example.com');
  await g.add(['-A']);
  await g.commit(message);
  await g.addRemote('origin', remote);
  await g.push('origin', 'main');
  return { remote, head: (await g.revparse(['HEAD'])).trim() };
}

export type SampleVariant = 'seed' | 'second-broken-model';

/** Create the sample service under `root` (which must be empty or absent). */
export async function createSampleService(root: string, opts: { name?: string; python?: string; variant?: SampleVariant } = {}): Promise<SampleService> {
  const name = opts.name ?? 'content-worker';
  const python = opts.python ?? '/usr/bin/python3';
  const files = { ...SAMPLE_FILES };
  if (opts.variant === 'second-broken-model') {
    Object.assign(files, SECOND_BROKEN_MODEL);
    files['backend/worker.py'] = files['backend/worker.py']!.replace('from app.models import Base, Organization, User\n', 'from app.models import Base, Organization, User\nimport app.reports  # noqa: F401  (reports live outside app/models)\n');
  }
  const { remote, head } = await publishRepo(root, name, files, 'Add Organization model with feature flags');
  const target: Target = {
    name,
    repo: remote,
    branch: 'main',
    modelsDir: 'backend/app/models',
    platform: 'local',
    python,
    check: { command: [python, '-c', 'import app.models; from sqlalchemy.orm import configure_mappers; configure_mappers()'], cwd: 'backend' },
    local: { command: [python, 'worker.py'], workdir: 'backend', timeoutMs: 60_000 },
    gcp: { project: 'demo-project', region: 'us-central1', job: `dev-${name}`, buildConfig: 'backend/cloudbuild.yaml', repoUrl: `https://git.example.com/acme/${name}.git`, image: `us-central1-docker.pkg.dev/demo-project/services/${name}` },
    labels: { service: name },
  };
  return { remote, head, target };
}
