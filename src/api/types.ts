// Request decorations used across the API routes.
import type { Principal } from './auth.js';
import type { TraceContext } from '../core/types.js';
import type {} from '@fastify/swagger';
import type {} from '@fastify/rate-limit';
import type {} from '@fastify/cookie';

declare module 'fastify' {
  interface FastifyRequest {
    /** The body exactly as received (JSON and form bodies): what HMACs and Slack signatures are computed over. */
    rawBody?: Buffer;
    /** The API token holder, once authenticated. */
    principal?: Principal;
    /** The run this request concerns, for the request's log lines. */
    runId?: string;
    /** The request's trace (traceparent / X-Cloud-Trace-Context), validated; runs created by it keep it. */
    trace?: TraceContext;
  }
  interface FastifyContextConfig {
    /** Minimum role for an API route (checked onRequest, before the body is read). */
    role?: 'viewer' | 'approver' | 'admin';
    /** Allow the dashboard session cookie (runwright_session) on read-only routes: EventSource cannot send headers. */
    cookieAuth?: boolean;
  }
}

export {};
