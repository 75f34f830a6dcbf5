import { z } from 'zod';
import { defineAction } from '../../core/action.js';
import type { Json } from '../../core/types.js';
import { resolveInside } from '../../core/safe-path.js';
import { IN_CHECKOUT, checkoutDir, checkoutName } from '../lib/checkout.js';
import { readSqlalchemyError, type MapperRef } from './lib/error-text.js';
import { localisation, runCheckAndProbe } from './lib/probe.js';
import { analyseAhead, worktreeAt } from './lib/tool.js';
import { PY_IDENT } from './lib/types.js';
import { filesDefining } from './lib/uncovered.js';

const EXCEPTION_LINE = /^\s*(?:[A-Za-z_][\w.]*\.)?[A-Za-z_]\w*(?:Error|Exception|Warning|Exit)\b:?.*$/;

/** The line of the check's output that says what went wrong: the last exception line, else the last line. */
export function firstErrorLine(output: string): string {
  const lines = output.split('\n').map((l) => l.trimEnd()).filter((l) => l.trim());
  const exc = lines.filter((l) => EXCEPTION_LINE.test(l) && !/^\s*(File|Traceback)\b/.test(l));
  return (exc.pop() ?? lines.pop() ?? '').trim().slice(0, 500);
}

/**
 * The repo, not the alert, is the truth: run the target's check (e.g. import the models and configure_mappers())
 * in a clean worktree of the cloned head — its result decides healthy or failing — then the runtime probe
 * (python/sqla_probe.py, in the target's runtime, through the same runner as the check) says where SQLAlchemy
 * failed (mapper, property, exception, file:line) and what is mapped. The alert's mapper is kept only as a hint
 * when neither the check's output nor the probe names one.
 */
export default defineAction({
  name: 'sqlalchemy.confirm',
  description: "Run the target's check in a clean checkout, then probe the models in the target's runtime",
  sideEffects: false,
  changesCheckouts: 'made', // the check runs in the worktree this step makes; the run's clone is only read
  params: z.object({
    ...IN_CHECKOUT,
    head: z.string().regex(/^[0-9a-f]{40}$/),
    alertMapper: z.string().nullish(),
  }),
  async run(p, ctx) {
    const repo = await checkoutDir(ctx, p);
    const wt = await worktreeAt(ctx, repo, p.head, `base-${p.head.slice(0, 12)}`);
    resolveInside(wt, ctx.target.modelsDir); // a models folder leaving the repo is refused before any target code runs
    const short = p.head.slice(0, 12);
    await ctx.progress(`running the check of ${ctx.target.name} at ${short}, then probing its models in its runtime`);
    // The models' static analysis and the dry run of each fix (python/sqla_tool.py) of the head, on the other core
    // while the check runs: in the run's clone, where no target code runs, when it is exactly at the head. Kept in
    // the run's folder for sqlalchemy.inspect and plan_fix on this worker (elsewhere they ask the tool themselves).
    const ahead = analyseAhead(ctx, repo, p.head, checkoutName(ctx, wt)).catch((e: Error) => {
      ctx.logger.warn({ err: { message: e.message } }, 'no analysis ahead of inspect');
      return false;
    });
    let ran;
    try {
      ran = await runCheckAndProbe(ctx, wt);
    } finally {
      await ahead; // never left running past the step
    }
    const { check, probed } = ran;
    const probe = probed.ok ? probed.probe : null;
    const failure = !check.passed && probe?.failure ? probe.failure : null;
    const reading = check.passed ? null : readSqlalchemyError(check.output);
    // What SQLAlchemy raised, read from the check's output, else from the exception the probe caught.
    const probeReading = failure ? readSqlalchemyError(failure.message) : null;
    const hint = p.alertMapper && PY_IDENT.test(p.alertMapper) ? p.alertMapper : null;
    let mapper: MapperRef | null = reading?.mapper ?? null;
    let mapperFrom: 'check' | 'probe' | 'alert' | null = mapper ? 'check' : null;
    if (!mapper && failure?.mapper) [mapper, mapperFrom] = [{ class: failure.mapper.class, table: failure.mapper.table, wording: null }, 'probe'];
    // The alert's hint is kept only when the repo says nothing better (a terse check, no probe answer).
    if (!mapper && !check.passed && hint && !failure) [mapper, mapperFrom] = [{ class: hint, table: null, wording: null }, 'alert'];
    const cause = reading?.cause && reading.cause.kind !== 'unknown' ? reading.cause : (probeReading?.cause ?? reading?.cause ?? null);
    const agrees = check.passed || mapperFrom === 'alert' ? null : !hint || !mapper ? null : hint === mapper.class;
    const checkSaid = check.passed ? null : firstErrorLine(check.output);
    const where = failure ? localisation(failure) : null;
    const configureError = !check.passed && (failure?.phase === 'configure' || !!reading?.readable);
    const summary = check.passed
      ? `the check passes at ${short}: the repo is healthy`
      : `the check fails at ${short}: ${
          where
            ? `${failure!.phase === 'import' ? 'the models fail to import at' : 'SQLAlchemy fails configuring'} ${where}`
            : reading?.readable
              ? `mapper ${mapper?.class ?? '(not named)'}, cause ${cause?.kind ?? 'unknown'}`
              : `the models import and configure cleanly in the probe${probed.ok ? '' : ` (probe: ${probed.error})`}, so this is not a mapper error it can explain; the check said: ${checkSaid || '(nothing)'}`
        }${agrees === false ? ` (the alert said ${hint}; following the repo)` : ''}`;
    // A passing check is a stale alert only if the alert's mapper is not somewhere the check never looks: a class the
    // probe did not find mapped but the repo still defines (a module only the job imports) is a failure the check
    // cannot reproduce — a person decides, nothing is changed.
    const uncovered = check.passed && hint && probe?.mapped.complete && !probe.mapped.classes.includes(hint)
      ? await filesDefining(wt, hint).then((files) => (files.length ? { class: hint, definedIn: files } : null))
      : null;
    const summaryOut = uncovered
      ? `${summary}, but the alert's mapper ${hint} is defined in ${uncovered.definedIn.join(', ')}, which the check does not map: the check cannot reproduce the alert`
      : summary;
    ctx.logger.info({ passed: check.passed, mapper: mapper?.class, property: failure?.property, agrees, probe: probed.ok, uncovered: !!uncovered }, summaryOut);
    return {
      healthy: check.passed,
      checkout: checkoutName(ctx, wt),
      dir: wt, // deprecated (one release): this worker's path; later steps name `checkout`
      head: p.head,
      mapper,
      mapperFrom,
      cause,
      form: reading?.form ?? null,
      version: reading?.version ?? null,
      readable: check.passed ? null : !!(reading?.readable || failure),
      configureError,
      agreesWithAlert: agrees,
      failure: failure
        ? { mapper: failure.mapper?.class ?? null, property: failure.property, exceptionClass: failure.exceptionClass, message: failure.message, file: failure.file, line: failure.line, phase: failure.phase, declaredIn: failure.declaredIn ?? null, table: failure.mapper?.table ?? null, exceptionType: failure.exceptionType, attributes: failure.attributes }
        : null,
      localisation: where,
      mapped: probe ? probe.mapped : null,
      probe: probe
        ? { ok: true, sqlalchemy: probe.sqlalchemy, python: probe.python, package: probe.package, imported: probe.imported, configured: probe.configured, modules: probe.modules, notImported: probe.notImported, warnings: probe.warnings }
        : { ok: false, error: (probed as { error: string }).error },
      checkSaid,
      uncovered,
      summary: summaryOut,
      check,
    } as unknown as Json;
  },
});
