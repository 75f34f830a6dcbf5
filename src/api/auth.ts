// Who is calling: API tokens with roles (viewer < approver < admin), per-source intake credentials
// (bearer token or HMAC-SHA256 of the raw body), and the Pub/Sub push OIDC token.
// Every comparison of a secret is constant-time; no secret is ever put in a log line or a response.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { OAuth2Client } from 'google-auth-library';
import type { Config } from '../config/config.js';

export type Role = 'viewer' | 'approver' | 'admin';
const RANK: Record<Role, number> = { viewer: 1, approver: 2, admin: 3 };

export interface Principal {
  name: string;
  role: Role;
  groups: string[];
}

export function roleAllows(have: Role, need: Role): boolean {
  return RANK[have] >= RANK[need];
}

function digest(s: string | Buffer): Buffer {
  return createHash('sha256').update(s).digest();
}

/** Equal-length digests compared in constant time (so neither length nor content leaks). */
export function safeEqual(a: string | Buffer, b: string | Buffer): boolean {
  return timingSafeEqual(digest(a), digest(b));
}

// Digests of configured secrets (intake source tokens), made once: only the side a request brings is hashed per call.
const secretDigests = new Map<string, Buffer>();
function secretDigest(secret: string): Buffer {
  let d = secretDigests.get(secret);
  if (!d) {
    if (secretDigests.size >= 256) secretDigests.clear();
    secretDigests.set(secret, (d = digest(secret)));
  }
  return d;
}

export class TokenAuth {
  private readonly entries: { digest: Buffer; principal: Principal }[];
  constructor(tokens: Config['api']['tokens']) {
    this.entries = tokens.map((t) => ({ digest: digest(t.token), principal: { name: t.name, role: t.role, groups: t.groups ?? [] } }));
  }
  get configured(): boolean {
    return this.entries.length > 0;
  }
  /** Looks at every entry whatever matches, so timing says nothing about which token is close. */
  authenticate(token: string | undefined): Principal | null {
    if (!token) return null;
    const d = digest(token);
    let found: Principal | null = null;
    for (const e of this.entries) if (timingSafeEqual(d, e.digest) && !found) found = e.principal;
    return found;
  }
  /** The holder of the token whose sha256 is `hex` (a session remembers only that), if it is still configured. */
  byDigest(hex: string): Principal | null {
    const d = Buffer.from(hex, 'hex');
    if (d.length !== 32) return null;
    let found: Principal | null = null;
    for (const e of this.entries) if (timingSafeEqual(d, e.digest) && !found) found = e.principal;
    return found;
  }
}

