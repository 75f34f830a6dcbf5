// runwright.targets.yaml: the services runwright may remediate. Validated with file/line messages.
import { readFileSync } from 'node:fs';
import { LineCounter, parseDocument } from 'yaml';
import { z } from 'zod';
import { ValidationError, type ValidationIssue } from '../core/errors.js';
import type { Alert, Target } from '../core/types.js';
import { forbiddenEnvName } from '../core/env-names.js';

const argv = z.array(z.string()).min(1, 'a command is a non-empty list of arguments (no shell)');

/** Variables handed to target code: literal values, never one of runwright's own names. */
const envRecord = z
  .record(z.string(), z.string())
  .superRefine((rec, ctx) => {
    for (const k of Object.keys(rec)) {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) ctx.addIssue({ code: 'custom', path: [k], message: 'not an environment variable name' });
      else if (forbiddenEnvName(k)) ctx.addIssue({ code: 'custom', path: [k], message: 'runwright never hands its own variables (RUNWRIGHT_*, SLACK_*, REDIS_URL, Google credentials) to target code' });
    }
  })
  .optional();

const repoFile = z.string().min(1).refine((p) => !p.startsWith('/') && !p.split(/[\\/]/).includes('..'), 'a path inside the repository');

const targetSchema = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'target names are letters, digits, _ . -'),
    repo: z.string().min(1),
    branch: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_./-]*$/, 'not a valid branch name').refine((b) => !b.includes('..'), 'not a valid branch name').default('main'),
    modelsDir: z.string().default('app/models'),
    platform: z.enum(['local', 'gcp']).default('local'),
    python: z.string().optional(),
    check: z.object({ command: argv, cwd: z.string().optional(), env: envRecord, timeoutMs: z.number().int().positive().optional() }).strict().optional(),
    local: z.object({ workdir: z.string().optional(), command: argv, build: argv.optional(), env: envRecord, timeoutMs: z.number().int().positive().optional() }).strict().optional(),
    gcp: z.object({ project: z.string().min(1), region: z.string().min(1), job: z.string().min(1), buildConfig: z.string().optional(), repoUrl: z.string().optional(), image: z.string().optional(), checkIn: z.enum(['image', 'worker']).optional() }).strict().optional(),
    runtime: z
      .object({
        python: z.string().refine((p) => p.startsWith('/'), 'runtime.python is an absolute path').optional(),
        requirements: repoFile.optional(),
        pyproject: repoFile.optional(),
        lock: repoFile.optional(),
        env: envRecord,
        network: z.enum(['none', 'host']).optional(),
        maxProcs: z.number().int().min(8).max(4096).optional(),
      })
      .strict()
      .refine((r) => !(r.requirements && r.pyproject), 'runtime: requirements or pyproject, not both')
      .optional(),
    settings: z.record(z.string(), z.any()).optional(),
    labels: z.record(z.string(), z.string()).default({}),
    approvers: z.array(z.string()).optional(),
  })
  .strict()
  .superRefine((t, ctx) => {
    if (t.platform === 'gcp' && !t.gcp) ctx.addIssue({ code: 'custom', path: ['gcp'], message: 'platform gcp needs a gcp: section (project, region, job)' });
    if (t.modelsDir.split(/[\\/]/).includes('..') || t.modelsDir.startsWith('/')) ctx.addIssue({ code: 'custom', path: ['modelsDir'], message: 'modelsDir must be a path inside the repository' });
  });

const fileSchema = z.object({ targets: z.array(targetSchema) }).strict();

export function parseTargets(source: string, file: string): Map<string, Target> {
  const lc = new LineCounter();
  const doc = parseDocument(source, { lineCounter: lc });
  const issues: ValidationIssue[] = [];
  for (const e of doc.errors) issues.push({ file, line: e.linePos?.[0]?.line, message: `YAML: ${e.message.split('\n')[0]}` });
  if (issues.length) throw new ValidationError(issues);
  const parsed = fileSchema.safeParse(doc.toJS());
  if (!parsed.success) {
    for (const i of parsed.error.issues) {
      const p = i.path.filter((x): x is string | number => typeof x === 'string' || typeof x === 'number');
      let line: number | undefined;
      for (let n = p.length; n >= 0 && line === undefined; n--) {
        const node = doc.getIn(p.slice(0, n), true) as { range?: [number] } | undefined;
        if (node?.range) line = lc.linePos(node.range[0]).line;
      }
      issues.push({ file, line, path: p.join('.'), message: i.message });
    }
    throw new ValidationError(issues);
  }
  const out = new Map<string, Target>();
  parsed.data.targets.forEach((t, i) => {
    if (out.has(t.name)) issues.push({ file, path: `targets.${i}.name`, message: `duplicate target '${t.name}'` });
    out.set(t.name, t as Target);
  });
  if (issues.length) throw new ValidationError(issues);
  return out;
}

export function loadTargets(file: string): Map<string, Target> {
  return parseTargets(readFileSync(file, 'utf8'), file);
}

/** Targets whose labels all match the alert's labels (alert labels first, then resource labels). */
export function matchTargets(targets: Iterable<Target>, alert: Alert): Target[] {
  const labels = { ...(alert.resource?.labels ?? {}), ...alert.labels };
  return [...targets].filter((t) => Object.keys(t.labels).length > 0 && Object.entries(t.labels).every(([k, v]) => labels[k] === v));
}
