// Generic JSON alerts: { text, severity?, fingerprint?, labels?, resource?, runbook?, target?, inputs? }.
import type { Alert } from '../../core/types.js';
import { IntakeError, type Normalized, normSeverity, stableHash, stringRecord } from './common.js';

const stringMap = { type: 'object', additionalProperties: { type: 'string', maxLength: 1024 }, maxProperties: 64 } as const;

export const genericAlertSchema = {
  $id: 'GenericAlert',
  type: 'object',
  required: ['text'],
  additionalProperties: false,
  properties: {
    text: { type: 'string', minLength: 1, maxLength: 65536, description: 'What happened (matched against runbook rules).' },
    severity: { type: 'string', maxLength: 40, description: 'critical | error | warning | info (default warning)' },
    fingerprint: { type: 'string', minLength: 1, maxLength: 200, description: 'Same fingerprint while a run is active = same incident (default: hash of text and labels)' },
    source: { type: 'string', maxLength: 60, description: 'Free-form sender name, recorded in alert.labels.sender' },
    labels: stringMap,
    resource: { type: 'object', additionalProperties: false, properties: { type: { type: 'string', maxLength: 200 }, labels: stringMap } },
    runbook: { type: 'string', maxLength: 100, description: 'Force this runbook instead of matching' },
    target: { type: 'string', maxLength: 100, description: 'Force this target instead of matching by labels' },
    inputs: { type: 'object', maxProperties: 64, description: 'Runbook inputs for the run' },
  },
} as const;

export interface GenericBody {
  text: string;
  severity?: string;
  fingerprint?: string;
  source?: string;
  labels?: Record<string, string>;
  resource?: { type?: string; labels?: Record<string, string> };
  runbook?: string;
  target?: string;
  inputs?: Record<string, unknown>;
}

export function normalizeGeneric(body: GenericBody, receivedAt: string): Normalized {
  if (!body || typeof body !== 'object') throw new IntakeError('body', 'must be a JSON object');
  if (typeof body.text !== 'string' || !body.text.trim()) throw new IntakeError('text', 'is required (a non-empty string)');
  const labels = stringRecord(body.labels);
  if (body.source) labels.sender = body.source;
  const resource = body.resource ? { type: body.resource.type, labels: stringRecord(body.resource.labels) } : undefined;
  const alert: Alert = {
    source: 'generic',
    fingerprint: body.fingerprint ?? stableHash('generic', body.text, labels, resource ?? null),
    severity: normSeverity(body.severity),
    text: body.text,
    labels,
    ...(resource ? { resource } : {}),
    receivedAt,
  };
  return { alerts: [alert], skipped: [] };
}
