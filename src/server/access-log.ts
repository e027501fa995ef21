import type { RequestContext, ServerDeps } from './route.js';
import { FINGERPRINT, SECONDS } from './query.js';

const TOKEN_PREFIX = '/v1/tokens/';
const CLIENT_ID = /^\d{1,32}$/;
const FIXED_PATHS = new Set(['/healthz', '/readyz', '/metrics', '/v1/status']);

/**
 * The path as the route grammar reads it, never as sent: a client that puts its key in the
 * path (`/v1/tokens/<key>`) or anywhere else must not find it in a debug log. Known paths
 * appear as they are; a token path keeps its client id only when it is digits.
 */
export function loggablePath(pathname: string): string {
  if (FIXED_PATHS.has(pathname)) return pathname;
  if (pathname.startsWith(TOKEN_PREFIX)) {
    const id = pathname.slice(TOKEN_PREFIX.length);
    return CLIENT_ID.test(id) ? pathname : `${TOKEN_PREFIX}(invalid)`;
  }
  return '(unknown)';
}

/** Only the long-poll's own parameters, and only in their well-formed shape. */
export function loggableQuery(params: URLSearchParams): { after?: string; wait?: string } {
  const after = params.get('after');
  const wait = params.get('wait');
  return {
    ...(after !== null ? { after: after === '' || FINGERPRINT.test(after) ? after : '(invalid)' } : {}),
    ...(wait !== null ? { wait: SECONDS.test(wait) ? wait : '(invalid)' } : {}),
  };
}

export function accessLog(deps: ServerDeps, ctx: RequestContext, durationMs: number, aborted: boolean): void {
  if (!deps.log.isLevelEnabled('debug')) return;
  deps.log.debug(
    {
      method: /^[A-Z]{1,16}$/.test(ctx.req.method ?? '') ? ctx.req.method : '(invalid)',
      path: loggablePath(ctx.url.pathname),
      status: ctx.res.statusCode,
      durationMs,
      remote: ctx.remote,
      ...ctx.logFields,
      ...loggableQuery(ctx.url.searchParams),
      ...(aborted ? { aborted: true } : {}),
    },
    'http request',
  );
}
