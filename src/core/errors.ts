// Typed errors. Every error that crosses a port or an action says whether trying again can help.

export class RunwrightError extends Error {
  readonly code: string;
  readonly retryable: boolean;
  readonly details?: unknown;
  constructor(message: string, opts: { code: string; retryable: boolean; details?: unknown; cause?: unknown }) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    this.code = opts.code;
    this.retryable = opts.retryable;
    this.details = opts.details;
  }
}

/** A transient failure (network, lock, 503): the step's retry policy applies. */
export class RetryableError extends RunwrightError {
  constructor(message: string, code = 'transient', details?: unknown, cause?: unknown) {
    super(message, { code, retryable: true, details, cause });
  }
}

/** A failure that will not change on retry (bad input, permission denied, not found). */
export class PermanentError extends RunwrightError {
  constructor(message: string, code = 'permanent', details?: unknown, cause?: unknown) {
    super(message, { code, retryable: false, details, cause });
  }
}

/** A step took longer than its timeout. Retryable by default: the policy decides. */
export class StepTimeoutError extends RunwrightError {
  constructor(step: string, ms: number) {
    super(`step '${step}' timed out after ${ms} ms`, { code: 'timeout', retryable: true });
  }
}

/** Input that fails validation: names the field (and for YAML the file and line). */
export class ValidationError extends RunwrightError {
  readonly issues: ValidationIssue[];
  constructor(issues: ValidationIssue[]) {
    super(issues.map(formatIssue).join('\n'), { code: 'validation', retryable: false, details: issues });
    this.issues = issues;
  }
}

export interface ValidationIssue {
  file?: string;
  line?: number;
  column?: number;
  step?: string;
  path?: string; // e.g. steps[3].next
  message: string;
}

export function formatIssue(i: ValidationIssue): string {
  const where = [i.file ?? '', i.line !== undefined ? `${i.line}` : '', i.column !== undefined ? `${i.column}` : '']
    .filter((x, idx) => x !== '' || idx === 0)
    .join(':');
  const step = i.step ? ` step '${i.step}'` : '';
  const path = i.path ? ` (${i.path})` : '';
  return `${where || '<input>'}:${step}${path} ${i.message}`;
}

export function isRetryable(err: unknown): boolean {
  if (err instanceof RunwrightError) return err.retryable;
  return true; // unknown errors: let the step policy decide (bounded attempts)
}

export function errorInfo(err: unknown): { message: string; code?: string; retryable?: boolean; details?: any } {
  if (err instanceof RunwrightError) {
    return { message: err.message, code: err.code, retryable: err.retryable, details: toJsonSafe(err.details) };
  }
  if (err instanceof Error) return { message: err.message, code: (err as any).code ? String((err as any).code) : undefined };
  return { message: String(err) };
}

function toJsonSafe(v: unknown): any {
  if (v === undefined) return undefined;
  try {
    return JSON.parse(JSON.stringify(v));
  } catch {
    return String(v);
  }
}
