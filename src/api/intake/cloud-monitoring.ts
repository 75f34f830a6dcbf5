// Google Cloud Monitoring incident webhook (notification channel "webhook", schema version 1.2).
import type { Alert } from '../../core/types.js';
import { IntakeError, type Normalized, isoTime, joinText, normSeverity, stringRecord } from './common.js';

export const cloudMonitoringSchema = {
  $id: 'CloudMonitoringIncident',
  type: 'object',
  required: ['incident'],
  properties: {
    version: { type: 'string' },
    incident: {
      type: 'object',
      required: ['incident_id', 'state'],
      properties: {
        incident_id: { type: 'string', minLength: 1 },
        scoping_project_id: { type: 'string' },
        url: { type: 'string' },
        state: { type: 'string' },
        started_at: { type: ['integer', 'null'] },
        ended_at: { type: ['integer', 'null'] },
        summary: { type: 'string' },
        severity: { type: 'string' },
        policy_name: { type: 'string' },
        condition_name: { type: 'string' },
        resource_name: { type: 'string' },
        resource_display_name: { type: 'string' },
        resource: { type: 'object', properties: { type: { type: 'string' }, labels: { type: 'object' } } },
        metric: { type: 'object' },
        metadata: { type: 'object' },
        policy_user_labels: { type: 'object' },
        documentation: { type: ['string', 'object'] },
      },
    },
  },
} as const;

interface Incident {
  incident_id: string;
  scoping_project_id?: string;
  url?: string;
  state: string;
  started_at?: number | null;
  summary?: string;
  severity?: string;
  policy_name?: string;
  condition_name?: string;
  resource_name?: string;
  resource_display_name?: string;
  resource?: { type?: string; labels?: Record<string, unknown> };
  metric?: { type?: string; displayName?: string; labels?: Record<string, unknown> };
  metadata?: { system_labels?: Record<string, unknown>; user_labels?: Record<string, unknown> };
  policy_user_labels?: Record<string, unknown>;
  documentation?: string | { content?: string; subject?: string };
}
export interface CloudMonitoringBody { version?: string; incident: Incident }

export function normalizeCloudMonitoring(body: CloudMonitoringBody, receivedAt: string, source = 'cloud-monitoring'): Normalized {
  const inc = body?.incident;
  if (!inc || typeof inc !== 'object') throw new IntakeError('incident', 'is required');
  if (typeof inc.incident_id !== 'string' || !inc.incident_id) throw new IntakeError('incident.incident_id', 'is required');
  const fingerprint = `cm:${inc.incident_id}`;
  if (typeof inc.state === 'string' && inc.state.toLowerCase() === 'closed') {
    return { alerts: [], skipped: [{ fingerprint, reason: `incident ${inc.incident_id} is closed` }] };
  }
  const doc = typeof inc.documentation === 'string' ? inc.documentation : inc.documentation?.content;
  const docSubject = typeof inc.documentation === 'object' ? inc.documentation?.subject : undefined;
  const labels: Record<string, string> = {
    ...stringRecord(inc.metric?.labels),
    ...stringRecord(inc.metadata?.user_labels),
    ...stringRecord(inc.policy_user_labels),
  };
  if (inc.policy_name) labels.policy = inc.policy_name;
  if (inc.condition_name) labels.condition = inc.condition_name;
  if (inc.scoping_project_id) labels.project = inc.scoping_project_id;
  const alert: Alert = {
    source,
    fingerprint,
    severity: normSeverity(inc.severity),
    text: joinText([docSubject, inc.summary, doc, inc.condition_name, inc.policy_name]) || inc.incident_id,
    labels,
    resource: { type: inc.resource?.type, labels: stringRecord(inc.resource?.labels) },
    receivedAt,
    raw: { incident_id: inc.incident_id, url: inc.url, state: inc.state, startedAt: isoTime(inc.started_at) ?? null, resource_name: inc.resource_name ?? null },
  };
  return { alerts: [alert], skipped: [] };
}
