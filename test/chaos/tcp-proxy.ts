// A loopback TCP proxy that can be taken down and brought back on the same port: while down, connections are
// refused (ECONNREFUSED) and open ones are cut — a service that is unreachable at the network level.
import net from 'node:net';
import type { AddressInfo } from 'node:net';

export class TcpProxy {
  private server?: net.Server;
  private readonly sockets = new Set<net.Socket>();
  port = 0;
  connections = 0;

  constructor(private readonly targetPort: number, private readonly targetHost = '127.0.0.1') {}

  async up(): Promise<this> {
    if (this.server) return this;
    const server = net.createServer((client) => {
      this.connections++;
      const upstream = net.connect(this.targetPort, this.targetHost);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
    return this;
  }

  async down(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    await new Promise<void>((r) => server.close(() => r()));
  }
}
