// A child process's JSON log lines (pino on stderr), kept as they come, and a way to await the first that matches.
import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

export interface LogLines {
  lines: any[];
  /** The first line (seen or still to come) that matches; rejects when the process exits first, if `exited` is given. */
  logLine(pred: (l: any) => boolean): Promise<any>;
}

export function logLines(child: ChildProcess, exited?: Promise<unknown>): LogLines {
  const lines: any[] = [];
  const waiters: { pred: (l: any) => boolean; resolve: (l: any) => void }[] = [];
  createInterface({ input: child.stderr! }).on('line', (s) => {
    let l: any;
    try {
      l = JSON.parse(s);
    } catch {
      l = { raw: s };
    }
    lines.push(l);
    for (const w of [...waiters]) if (w.pred(l)) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve(l);
    }
  });
  const logLine = (pred: (l: any) => boolean) => {
    const found = new Promise<any>((resolve) => {
      const hit = lines.find(pred);
      if (hit) resolve(hit);
      else waiters.push({ pred, resolve });
    });
    return exited ? Promise.race([found, exited.then(() => { throw new Error(`the process exited first: ${JSON.stringify(lines)}`); })]) : found;
  };
  return { lines, logLine };
}
