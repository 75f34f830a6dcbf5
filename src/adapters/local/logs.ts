// LogsPort for the local platform: the same filter semantics as Cloud Logging (src/adapters/log-filter.ts) over
// the job lines the local DeployPort captured in the shared platform directory.
import type { LogEntry, LogQuery, LogsPort } from '../../ports/index.js';
import type { Target } from '../../core/types.js';
import { buildLogFilter, entryMatcher, type JobScope } from '../log-filter.js';
import { LocalPlatform, LOCAL_EXECUTION_LABEL } from './platform.js';

export function localJobScope(target: Target): JobScope {
  return { resourceType: 'runwright_local_job', resourceLabels: { job_name: target.name }, executionLabel: LOCAL_EXECUTION_LABEL };
}

export class LocalLogs implements LogsPort {
  constructor(private readonly platformDir: string) {}

  async query(target: Target, q: LogQuery): Promise<{ entries: LogEntry[]; filter: string }> {
    const filter = buildLogFilter(localJobScope(target), q);
    const limit = Math.min(Math.max(1, q.limit ?? 100), 1000);
    const entries = new LocalPlatform(this.platformDir, target)
      .entries(q.execution)
      .filter(entryMatcher(q))
      .sort((a, b) => Date.parse(a.timestamp) - Date.parse(b.timestamp))
      .slice(0, limit);
    return { entries, filter };
  }
}
