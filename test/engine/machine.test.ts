// The run lifecycle as a pure function (src/core/machine.ts), table-tested: each row is a runbook, a run state,
// one event, and the state, records and effects that must follow. No Redis, no workers: the function alone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseRunbook, type Runbook } from '../../src/core/runbook.js';
import { defaultRegistry } from '../../src/actions/index.js';
import { transition, type Effect, type MachineState, type RunEvent } from '../../src/core/machine.js';
import type { RunRecord, StepState } from '../../src/core/types.js';

const catalog = defaultRegistry().catalog();

function rb(steps: string): Runbook {
  return parseRunbook(`id: t\ntitle: t\nmatch: { any: [{ text: x }] }\ninputs:\n  n: { type: number, default: 1 }\nsteps:\n${steps}`, 't.yaml', catalog);
}

function state(over: { steps?: Record<string, StepState>; current?: string; visits?: Record<string, number>; status?: RunRecord['status'] } = {}): MachineState {
  const run: RunRecord = {
    id: 'rtest0000000000000000', runbookId: 't', runbookHash: 'h', alert: { source: 't', fingerprint: 'f', severity: 'error', text: 'x', labels: {}, receivedAt: '2026-01-01T00:00:00Z' },
    target: { name: 'svc', repo: '/r', branch: 'main', modelsDir: 'm', platform: 'local', labels: {} }, inputs: { n: 1 },
    status: over.status ?? 'running', createdAt: '2026-01-01T00:00:00Z', updatedAt: '2026-01-01T00:00:00Z', dryRun: false, autoApprove: false,
    steps: over.steps ?? {}, currentStep: over.current,
  };
  return { run, visits: over.visits ?? {} };
}

const BOOM = "{{ $error('boom') }}";
const kinds = (e: Effect[]) => e.map((x) => x.kind);
const END: Effect['kind'][] = ['release-lock', 'release-workspace'];

interface Row {
  name: string;
  runbook: string;
  state?: Parameters<typeof state>[0];
  event: RunEvent;
  status: RunRecord['status'];
  effects: Effect['kind'][];
  /** Next step for enqueue/park, or the end step. */
  at?: string;
  /** A step whose recorded state must be failed with an error matching this. */
  failed?: [string, RegExp];
  outcome?: RegExp;
}

const ok = (step: string, output: unknown = {}): RunEvent => ({ type: 'succeeded', step, visit: 1, attempt: 1, output: output as never });
const fail = (step: string, retryable: boolean, attempt = 1): RunEvent => ({ type: 'failed', step, visit: 1, attempt, error: { message: 'it broke', code: 'x', retryable }, retryable });

