// Prometheus Alertmanager webhook, payload version 4: one POST carries a group of alerts.
import type { Alert } from '../../core/types.js';
import { IntakeError, type Normalized, joinText, normSeverity, stableHash, stringRecord } from './common.js';

/** Label sets: at most 64 labels (Prometheus rules rarely carry 20), names and values of bounded size. */
const stringMap = { type: 'object', maxProperties: 64, propertyNames: { maxLength: 256 }, additionalProperties: { type: 'string', maxLength: 4096 } } as const;
/** Annotations are free text (descriptions, runbook links): more room per value, same count cap. */
const textMap = { type: 'object', maxProperties: 64, propertyNames: { maxLength: 256 }, additionalProperties: { type: 'string', maxLength: 16_384 } } as const;

export const alertmanagerSchema = {
  $id: 'AlertmanagerWebhook',
  type: 'object',
  required: ['version', 'status', 'alerts'],
  properties: {
    version: { type: 'string', const: '4' },
    groupKey: { type: 'string', maxLength: 4096 },
    truncatedAlerts: { type: 'integer' },
    status: { type: 'string', enum: ['firing', 'resolved'] },
    receiver: { type: 'string' },
    groupLabels: stringMap,
    commonLabels: stringMap,
    commonAnnotations: textMap,
    externalURL: { type: 'string' },
    alerts: {
      type: 'array',
      minItems: 1,
      maxItems: 1000,
      items: {
        type: 'object',
        required: ['status', 'labels'],
        properties: {
          status: { type: 'string', enum: ['firing', 'resolved'] },
          labels: stringMap,
          annotations: textMap,
          startsAt: { type: 'string' },
          endsAt: { type: 'string' },
          generatorURL: { type: 'string' },
          /** Alertmanager's own fingerprints are 16 hex digits. */
          fingerprint: { type: 'string', maxLength: 128 },
        },
      },
    },
  },
} as const;

interface AmAlert {
  status: 'firing' | 'resolved';
  labels: Record<string, string>;
  annotations?: Record<string, string>;
  startsAt?: string;
  endsAt?: string;
  generatorURL?: string;
  fingerprint?: string;
}
export interface AlertmanagerBody {
  version: string;
  status: string;
  groupKey?: string;
  receiver?: string;
  commonLabels?: Record<string, string>;
  commonAnnotations?: Record<string, string>;
  externalURL?: string;
  alerts: AmAlert[];
}

/** One Alert per firing alert of the group (the intake makes one run per group and target); resolved ones are reported as skipped. */
export function normalizeAlertmanager(body: AlertmanagerBody, receivedAt: string): Normalized {
  if (body?.version !== '4') throw new IntakeError('version', 'must be "4" (Alertmanager webhook payload version 4)');
  if (!Array.isArray(body.alerts) || body.alerts.length === 0) throw new IntakeError('alerts', 'must be a non-empty array');
  const out: Normalized = { alerts: [], skipped: [], ...(typeof body.groupKey === 'string' && body.groupKey ? { groupKey: body.groupKey } : {}) };
  body.alerts.forEach((a, i) => {
    if (!a || typeof a !== 'object' || !a.labels || typeof a.labels !== 'object') throw new IntakeError(`alerts[${i}].labels`, 'is required');
    const labels = { ...stringRecord(body.commonLabels), ...stringRecord(a.labels) };
    const annotations = { ...stringRecord(body.commonAnnotations), ...stringRecord(a.annotations) };
    const fingerprint = a.fingerprint || stableHash('alertmanager', labels);
    if (a.status !== 'firing') {
      out.skipped.push({ fingerprint, reason: `alert ${labels.alertname ?? fingerprint} is ${a.status}` });
      return;
    }
    const text = joinText([annotations.summary, annotations.description, annotations.message, labels.alertname]) || fingerprint;
    const resource = labels.job || labels.instance ? { type: 'prometheus_target', labels: stringRecord({ job: labels.job, instance: labels.instance }) } : undefined;
    const alert: Alert = {
      source: 'alertmanager',
      fingerprint,
      severity: normSeverity(labels.severity),
      text,
      labels,
      ...(resource ? { resource } : {}),
      receivedAt,
      raw: { ...a, groupKey: body.groupKey, receiver: body.receiver, externalURL: body.externalURL },
    };
    out.alerts.push(alert);
  });
  return out;
}
