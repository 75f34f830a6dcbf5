// Reads an alert for `runwright run --alert FILE|-`: JSON (an alert, a Cloud Logging entry) or plain text.
import { createHash } from 'node:crypto';
import type { Alert } from '../core/types.js';
import { pubsubData, structuredLogText } from '../core/log-entry.js';

export function alertFromText(content: string, source = 'cli'): Alert {
  const receivedAt = new Date().toISOString();
  const trimmed = content.trim();
  let text = trimmed;
  let labels: Record<string, string> = {};
  let severity = 'error';
  let resource: Alert['resource'];
  let fingerprint: string | undefined;
  let obj: any;
  if (trimmed.startsWith('{') || trimmed.startsWith('[')) {
    try {
      obj = JSON.parse(trimmed);
    } catch (e) {
      // "[ERROR] ..." is a plain-text log line; "{..." that does not parse is a broken JSON file
      if (trimmed.startsWith('{')) throw new Error(`alert file is not valid JSON: ${(e as Error).message}`);
    }
  }
  if (obj && typeof obj === 'object') {
    // A Pub/Sub push envelope is read as the LogEntry it carries, exactly as the HTTP intake reads it.
    const structured = structuredLogText(obj);
    const entry = (pubsubData(obj) as any) ?? obj;
    if (typeof obj.text === 'string') text = obj.text;
    else if (structured !== undefined) text = structured;
    else if (typeof obj.message === 'string') text = obj.message;
    if (entry !== obj && entry && typeof entry === 'object') obj = { ...entry, labels: { ...(entry.labels ?? {}) }, fingerprint: obj.message?.attributes?.fingerprint };
    labels = stringRecord(obj.labels);
    if (typeof obj.severity === 'string') severity = obj.severity.toLowerCase();
    if (obj.resource && typeof obj.resource === 'object') resource = { type: typeof obj.resource.type === 'string' ? obj.resource.type : undefined, labels: stringRecord(obj.resource.labels) };
    if (typeof obj.fingerprint === 'string') fingerprint = obj.fingerprint;
  }
  fingerprint ??= createHash('sha256').update(text).digest('hex').slice(0, 32);
  return { source, fingerprint, severity, text, labels, resource, receivedAt };
}

function stringRecord(v: unknown): Record<string, string> {
  if (!v || typeof v !== 'object') return {};
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(v)) if (typeof x === 'string' || typeof x === 'number' || typeof x === 'boolean') out[k] = String(x);
  return out;
}
