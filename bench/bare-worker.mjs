// Baseline process for the parked-runs benchmark: plain Node with one raw BullMQ Worker (no-op processor) on the
// same Redis, nothing else. Reports { type: 'ready' } over IPC; stops on { type: 'stop' }.
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';

const connection = new Redis(process.env.REDIS_URL, { maxRetriesPerRequest: null });
const worker = new Worker('steps', async () => 'ok', { connection, prefix: `${process.env.BENCH_PREFIX}:q`, concurrency: 8 });
await worker.waitUntilReady();
process.send({ type: 'ready', pid: process.pid });
process.on('message', async (m) => {
  if (m?.type === 'stop') {
    await worker.close();
    connection.disconnect();
    process.disconnect();
  }
});
