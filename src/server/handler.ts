import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { accessLog } from './access-log.js';
import { serveConsentCallback } from './consent-callback.js';
import type { RequestContext, Route, ServerDeps } from './route.js';
import { serveHealth, serveMetrics, serveReady, serveStatus } from './info-routes.js';
import { readBody } from './read-body.js';
import { sendError } from './respond.js';
import { serveToken } from './token-route.js';
import { MAX_FORM_BYTES, parseActionPath, serveAction, serveAsset, serveLogin, serveLogout, serveUiEvents, serveUiState } from './ui-routes.js';

const TOKEN_PREFIX = '/v1/tokens/';
const FIXED_ROUTES: ReadonlyMap<string, Route> = new Map<string, Route>([
  ['/healthz', serveHealth],
  ['/readyz', serveReady],
  ['/metrics', serveMetrics],
  ['/v1/status', serveStatus],
  ['/v1/consent/callback', serveConsentCallback],
  ['/', serveAsset],
  ['/ui/app.css', serveAsset],
  ['/ui/app.js', serveAsset],
  ['/favicon.ico', serveAsset],
  ['/v1/ui/state', serveUiState],
  ['/v1/ui/events', serveUiEvents],
]);

function route(pathname: string): Route | undefined {
  const fixed = FIXED_ROUTES.get(pathname);
  if (fixed) return fixed;
  if (pathname.startsWith(TOKEN_PREFIX)) {
    const id = pathname.slice(TOKEN_PREFIX.length);
    if (id !== '' && !id.includes('/')) return (deps, ctx) => serveToken(deps, ctx, id);
  }
  return undefined;
}

/** The status page's POSTs: the only requests here that change anything, or carry a body (the login form). */
function postRoute(pathname: string): ((deps: ServerDeps, ctx: RequestContext, body: string) => void | Promise<void>) | undefined {
  if (pathname === '/ui/login') return serveLogin;
  if (pathname === '/ui/logout') return (deps, ctx) => serveLogout(deps, ctx);
  const action = parseActionPath(pathname);
  if (action) return (deps, ctx) => serveAction(deps, ctx, action.clientId, action.action);
  return undefined;
}

/**
 * GET routes never read a request body: none takes one, and refusing it up front means a
 * client cannot make us buffer anything (the status page's POSTs read at most a small form). `connection: close` because the unread body would
 * otherwise be parsed as the next request.
 */
function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return (length !== undefined && length !== '0') || req.headers['transfer-encoding'] !== undefined;
}

export function createHandler(deps: ServerDeps, isClosing: () => boolean, track: (done: Promise<void>) => void): RequestListener {
  return (req: IncomingMessage, res: ServerResponse): void => {
    const started = deps.clock.now();
    let abort: AbortController | undefined;
    let gone = false;
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
      get signal(): AbortSignal {
        abort ??= new AbortController();
        if (gone) abort.abort();
        return abort.signal;
      },
      remote: req.socket.remoteAddress ?? 'unknown',
      logFields: {},
    };
    deps.connections.begin(req.socket);
    const done = new Promise<void>((resolve) => {
      res.once('close', () => {
        if (!res.writableFinished) {
          gone = true;
          abort?.abort();
        }
        const { keyName, clientId, rejected } = ctx.logFields;
        deps.connections.end(req.socket, keyName !== undefined && keyName !== 'unknown' && rejected === undefined);
        if (rejected) deps.rejections.record(ctx.remote, rejected, { ...(keyName ? { keyName } : {}), ...(clientId ? { clientId } : {}) });
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
  const post = req.method === 'POST' ? postRoute(ctx.url.pathname) : undefined;
  if (post) {
    await servePost(deps, ctx, post);
    return;
  }
  const handle = route(ctx.url.pathname);
  const body = hasBody(req);
  const close: Record<string, string> = body ? { connection: 'close' } : {};
  if (!handle) {
    ctx.logFields.rejected = 'not-found';
    sendError(res, 404, 'not-found', 'no such endpoint — see /v1/tokens/{clientId}, /v1/status, /metrics, /healthz, /readyz, / (status page)', close);
    return;
  }
  if (req.method !== 'GET') {
    ctx.logFields.rejected = 'bad-method';
    sendError(res, 405, 'method-not-allowed', 'only GET is served here', { allow: 'GET', ...close });
    return;
  }
  if (body) {
    ctx.logFields.rejected = 'body';
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

async function servePost(
  deps: ServerDeps,
  ctx: RequestContext,
  handle: (deps: ServerDeps, ctx: RequestContext, body: string) => void | Promise<void>,
): Promise<void> {
  try {
    const body = await readBody(ctx.req, MAX_FORM_BYTES);
    if (body === undefined) {
      sendError(ctx.res, 413, 'body-too-large', `a form here is at most ${MAX_FORM_BYTES} bytes`, { connection: 'close' });
      return;
    }
    await handle(deps, ctx, body);
  } catch (err) {
    deps.log.error({ err, path: ctx.url.pathname }, 'request failed');
    sendError(ctx.res, 500, 'internal', 'the keeper could not answer — see its log');
  }
}
