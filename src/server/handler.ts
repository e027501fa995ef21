import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { RequestContext, Route, ServerDeps } from './context.js';
import { serveConsentCallback } from './consent-callback.js';
import { serveHealth, serveMetrics, serveReady, serveStatus } from './info-routes.js';
import { sendError } from './respond.js';
import { serveToken } from './token-route.js';

const TOKEN_PREFIX = '/v1/tokens/';
const FIXED_ROUTES: ReadonlyMap<string, Route> = new Map<string, Route>([
  ['/healthz', serveHealth],
  ['/readyz', serveReady],
  ['/metrics', serveMetrics],
  ['/v1/status', serveStatus],
  ['/v1/consent/callback', serveConsentCallback],
]);
// Paths end up in logs; a junk request must not make a junk-sized line.
const MAX_LOGGED_PATH = 200;

function route(pathname: string): Route | undefined {
  const fixed = FIXED_ROUTES.get(pathname);
  if (fixed) return fixed;
  if (pathname.startsWith(TOKEN_PREFIX)) {
    const id = pathname.slice(TOKEN_PREFIX.length);
    if (id !== '' && !id.includes('/')) return (deps, ctx) => serveToken(deps, ctx, id);
  }
  return undefined;
}

/**
 * We never read a request body: nothing here takes one, and refusing it up front means a
 * client cannot make us buffer anything. `connection: close` because the unread body would
 * otherwise be parsed as the next request.
 */
function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return (length !== undefined && length !== '0') || req.headers['transfer-encoding'] !== undefined;
}

export function createHandler(deps: ServerDeps, isClosing: () => boolean, track: (done: Promise<void>) => void): RequestListener {
  return (req: IncomingMessage, res: ServerResponse): void => {
    const started = deps.clock.now();
    const abort = new AbortController();
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://keeper.invalid');
    } catch {
      // Unparseable request targets are answered like any unknown path: 404.
      url = new URL('http://keeper.invalid/');
    }
    const ctx: RequestContext = {
      req,
      res,
      url,
      signal: abort.signal,
      remote: req.socket.remoteAddress ?? 'unknown',
      logFields: {},
    };
    const done = new Promise<void>((resolve) => {
      res.once('close', () => {
        if (!res.writableFinished) abort.abort();
        accessLog(deps, ctx, deps.clock.now() - started);
        resolve();
      });
    });
    // Tracked until the answer has left, not just until the route returned, so close() can wait for it.
    track(Promise.all([dispatch(deps, ctx, isClosing()), done]).then(() => undefined));
  };
}

async function dispatch(deps: ServerDeps, ctx: RequestContext, closing: boolean): Promise<void> {
  const { req, res } = ctx;
  if (closing) {
    sendError(res, 503, 'shutting-down', 'the keeper is stopping — retry shortly', { 'retry-after': 1, connection: 'close' });
    return;
  }
  const handle = route(ctx.url.pathname);
  const body = hasBody(req);
  const close: Record<string, string> = body ? { connection: 'close' } : {};
  if (!handle) {
    sendError(res, 404, 'not-found', 'no such endpoint — see /v1/tokens/{clientId}, /v1/status, /metrics, /healthz, /readyz', close);
    return;
  }
  if (req.method !== 'GET') {
    sendError(res, 405, 'method-not-allowed', 'only GET is served here', { allow: 'GET', ...close });
    return;
  }
  if (body) {
    sendError(res, 413, 'body-not-allowed', 'requests here carry no body', close);
    return;
  }
  try {
    await handle(deps, ctx);
  } catch (err) {
    deps.log.error({ err, path: ctx.url.pathname }, 'request failed');
    // The cause stays in the log: an error from below might quote more than a consumer should see.
    sendError(res, 500, 'internal', 'the keeper could not answer — see its log');
  }
}

/** Only the path and the long-poll's own parameters: other query text is the client's business. */
function accessLog(deps: ServerDeps, ctx: RequestContext, durationMs: number): void {
  if (!deps.log.isLevelEnabled('debug')) return;
  const params = ctx.url.searchParams;
  const after = params.get('after');
  const wait = params.get('wait');
  deps.log.debug(
    {
      method: ctx.req.method,
      path: ctx.url.pathname.slice(0, MAX_LOGGED_PATH),
      status: ctx.res.statusCode,
      durationMs,
      remote: ctx.remote,
      ...ctx.logFields,
      ...(after !== null ? { after: after.slice(0, 64) } : {}),
      ...(wait !== null ? { wait: wait.slice(0, 16) } : {}),
      ...(ctx.res.writableFinished ? {} : { aborted: true }),
    },
    'http request',
  );
}
