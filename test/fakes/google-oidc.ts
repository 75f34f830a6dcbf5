// Google's side of Pub/Sub push OIDC, on loopback: an RSA key pair we generate, the PEM certs endpoint
// google-auth-library fetches ({kid: pem}, cached by max-age), and RS256 ID tokens signed like Google's.
// With { alg: 'ES256' } it is Google IAP's side instead: a P-256 key, the same {kid: pem} endpoint (IAP's
// public_key URL) and ES256 x-goog-iap-jwt-assertion tokens (issuer https://cloud.google.com/iap).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';

const b64url = (v: Buffer | string) => Buffer.from(v).toString('base64url');

export class FakeGoogleCerts {
  readonly kid = 'test-kid-1';
  private readonly key: KeyObject;
  private readonly publicPem: string;
  private server?: http.Server;
  requests = 0;
  url = '';

  constructor(private readonly opts: { alg?: 'RS256' | 'ES256' } = {}) {
    const { privateKey, publicKey } = opts.alg === 'ES256' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('rsa', { modulusLength: 2048 });
    this.key = privateKey;
    this.publicPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  }

  async start(): Promise<this> {
    this.server = http.createServer((req, res) => {
      this.requests++;
      res.writeHead(200, { 'content-type': 'application/json; charset=UTF-8', 'cache-control': 'public, max-age=3600' });
      res.end(JSON.stringify({ [this.kid]: this.publicPem }));
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/oauth2/v1/certs`;
    return this;
  }

  /** An ID token as Pub/Sub push sends it (claims overridable; `key`/`kid` to sign with something else). */
  token(claims: Record<string, unknown>, opts: { key?: KeyObject; kid?: string } = {}): string {
    const now = Math.floor(Date.now() / 1000);
    const es = this.opts.alg === 'ES256';
    const header = { alg: es ? 'ES256' : 'RS256', typ: 'JWT', kid: opts.kid ?? this.kid };
    const payload = { iss: es ? 'https://cloud.google.com/iap' : 'https://accounts.google.com', iat: now, exp: now + (es ? 600 : 3600), sub: '1234567890', email_verified: true, ...claims };
    const data = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}`;
    const key = opts.key ?? this.key;
    return `${data}.${b64url(es ? sign('sha256', Buffer.from(data), { key, dsaEncoding: 'ieee-p1363' }) : sign('sha256', Buffer.from(data), key))}`;
  }

  async close(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server!.close(() => r()));
  }
}

export function otherKey(): KeyObject {
  return generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
}
