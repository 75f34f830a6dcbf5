// A worker process that runs one target command through LocalProcess.runTarget and waits: the test SIGKILLs it
// to show that the sandbox does not outlive its deadline when runwright itself is gone.
// argv: ROOT TIMEOUT_MS -- COMMAND...
import { LocalProcess } from '../../src/adapters/local/process.js';

const [root, timeoutMs, sep, ...argv] = process.argv.slice(2);
if (!root || !timeoutMs || sep !== '--' || argv.length === 0) throw new Error('usage: worker-proc.ts ROOT TIMEOUT_MS -- COMMAND...');
const target = { name: 'orphan', repo: '/nonexistent', branch: 'main', modelsDir: 'app', platform: 'local' as const, labels: {} };
await new LocalProcess().runTarget(argv, { root, cwd: root, target, timeoutMs: Number(timeoutMs) });
