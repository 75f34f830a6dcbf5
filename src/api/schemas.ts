// JSON shapes of the runs API (also the OpenAPI components the dashboard builds on).
import type { RunRecord, StepEvent } from '../core/types.js';

const any = {} as const;
const stringMap = { type: 'object', additionalProperties: { type: 'string' } } as const;
const errorInfo = {
  type: 'object',
  properties: { message: { type: 'string' }, code: { type: 'string' }, retryable: { type: 'boolean' }, details: any },
} as const;

export const approvalSchema = {
  $id: 'ApprovalDecision',
  type: 'object',
  required: ['decision', 'actor', 'at'],
  properties: {
    decision: { type: 'string', enum: ['approved', 'rejected'] },
    actor: { type: 'string', description: 'API token name, slack:<user id>, auto-approve or system:timeout' },
    at: { type: 'string', format: 'date-time' },
    comment: { type: 'string' },
    choice: { type: 'string', description: 'the option picked (A/B/C) when the step offers options' },
  },
} as const;

export const stepStateSchema = {
  $id: 'StepState',
  type: 'object',
  required: ['status', 'visit', 'attempt'],
  properties: {
    status: { type: 'string', enum: ['pending', 'running', 'succeeded', 'failed', 'skipped', 'waiting'] },
    output: any,
    error: errorInfo,
    visit: { type: 'integer' },
    attempt: { type: 'integer' },
  },
} as const;

export const stepEventSchema = {
  $id: 'StepEvent',
  type: 'object',
  required: ['runId', 'step', 'kind', 'at'],
  properties: {
    id: { type: 'string', description: 'Redis stream id (ms-seq); SSE id; pass as after= to page' },
    runId: { type: 'string' },
    step: { type: 'string', description: "step id ('' for run-level events)" },
    kind: { type: 'string', enum: ['started', 'succeeded', 'failed', 'skipped', 'waiting', 'approved', 'rejected', 'progress', 'run'] },
    visit: { type: 'integer' },
    attempt: { type: 'integer' },
    at: { type: 'string', format: 'date-time' },
    input: any,
    output: any,
    error: errorInfo,
    durationMs: { type: 'number' },
    actor: { type: 'string' },
    message: { type: 'string' },
  },
} as const;

const alertSchema = {
  type: 'object',
  properties: {
    source: { type: 'string' },
    fingerprint: { type: 'string' },
    severity: { type: 'string' },
    text: { type: 'string' },
    labels: stringMap,
    resource: { type: 'object', properties: { type: { type: 'string' }, labels: stringMap } },
    receivedAt: { type: 'string' },
  },
} as const;

const targetSummary = {
  type: 'object',
  properties: { name: { type: 'string' }, platform: { type: 'string' }, branch: { type: 'string' }, labels: stringMap },
} as const;

const summaryProps = {
  id: { type: 'string' },
  runbookId: { type: 'string' },
  runbookHash: { type: 'string' },
  status: { type: 'string', enum: ['queued', 'waiting_lock', 'running', 'waiting_approval', 'succeeded', 'failed', 'escalated', 'cancelled', 'refused'] },
  outcome: { type: 'string' },
  currentStep: { type: 'string' },
  waitingReason: { type: 'string' },
  createdAt: { type: 'string', format: 'date-time' },
  updatedAt: { type: 'string', format: 'date-time' },
  finishedAt: { type: 'string', format: 'date-time' },
  dryRun: { type: 'boolean' },
  autoApprove: { type: 'boolean' },
  alertCount: { type: 'integer', description: 'alerts attached to this run (dedup)' },
  lastSeenAt: { type: 'string', format: 'date-time' },
  target: targetSummary,
  alert: alertSchema,
  approval: { $ref: 'ApprovalDecision#' },
} as const;

export const runSummarySchema = {
  $id: 'RunSummary',
  type: 'object',
  required: ['id', 'runbookId', 'status', 'createdAt'],
  description: 'A run in lists (alert text clipped to 500 characters)',
  properties: summaryProps,
} as const;

export const runSchema = {
  $id: 'Run',
  type: 'object',
  required: ['id', 'runbookId', 'status', 'createdAt', 'steps'],
  properties: {
    ...summaryProps,
    inputs: { type: 'object', additionalProperties: true },
    steps: { type: 'object', additionalProperties: { $ref: 'StepState#' }, description: 'latest state of every step reached, by step id' },
    approvals: { type: 'array', items: { $ref: 'ApprovalDecision#' } },
  },
} as const;

export const apiSchemas = [approvalSchema, stepStateSchema, stepEventSchema, runSummarySchema, runSchema];

function targetOf(run: RunRecord) {
  return { name: run.target.name, platform: run.target.platform, branch: run.target.branch, labels: run.target.labels ?? {} };
}

/** A run for lists: no step detail, no target commands or env, alert text clipped. */
export function toSummary(run: RunRecord): Record<string, unknown> {
  return {
    id: run.id,
    runbookId: run.runbookId,
    runbookHash: run.runbookHash,
    status: run.status,
    outcome: run.outcome,
    currentStep: run.currentStep,
    waitingReason: run.waitingReason,
    createdAt: run.createdAt,
    updatedAt: run.updatedAt,
    finishedAt: run.finishedAt,
    dryRun: run.dryRun,
    autoApprove: run.autoApprove,
    alertCount: run.alertCount ?? 1,
    lastSeenAt: run.lastSeenAt,
    target: targetOf(run),
    alert: { ...run.alert, text: run.alert.text.length > 500 ? `${run.alert.text.slice(0, 499)}…` : run.alert.text, raw: undefined },
    approval: run.approval,
  };
}

/** A run with every step outcome (target reduced to what is safe to show). */
export function toRun(run: RunRecord): Record<string, unknown> {
  return { ...toSummary(run), alert: { ...run.alert, raw: undefined }, inputs: run.inputs, steps: run.steps, approvals: run.approvals ?? [] };
}

export type { StepEvent };
