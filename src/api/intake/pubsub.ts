// Pub/Sub push: the envelope {message: {data (base64), attributes, messageId, publishTime}, subscription}.
// data holds a Cloud Logging LogEntry as a log sink publishes it (or a Cloud Monitoring incident when the
// notification channel is Pub/Sub).
import type { Alert } from '../../core/types.js';
import { logEntryText } from '../../core/log-entry.js';
import { IntakeError, type Normalized, normSeverity, stableHash, stringRecord } from './common.js';
import { normalizeCloudMonitoring, type CloudMonitoringBody } from './cloud-monitoring.js';

export const pubsubPushSchema = {
  $id: 'PubSubPush',
  type: 'object',
  required: ['message'],
  properties: {
    subscription: { type: 'string' },
    message: {
      type: 'object',
      required: ['data'],
      properties: {
        data: { type: 'string', minLength: 1 },
        attributes: { type: 'object', additionalProperties: { type: 'string' } },
        messageId: { type: 'string' },
        message_id: { type: 'string' },
        publishTime: { type: 'string' },
        publish_time: { type: 'string' },
      },
    },
  },
} as const;

export interface PubSubPushBody {
  subscription?: string;
  message: { data: string; attributes?: Record<string, string>; messageId?: string; message_id?: string; publishTime?: string };
}

interface LogEntry {
  logName?: string;
  insertId?: string;
  resource?: { type?: string; labels?: Record<string, unknown> };
  labels?: Record<string, unknown>;
  severity?: string;
  timestamp?: string;
  textPayload?: string;
  jsonPayload?: Record<string, unknown>;
  protoPayload?: Record<string, unknown>;
  trace?: string;
}

const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;

export function decodePubSubData(data: string): unknown {
  const compact = data.replace(/\s+/g, '');
  if (!BASE64.test(compact)) throw new IntakeError('message.data', 'is not base64');
  const text = Buffer.from(compact, 'base64').toString('utf8');
  try {
    return JSON.parse(text);
  } catch {
    throw new IntakeError('message.data', 'does not decode to JSON (expected a Cloud Logging LogEntry)');
  }
}

/** The text a person would read in a LogEntry: the one reader the CLI's --alert FILE uses too. */
export { logEntryText };

/** The line that names the error (for a Python traceback: the last non-empty line), numbers blanked. */
function errorSignature(text: string): string {
  const lines = text.split('\n').map((l) => l.trim()).filter(Boolean);
  const last = lines[lines.length - 1] ?? '';
  return last.replace(/0x[0-9a-f]+/gi, '0x#').replace(/\d+/g, '#').slice(0, 500);
}

export function normalizePubSub(body: PubSubPushBody, receivedAt: string): Normalized {
  if (!body?.message || typeof body.message !== 'object') throw new IntakeError('message', 'is required');
  if (typeof body.message.data !== 'string' || !body.message.data) throw new IntakeError('message.data', 'is required (base64)');
  const decoded = decodePubSubData(body.message.data);
  if (!decoded || typeof decoded !== 'object' || Array.isArray(decoded)) throw new IntakeError('message.data', 'must decode to a JSON object');
  if ('incident' in decoded) return normalizeCloudMonitoring(decoded as CloudMonitoringBody, receivedAt, 'pubsub');
  const entry = decoded as LogEntry;
  const text = logEntryText(entry);
  if (!text.trim()) throw new IntakeError('message.data', 'the LogEntry has no textPayload, jsonPayload or protoPayload');
  const resourceLabels = stringRecord(entry.resource?.labels);
  const labels = { ...stringRecord(entry.labels), ...resourceLabels };
  if (entry.logName) labels.logName = entry.logName;
  const attrs = stringRecord(body.message.attributes);
  const alert: Alert = {
    source: 'pubsub',
    fingerprint: attrs.fingerprint || stableHash('pubsub', entry.logName ?? '', entry.resource?.type ?? '', resourceLabels, errorSignature(text)),
    severity: normSeverity(entry.severity, 'error'),
    text,
    labels,
    resource: { type: entry.resource?.type, labels: resourceLabels },
    receivedAt,
    raw: {
      insertId: entry.insertId ?? null,
      logName: entry.logName ?? null,
      timestamp: entry.timestamp ?? null,
      trace: entry.trace ?? null,
      messageId: body.message.messageId ?? body.message.message_id ?? null,
      subscription: body.subscription ?? null,
    },
  };
  return { alerts: [alert], skipped: [] };
}
