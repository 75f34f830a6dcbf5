// The deploy half of the seed ("Deployment Steps" 3–5 and "Success Criteria") as runbook steps: after the fix is
// pushed, build exactly that commit, deploy and run the job, and verify its logs. runbooks/sqlalchemy-mapper-failure.yaml
// is owned by the SQLAlchemy runbook; until it carries these steps itself, the demo (and the end-to-end tests) append
// them after its `push` step. A runbook that already uses deploy.verify_logs is returned unchanged.
import YAML from 'yaml';

export const DEPLOY_TAIL_STEPS = [
  {
    id: 'build',
    description: 'Build exactly the pushed commit (a clean worktree locally, Cloud Build from the remote on gcp)',
    action: 'deploy.build',
    with: { sha: '{{ steps.push.output.sha }}' },
    retry: { attempts: 3, backoff: 'exponential', delay: '5s', maxDelay: '1m' },
    timeout: '45m',
    next: 'deploy',
    onError: 'escalate',
  },
  {
    id: 'deploy',
    description: "Point the job at the build, execute it and wait (a failed execution is recorded; verify judges it)",
    action: 'deploy.job',
    with: { build: '{{ steps.build.output }}' },
    retry: { attempts: 3, backoff: 'exponential', delay: '5s', maxDelay: '1m' },
    timeout: '45m',
    next: 'verify',
    onError: 'escalate',
  },
  {
    id: 'verify',
    description: 'No SQLAlchemy errors in the job logs since the deploy, and the execution succeeded',
    action: 'deploy.verify_logs',
    with: { deployment: '{{ steps.deploy.output }}', text: ['sqlalchemy'] },
    timeout: '10m',
    next: '__AFTER_PUSH__',
    onError: 'not_cured',
  },
  {
    id: 'not_cured',
    end: 'failed',
    outcome:
      "The fix {{ $substring(steps.push.output.sha, 0, 12) }} was built and deployed, but execution {{ steps.deploy.output.executionName }} " +
      "{{ steps.deploy.output.status }} and the logs still show SQLAlchemy errors: {{ steps.verify.error.message }}",
  },
];

/** `source` with the deploy steps after `push` (push → build → deploy → verify → push's old next), unless it has them. */
export function withDeployTail(source: string): { source: string; appended: boolean } {
  const doc = YAML.parse(source) as { steps: Array<Record<string, unknown>> };
  if (doc.steps.some((s) => s.action === 'deploy.verify_logs')) return { source, appended: false };
  const push = doc.steps.find((s) => s.id === 'push');
  if (!push) throw new Error('the runbook has no push step to deploy after');
  const after = String(push.next);
  push.next = 'build';
  const tail = DEPLOY_TAIL_STEPS.map((s) => (s.next === '__AFTER_PUSH__' ? { ...s, next: after } : s));
  const endAt = doc.steps.findIndex((s) => s.id === after);
  doc.steps.splice(endAt >= 0 ? endAt : doc.steps.length, 0, ...tail);
  return { source: YAML.stringify(doc, { lineWidth: 0 }), appended: true };
}