/** The bearer token of an Authorization header ("Bearer x"); for Basic, the password part. */
export function credentialFromAuthorization(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const sp = header.indexOf(' ');
  if (sp < 0) return undefined;
  const scheme = header.slice(0, sp).toLowerCase();
  const value = header.slice(sp + 1).trim();
  if (scheme === 'bearer') return value || undefined;
  if (scheme === 'basic') {
    const decoded = Buffer.from(value, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    return colon >= 0 ? decoded.slice(colon + 1) || undefined : undefined;
  }
  return undefined;
}

export const INTAKE_SIGNATURE_HEADER = 'x-runwright-signature';

export function intakeSignature(secret: string, rawBody: Buffer | string): string {
  return `sha256=${createHmac('sha256', secret).update(rawBody).digest('hex')}`;
}

export type CredentialCheck = { ok: true; via: 'token' | 'hmac' } | { ok: false; status: 401 | 403; reason: string };

/**
 * Per-source intake credential: a bearer token (Authorization: Bearer, Basic password, or for Cloud Monitoring's
 * token-auth webhooks the auth_token query parameter), or `X-Runwright-Signature: sha256=<hex HMAC of the raw body>`.
 */
export function checkSourceCredential(
  source: string,
  cfg: { token?: string; hmacSecret?: string } | undefined,
  req: { authorization?: string; signature?: string; queryToken?: string; rawBody: Buffer },
): CredentialCheck {
  if (!cfg || (!cfg.token && !cfg.hmacSecret)) {
    return { ok: false, status: 403, reason: `intake for source '${source}' is closed: no token or HMAC secret is configured for it` };
  }
  if (cfg.hmacSecret && req.signature) {
    if (safeEqual(req.signature, intakeSignature(cfg.hmacSecret, req.rawBody))) return { ok: true, via: 'hmac' };
    return { ok: false, status: 401, reason: `${INTAKE_SIGNATURE_HEADER} does not match the body` };
  }
  const given = credentialFromAuthorization(req.authorization) ?? req.queryToken;
  if (cfg.token && given) {
    if (timingSafeEqual(digest(given), secretDigest(cfg.token))) return { ok: true, via: 'token' };
    return { ok: false, status: 401, reason: `the credential for source '${source}' is wrong` };
  }
  const accepted = [cfg.token ? 'Authorization: Bearer <token>' : '', cfg.hmacSecret ? `${INTAKE_SIGNATURE_HEADER}: sha256=<hmac>` : ''].filter(Boolean).join(' or ');
  return { ok: false, status: 401, reason: `missing credential for source '${source}' (send ${accepted})` };
}

export type OidcCheck = { ok: true; email?: string; subject?: string } | { ok: false; status: 401 | 403; reason: string };

/** Verifies the OIDC token Pub/Sub push attaches (signature by Google's certs, issuer, expiry, audience, sender). */
export class PubSubOidcVerifier {
  private readonly client: OAuth2Client;
  constructor(private readonly cfg: Config['auth']['pubsub']) {
    this.client = new OAuth2Client(cfg.certsUrl ? { endpoints: { oauth2FederatedSignonPemCertsUrl: cfg.certsUrl } } : {});
  }
  get configured(): boolean {
    return !!this.cfg.audience;
  }
  async verify(authorization: string | undefined): Promise<OidcCheck> {
    if (!this.cfg.audience) return { ok: false, status: 403, reason: 'Pub/Sub intake is closed: no OIDC audience is configured (RUNWRIGHT_PUBSUB_AUDIENCE)' };
    const m = authorization ? /^Bearer\s+(\S+)$/i.exec(authorization) : null;
    if (!m) return { ok: false, status: 401, reason: 'missing OIDC token (Authorization: Bearer <id token>)' };
    let payload;
    try {
      const ticket = await this.client.verifyIdToken({ idToken: m[1]!, audience: this.cfg.audience });
      payload = ticket.getPayload();
    } catch (err) {
      return { ok: false, status: 401, reason: `OIDC token rejected: ${classifyOidcError(err)}` };
    }
    if (!payload) return { ok: false, status: 401, reason: 'OIDC token rejected: no payload' };
    if (this.cfg.serviceAccount) {
      if (payload.email !== this.cfg.serviceAccount || payload.email_verified !== true) {
        return { ok: false, status: 403, reason: 'OIDC token is not from the configured Pub/Sub service account' };
      }
    }
    return { ok: true, email: payload.email, subject: payload.sub };
  }
}

export const IAP_HEADER = 'x-goog-iap-jwt-assertion';
const IAP_ISSUER = 'https://cloud.google.com/iap';

/** Google IAP's signed header (ES256 JWT): signature by IAP's public keys, issuer, expiry, audience; the email. */
export class IapVerifier {
  private readonly client: OAuth2Client;
  private keys?: { at: number; pubkeys: Record<string, string> };
  constructor(private readonly cfg: Config['auth']['iap']) {
    this.client = new OAuth2Client(cfg.keysUrl ? { endpoints: { oauth2IapPublicKeyUrl: cfg.keysUrl } } : {});
  }
  get configured(): boolean {
    return !!this.cfg.audience;
  }
  async verify(assertion: string | undefined): Promise<OidcCheck> {
    if (!this.cfg.audience) return { ok: false, status: 403, reason: 'IAP sign-in is not configured (RUNWRIGHT_IAP_AUDIENCE)' };
    if (!assertion) return { ok: false, status: 401, reason: `missing ${IAP_HEADER}` };
    let payload;
    try {
      if (!this.keys || Date.now() - this.keys.at > 10 * 60_000) this.keys = { at: Date.now(), pubkeys: (await this.client.getIapPublicKeysAsync()).pubkeys as Record<string, string> };
      const ticket = await this.client.verifySignedJwtWithCertsAsync(assertion, this.keys.pubkeys, this.cfg.audience, [IAP_ISSUER]);
      payload = ticket.getPayload();
    } catch (err) {
      return { ok: false, status: 401, reason: `IAP assertion rejected: ${classifyOidcError(err)}` };
    }
    if (!payload?.email) return { ok: false, status: 401, reason: 'IAP assertion rejected: no email' };
    return { ok: true, email: payload.email, subject: payload.sub };
  }
}

/** A short reason without echoing the token or its payload (google-auth-library's messages can include both). */
function classifyOidcError(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  if (/audience|recipient/i.test(msg)) return 'wrong audience';
  if (/too late|expired/i.test(msg)) return 'expired';
  if (/too early/i.test(msg)) return 'not yet valid';
  if (/issuer/i.test(msg)) return 'wrong issuer';
  if (/signature/i.test(msg)) return 'bad signature';
  if (/pem|certificate|kid/i.test(msg)) return 'signed by an unknown key';
  if (/certs|fetch|request|ECONN/i.test(msg)) return 'could not fetch Google certificates';
  return 'invalid token';
}
