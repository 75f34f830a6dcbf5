/**
 * deploy.verify_logs — the seed's "CRITICAL: validate NO errors": after the deploy, the job's logs must hold no
 * entry matching the runbook's text filter, and the execution must have succeeded.
 * gcp: Cloud Logging entries of the job (resource.type="cloud_run_job", job name, region) with timestamp ≥ the
 * deploy time; local: the same filter over the captured job lines. Queries repeat until the settle window after the
 * execution's end has passed (log ingestion lags); the first matching entry ends the wait.
 *
 * params
 *   deployment   deploy.job's output (executionName, status, startedAt, finishedAt?)
 *   text         terms, any of which marks an entry as an error (default ["sqlalchemy"]); matched as text, case-insensitive
 *   minSeverity  only entries at or above this severity (DEFAULT … EMERGENCY; default: any)
 *   scope        job (every execution of the job since the deploy; default) or execution (only this execution)
 *   settle       how long after the execution ended to keep looking (default 60s on gcp, 0 locally)
 *   limit        entries to fetch at most (default 50)
 * output (dry run, when deploy.job only planned the execution: nothing is queried)
 *   { dryRun: true, plan, executionName, count: 0, queries: 0 }
 * output (success)
 *   { ok: true, filter, since, executionName, executionStatus, entries: [], count: 0, queries }
 * failure (permanent, so the graph moves to onError): code logs_matched or execution_failed, with details
 *   { filter, since, executionName, executionStatus, entries: [{timestamp, severity, text, execution}], count }
 */
import { setTimeout as delay } from 'node:timers/promises';
import { z } from 'zod';
import { defineAction } from '../../core/action.js';
import { PermanentError } from '../../core/errors.js';
import type { LogEntry } from '../../ports/index.js';
import { SEVERITIES } from '../../adapters/log-filter.js';
import { DURATION, json, ms } from './lib/common.js';

const params = z.object({
  deployment: z.object({ executionName: z.string().min(1), status: z.enum(['succeeded', 'failed']), startedAt: z.string().min(1), finishedAt: z.string().optional() }).passthrough(),
  text: z.array(z.string().min(1).max(200)).max(20).default(['sqlalchemy']),
  minSeverity: z.enum(SEVERITIES).optional(),
  scope: z.enum(['job', 'execution']).default('job'),
  settle: DURATION.optional(),
  limit: z.number().int().min(1).max(1000).default(50),
});

export default defineAction({
  name: 'deploy.verify_logs',
  description: "Check the job's logs since the deploy: success = execution succeeded and zero entries match the filter",
  sideEffects: false,
  params,
  async run(p, ctx) {
    const d = p.deployment;
    if (ctx.run.dryRun && d.dryRun === true) {
      // deploy.job only planned its execution: there is nothing to verify, and saying "execution succeeded" (or
      // waiting out the settle window for logs of an execution that never ran) would be a false report.
      const severity = p.minSeverity ? ` at ${p.minSeverity} or above` : '';
      return json({ dryRun: true, plan: `Check the job's logs since the deploy for entries matching ${JSON.stringify(p.text)}${severity}, and that the execution succeeded (nothing was deployed, so nothing was queried)`, executionName: d.executionName, count: 0, queries: 0 });
    }
    const since = d.startedAt;
    const settleMs = ms(p.settle) ?? (ctx.target.platform === 'gcp' ? 60_000 : 0);
    const until = Date.parse(d.finishedAt ?? new Date().toISOString()) + settleMs;
    const q = { since, textFilter: p.text, minSeverity: p.minSeverity, execution: p.scope === 'execution' ? d.executionName : undefined, limit: p.limit };
    let entries: LogEntry[] = [];
    let filter = '';
    let queries = 0;
    for (;;) {
      ({ entries, filter } = await ctx.ports.logs.query(ctx.target, q, { signal: ctx.signal }));
      queries++;
      const left = until - Date.now();
      if (entries.length > 0 || left <= 0) break;
      await ctx.progress(`no matching log entries yet; looking again for ${Math.ceil(left / 1000)} s more`);
      await delay(Math.min(left, Math.max(250, Math.min(5_000, settleMs / 10))), undefined, { signal: ctx.signal });
    }
    const facts = { filter, since, executionName: d.executionName, executionStatus: d.status, count: entries.length, entries: entries.map((e) => ({ timestamp: e.timestamp, severity: e.severity, text: e.text, execution: e.execution ?? null })), queries };
    ctx.logger.info({ filter, count: entries.length, executionStatus: d.status }, 'logs verified');
    if (entries.length > 0) throw new PermanentError(`${entries.length} log entr${entries.length === 1 ? 'y' : 'ies'} since ${since} match ${JSON.stringify(p.text)}: ${entries[0]!.text.slice(0, 200)}`, 'logs_matched', json(facts));
    if (d.status !== 'succeeded') throw new PermanentError(`execution ${d.executionName} did not succeed (no matching log entries)`, 'execution_failed', json(facts));
    return json({ ok: true, ...facts });
  },
});
