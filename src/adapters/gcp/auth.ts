// How every Google client is built: the REST transport (HTTP/1.1 + JSON), the endpoint, and the credentials.
// Production: Application Default Credentials (on Cloud Run, the service's own service account through the
// metadata server; locally, `gcloud auth application-default login`). Tests: no credentials at all, with the
// endpoint pointed at a loopback fake that speaks the same REST protocol.
import { PassThroughClient } from 'google-auth-library';
import type { Config } from '../../config/config.js';

export type GcpSettings = Config['gcp'];
export type GcpApi = 'cloudbuild' | 'run' | 'logging';

/** An auth client that adds no credentials: only for fakes and emulators (gcp.auth = none). */
export function noCredentials(): PassThroughClient {
  return new PassThroughClient();
}

/**
 * Options for a Google API client constructor (CloudBuildClient, JobsClient, ExecutionsClient, Logging).
 * `fallback: true` selects the REST transport in google-gax; with auth = adc the client builds its own GoogleAuth
 * (Application Default Credentials, scope cloud-platform).
 */
export function clientOptions(s: GcpSettings, api: GcpApi, extra: Record<string, unknown> = {}): Record<string, any> {
  const ep = s.endpoints?.[api] ?? {};
  const o: Record<string, any> = { fallback: true, ...extra };
  const apiEndpoint = ep.apiEndpoint ?? s.apiEndpoint;
  const port = ep.port ?? s.port;
  if (apiEndpoint) o.apiEndpoint = apiEndpoint;
  if (port) o.port = port;
  if (s.protocol === 'http') o.protocol = 'http';
  // The clients bundle their own google-auth-library copies; they accept any AuthClient-shaped object.
  if (s.auth === 'none') o.auth = noCredentials();
  return o;
}