const rows: Row[] = [
  { name: 'start enters the first action step', runbook: '  - { id: a, action: noop, next: b }\n  - { id: b, end: succeeded }', event: { type: 'start' }, status: 'running', effects: ['enqueue'], at: 'a' },
  { name: 'start walks a switch to an end', runbook: "  - id: s\n    switch: [{ when: 'inputs.n = 1', next: e }, { next: a }]\n  - { id: a, action: noop }\n  - { id: e, end: escalated, outcome: 'n was {{ inputs.n }}' }", event: { type: 'start' }, status: 'escalated', effects: END, at: 'e', outcome: /^n was 1$/ },
  { name: 'start: a switch case that throws, with onError', runbook: `  - id: s\n    switch: [{ when: "$error('boom')", next: a }, { next: a }]\n    onError: e\n  - { id: a, action: noop }\n  - { id: e, end: escalated, outcome: "{{ steps.s.error.message }}" }`, event: { type: 'start' }, status: 'escalated', effects: END, at: 'e', failed: ['s', /switch case 1 \(when\).*boom/], outcome: /boom/ },
  { name: 'start: a switch case that throws, no onError: run failed', runbook: `  - id: s\n    switch: [{ when: "$error('boom')", next: a }, { next: a }]\n  - { id: a, action: noop }`, event: { type: 'start' }, status: 'failed', effects: END, at: 's', failed: ['s', /boom/], outcome: /step 's' failed: .*boom/ },
  { name: 'success follows the first true branch', runbook: "  - id: a\n    action: noop\n    branches: [{ when: 'output.x = 2', next: c }]\n    next: b\n  - { id: b, action: noop }\n  - { id: c, action: noop }", event: ok('a', { x: 2 }), status: 'running', effects: ['enqueue'], at: 'c' },
  { name: 'success without a branch taken goes to next', runbook: "  - id: a\n    action: noop\n    branches: [{ when: 'output.x = 2', next: c }]\n    next: b\n  - { id: b, action: noop }\n  - { id: c, action: noop }", event: ok('a', { x: 1 }), status: 'running', effects: ['enqueue'], at: 'b' },
  { name: 'success with no next ends the run succeeded', runbook: '  - { id: a, action: noop }', event: ok('a'), status: 'succeeded', effects: END },
  { name: 'a branch that throws after the action ran: failure of the step, through onError, never a re-run', runbook: `  - id: a\n    action: noop\n    branches: [{ when: "$error('boom')", next: b }]\n    next: b\n    onError: e\n  - { id: b, action: noop }\n  - { id: e, end: escalated }`, event: ok('a'), status: 'escalated', effects: END, at: 'e', failed: ['a', /branch 1 \(when\).*boom/] },
  { name: 'a branch that throws, retry policy or not, is not retried', runbook: `  - id: a\n    action: noop\n    retry: { attempts: 5 }\n    branches: [{ when: "1 + 'x'", next: b }]\n    next: b\n  - { id: b, action: noop }`, event: ok('a'), status: 'failed', effects: END, at: 'a', failed: ['a', /branch 1/] },
  { name: 'a retryable failure within the retry policy is retried later', runbook: '  - id: a\n    action: noop\n    retry: { attempts: 3, backoff: fixed, delay: 2s }\n    onError: e\n  - { id: e, end: escalated }', event: fail('a', true), status: 'running', effects: ['enqueue'], at: 'a' },
  { name: 'a retryable failure at the last attempt goes to onError', runbook: '  - id: a\n    action: noop\n    retry: { attempts: 3 }\n    onError: e\n  - { id: e, end: escalated }', event: fail('a', true, 3), status: 'escalated', effects: END, at: 'e', failed: ['a', /it broke/] },
  { name: 'a permanent failure without onError fails the run', runbook: '  - { id: a, action: noop }', event: fail('a', false), status: 'failed', effects: END, at: 'a', failed: ['a', /it broke/], outcome: /step 'a' failed: it broke/ },
  { name: 'an end outcome that throws: the end step fails, the run ends failed with the error', runbook: `  - { id: a, action: noop, next: e }\n  - { id: e, end: succeeded, outcome: "${BOOM}" }`, event: ok('a'), status: 'failed', effects: END, at: 'e', failed: ['e', /outcome.*boom/] },
  { name: 'onError whose end outcome throws: still an end, failed', runbook: `  - { id: a, action: noop, onError: e }\n  - { id: e, end: escalated, outcome: "${BOOM}" }`, event: fail('a', false), status: 'failed', effects: END, at: 'e', failed: ['e', /boom/] },
  { name: 'an approval parks with the rendered prompt', runbook: "  - { id: a, action: noop, next: ap }\n  - id: ap\n    approval: { prompt: 'ok {{ inputs.n }}?' }\n    next: b\n  - { id: b, action: noop }", event: ok('a'), status: 'waiting_approval', effects: ['park'], at: 'ap' },
  { name: 'an approval prompt that throws: the approval step fails, through onError', runbook: `  - { id: a, action: noop, next: ap }\n  - id: ap\n    approval: { prompt: "${BOOM}" }\n    next: b\n    onError: e\n  - { id: b, action: noop }\n  - { id: e, end: escalated }`, event: ok('a'), status: 'escalated', effects: END, at: 'e', failed: ['ap', /approval prompt.*boom/] },
  { name: 'approved: the branch on the choice', runbook: "  - id: ap\n    approval: { prompt: p, options: [A, B] }\n    branches: [{ when: \"approval.choice = 'B'\", next: b }]\n    next: a\n  - { id: a, action: noop }\n  - { id: b, action: noop }", state: { current: 'ap', status: 'waiting_approval', steps: { ap: { status: 'waiting', visit: 1, attempt: 1 } }, visits: { ap: 1 } }, event: { type: 'decided', decision: { decision: 'approved', actor: 'p', at: 't', choice: 'B' } }, status: 'running', effects: ['enqueue'], at: 'b' },
  { name: 'approved: a branch that throws fails the approval step, through onError', runbook: `  - id: ap\n    approval: { prompt: p }\n    branches: [{ when: "$error('boom')", next: a }]\n    next: a\n    onError: e\n  - { id: a, action: noop }\n  - { id: e, end: escalated }`, state: { current: 'ap', status: 'waiting_approval', steps: { ap: { status: 'waiting', visit: 1, attempt: 1 } }, visits: { ap: 1 } }, event: { type: 'decided', decision: { decision: 'approved', actor: 'p', at: 't' } }, status: 'escalated', effects: END, at: 'e', failed: ['ap', /boom/] },
  { name: 'rejected without onReject: failed', runbook: '  - id: ap\n    approval: { prompt: p }\n    next: a\n  - { id: a, action: noop }', state: { current: 'ap', status: 'waiting_approval', steps: { ap: { status: 'waiting', visit: 1, attempt: 1 } }, visits: { ap: 1 } }, event: { type: 'decided', decision: { decision: 'rejected', actor: 'p', at: 't', comment: 'no' } }, status: 'failed', effects: END, outcome: /rejected by p: no/ },
  { name: 'rejected with onReject', runbook: '  - id: ap\n    approval: { prompt: p }\n    next: a\n    onReject: e\n  - { id: a, action: noop }\n  - { id: e, end: escalated }', state: { current: 'ap', status: 'waiting_approval', steps: { ap: { status: 'waiting', visit: 1, attempt: 1 } }, visits: { ap: 1 } }, event: { type: 'decided', decision: { decision: 'rejected', actor: 'p', at: 't' } }, status: 'escalated', effects: END, at: 'e' },
  { name: 'a loop past maxVisits goes to onExhausted', runbook: '  - { id: a, action: noop, next: a, maxVisits: 2, onExhausted: e }\n  - { id: e, end: escalated }', state: { visits: { a: 2 } }, event: { type: 'succeeded', step: 'a', visit: 2, attempt: 1, output: {} }, status: 'escalated', effects: END, at: 'e' },
  { name: 'an outcome for a step the runbook does not have: failed', runbook: '  - { id: a, action: noop }', event: ok('zzz'), status: 'failed', effects: END, failed: ['zzz', /not in runbook/] },
];

