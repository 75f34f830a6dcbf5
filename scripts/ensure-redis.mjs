// If Redis is not answering at REDIS_URL and redis-server is installed, start a private one on a free port.
import net from 'node:net';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

function ping(url, ms = 1000) {
  const u = new URL(url);
  return new Promise((resolve) => {
    const s = net.connect({ host: u.hostname, port: Number(u.port || 6379) });
    const t = setTimeout(() => { s.destroy(); resolve(false); }, ms);
    s.on('connect', () => s.write('PING\r\n'));
    s.on('data', (d) => { clearTimeout(t); s.destroy(); resolve(String(d).startsWith('+PONG') || String(d).includes('NOAUTH')); });
    s.on('error', () => { clearTimeout(t); resolve(false); });
  });
}
function freePort() {
  return new Promise((resolve) => { const s = net.createServer(); s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); }); });
}
export async function ensureRedis() {
  const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  if (await ping(url)) return { url, stop: async () => {} };
  if (spawnSync('redis-server', ['--version']).status !== 0) {
    throw new Error(`Redis is not answering at ${url} and redis-server is not installed (apt-get install redis-server, or set REDIS_URL)`);
  }
  const port = await freePort();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'rw-redis-'));
  const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
  const priv = `redis://127.0.0.1:${port}`;
  for (let i = 0; i < 100 && !(await ping(priv, 200)); i++) await new Promise((r) => setTimeout(r, 50));
  process.stderr.write(`started a private redis-server at ${priv}\n`);
  return { url: priv, stop: async () => { proc.kill('SIGTERM'); await new Promise((r) => proc.on('close', r)); rmSync(dir, { recursive: true, force: true }); } };
}
