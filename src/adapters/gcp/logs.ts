// LogsPort on Cloud Logging (@google-cloud/logging getEntries, REST transport).
//
// The filter names the job's resource (resource.type="cloud_run_job", job_name, location), optionally the
// execution, the minimum severity, the runbook's text terms, and `timestamp >= since` — always set here, which
// also keeps the client from adding its default 24-hour window. Oldest first, one page at a time
// (autoPaginate off) until `limit` entries or no next page.
import { Logging } from '@google-cloud/logging';
import type { LogEntry, LogQuery, LogsPort } from '../../ports/index.js';
import type { Target } from '../../core/types.js';
import { buildLogFilter, normalizeSeverity, type JobScope } from '../log-filter.js';
import { clientOptions, type GcpSettings } from './auth.js';
import { gcpTarget } from './build.js';
import { callOptions, gcpError, isoTime } from './ops.js';

/** Cloud Run puts the execution's name in this entry label. */
export const EXECUTION_LABEL = 'run.googleapis.com/execution_name';
const MAX_ENTRIES = 1000;

export function cloudRunJobScope(target: Target): JobScope {
  const g = gcpTarget(target);
  return { resourceType: 'cloud_run_job', resourceLabels: { job_name: g.job, location: g.region }, executionLabel: EXECUTION_LABEL };
}

export class GcpLogs implements LogsPort {
  private clients = new Map<string, Logging>();
  constructor(private readonly s: GcpSettings) {}

  private api(project: string): Logging {
    let c = this.clients.get(project);
    if (!c) {
      c = new Logging(clientOptions(this.s, 'logging', { projectId: project }) as ConstructorParameters<typeof Logging>[0]);
      this.clients.set(project, c);
    }
    return c;
  }

  async close(): Promise<void> {
    for (const c of this.clients.values()) await c.loggingService.close();
    this.clients.clear();
  }

  async query(target: Target, q: LogQuery): Promise<{ entries: LogEntry[]; filter: string }> {
    const g = gcpTarget(target);
    // The entry label holds the execution's short id, not its resource name (projects/…/executions/<id>).
    const filter = buildLogFilter(cloudRunJobScope(target), { ...q, execution: q.execution?.split('/').pop() });
    const limit = Math.min(Math.max(1, q.limit ?? 100), MAX_ENTRIES);
    const logging = this.api(g.project);
    const entries: LogEntry[] = [];
    let request: Record<string, unknown> | null = { resourceNames: [`projects/${g.project}`], filter, orderBy: 'timestamp asc', pageSize: Math.min(limit, 1000) };
    try {
      while (request && entries.length < limit) {
        const [page, next] = (await logging.getEntries({ ...request, autoPaginate: false, gaxOptions: callOptions(this.s) } as any)) as unknown as [any[], Record<string, unknown> | null];
        for (const e of page) entries.push(toLogEntry(e));
        request = next && next.pageToken ? next : null;
      }
    } catch (e) {
      throw gcpError(e, `Cloud Logging entries.list for ${g.job}`, { filter });
    }
    return { entries: entries.slice(0, limit), filter };
  }
}

function toLogEntry(e: { metadata?: any; data?: unknown }): LogEntry {
  const md = e.metadata ?? {};
  const data = e.data;
  let text: string;
  if (typeof data === 'string') text = data;
  else if (data && typeof data === 'object' && typeof (data as { message?: unknown }).message === 'string') text = (data as { message: string }).message;
  else text = JSON.stringify(data ?? '');
  const labels: Record<string, string> = { ...(md.labels ?? {}) };
  if (md.logName) labels.logName = String(md.logName);
  return {
    timestamp: isoTime(md.timestamp) ?? new Date(0).toISOString(),
    severity: normalizeSeverity(md.severity),
    text,
    labels,
    execution: labels[EXECUTION_LABEL],
  };
}
