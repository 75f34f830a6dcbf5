// Imported first by the CLI (before bullmq, zod and the rest are evaluated). `serve --role worker` is a queue
// consumer that idles most of its life; V8 grows the young generation to its maximum (2 × 16 MB) during the
// start-up burst of loading modules and runbooks and then keeps those pages. With RUNWRIGHT_WORKER_HEAP=small (the
// default for the worker role) the young generation stays at its initial size: objects are promoted sooner, and
// an idle worker holds ~15 MB less. RUNWRIGHT_WORKER_HEAP=default keeps V8's own sizing (validated in
// src/config/config.ts with the rest of the configuration).
import v8 from 'node:v8';

const argv = process.argv;
const at = argv.indexOf('--role');
const role = at >= 0 ? argv[at + 1] : argv.find((a) => a.startsWith('--role='))?.slice('--role='.length);
if (argv.includes('serve') && role === 'worker' && (process.env.RUNWRIGHT_WORKER_HEAP ?? 'small') === 'small') {
  v8.setFlagsFromString('--semi-space-growth-factor=1');
}