for (const r of rows) {
  test(`machine: ${r.name}`, async () => {
    const t = await transition(rb(r.runbook), state(r.state), r.event);
    assert.equal(t.status, r.status);
    assert.equal(t.state.run.status, r.status);
    assert.deepEqual(kinds(t.effects), r.effects);
    if (r.at) assert.equal(t.target.kind === 'end' ? t.target.step : t.target.step, r.at);
    if (r.failed) {
      const [step, re] = r.failed;
      assert.equal(t.states[step]?.status, 'failed', `${step} recorded as failed: ${JSON.stringify(t.states)}`);
      assert.match(t.states[step]!.error!.message, re);
      assert.ok(t.events.some((e) => e.step === step && e.kind === 'failed' && re.test(e.error?.message ?? '')), 'a failed event carries the error');
    }
    if (r.outcome) {
      assert.equal(t.target.kind, 'end');
      assert.match((t.target as { outcome: string }).outcome, r.outcome);
    }
    // Every end records exactly one run event with its status; every other transition none.
    const runEvents = t.events.filter((e) => e.kind === 'run');
    assert.equal(runEvents.length, t.target.kind === 'end' ? 1 : 0);
  });
}

test('machine: a retry waits with the error visible and the next attempt number, after the policy delay', async () => {
  const t = await transition(rb('  - id: a\n    action: noop\n    retry: { attempts: 3, backoff: exponential, delay: 1s }'), state(), fail('a', true, 2));
  assert.deepEqual(t.effects, [{ kind: 'enqueue', step: 'a', visit: 1, attempt: 3, delayMs: 2000 }]);
  assert.equal(t.states.a?.status, 'pending');
  assert.equal(t.states.a?.error?.message, 'it broke');
});

test('machine: the transition does not change the state it was given', async () => {
  const s = state();
  const before = JSON.stringify(s);
  await transition(rb(`  - id: a\n    action: noop\n    next: a\n    maxVisits: 2\n    branches: [{ when: "$error('boom')", next: a }]`), s, ok('a'));
  assert.equal(JSON.stringify(s), before);
});
