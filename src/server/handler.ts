import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { accessLog } from './access-log.js';
import { serveConsentCallback } from './consent-callback.js';
import type { RequestContext, Route, ServerDeps } from './route.js';
import { requestTarget, type RequestTarget } from './request-target.js';
import { serveHealth, serveMetrics, serveReady, serveStatus } from './info-routes.js';
import { readBody } from './read-body.js';
import { sendError } from './respond.js';
import { serveToken } from './token-route.js';
import {
  MAX_FORM_BYTES,
  parseActionPath,
  serveAction,
  serveAsset,
  serveLogin,
  serveLogout,
  serveUiEvents,
  serveUiState,
} from './ui-routes.js';

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

/** The client id of a token path, or undefined when the path is not one. */
function tokenClientId(pathname: string): string | undefined {
  if (!pathname.startsWith(TOKEN_PREFIX)) return undefined;
  const id = pathname.slice(TOKEN_PREFIX.length);
  return id !== '' && !id.includes('/') ? id : undefined;
}

/** The status page's POSTs: the only requests here that change anything, or carry a body (the login form). */
function postRoute(
  pathname: string,
): ((deps: ServerDeps, ctx: RequestContext, body: string) => void | Promise<void>) | undefined {
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

const CLOSE: Readonly<Record<string, string>> = { connection: 'close' };
const NONE: Readonly<Record<string, string>> = {};

/** Requests being answered; close() waits for them. */
export interface InFlight {
  begin(): void;
  end(): void;
}

/**
 * One request from arrival until its answer has left and its route has returned.
 *
 * Most answers (the token API, /healthz) are written before the route returns; their
 * bookkeeping runs at once, with no listener on the response. Only a route that is still
 * answering when it returns (a long-poll, a scrape, the page's events, a POST) gets a `close`
 * listener and counts as in flight. Nothing is added to Node's response objects: a property
 * of ours would split their hidden class under Node's own HTTP code.
 */
class Exchange implements RequestContext {
  readonly url: RequestTarget;
  readonly logFields: RequestContext['logFields'] = {};
  readonly started: number;
  /** Read now: once the socket is gone Node no longer knows it (the socket caches it, so this is cheap). */
  readonly remote: string;
  #abort: AbortController | undefined;
  #gone = false;
  /** Both must happen before the request stops counting as in flight. */
  #routeDone = false;
  #closed = false;

  constructor(
    readonly deps: ServerDeps,
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
  ) {
    this.started = deps.clock.now();
    this.url = requestTarget(req.url);
    this.remote = req.socket.remoteAddress ?? 'unknown';
  }

  /** Made on first use: only a long-poll or a consent callback waits long enough to need one. */
  get signal(): AbortSignal {
    this.#abort ??= new AbortController();
    if (this.#gone) this.#abort.abort();
    return this.#abort.signal;
  }

  /** The route handed its whole answer to the socket before returning: nothing is left to wait for. */
  answered(): void {
    this.record(false);
  }

  /** The route is still answering: track it until the response closes and the route returns. */
  track(pending: Promise<void>, inFlight: InFlight): void {
    inFlight.begin();
    this.res.on('close', () => {
      const aborted = !this.res.writableFinished;
      if (aborted) {
        this.#gone = true;
        this.#abort?.abort();
      }
      this.record(aborted);
      this.#closed = true;
      // Tracked until the answer has left, not just until the route returned, so close() can wait for it.
      if (this.#routeDone) inFlight.end();
    });
    const returned = (): void => {
      this.#routeDone = true;
      if (this.#closed) inFlight.end();
    };
    pending.then(returned, (err: unknown) => {
      this.deps.log.error({ err }, 'request handling failed');
      returned();
    });
  }

  private record(aborted: boolean): void {
    const { deps, req } = this;
    const { keyName, clientId, rejected } = this.logFields;
    deps.connections.end(req.socket, keyName !== undefined && keyName !== 'unknown' && rejected === undefined);
    if (rejected)
      deps.rejections.record(this.remote, rejected, {
        ...(keyName ? { keyName } : {}),
        ...(clientId ? { clientId } : {}),
      });
    accessLog(deps, this, deps.clock.now() - this.started, aborted);
  }
}

export function createHandler(deps: ServerDeps, isClosing: () => boolean, inFlight: InFlight): RequestListener {
  const log = deps.log;
  return (req: IncomingMessage, res: ServerResponse): void => {
    const exchange = new Exchange(deps, req, res);
    deps.connections.begin(req.socket);
    let pending: void | Promise<void> = undefined;
    try {
      pending = dispatch(deps, exchange, isClosing());
    } catch (err) {
      // Routes answer their own errors; this only keeps a bug from escaping the listener.
      log.error({ err }, 'request handling failed');
    }
    if (pending === undefined && res.writableEnded) exchange.answered();
    else exchange.track(pending ?? Promise.resolve(), inFlight);
  };
}

/** Returns a promise only when the route awaits something (a long-poll, the page's POSTs, a scrape). */
function dispatch(deps: ServerDeps, ctx: RequestContext, closing: boolean): void | Promise<void> {
  const { req, res } = ctx;
  if (closing) {
    sendError(res, 503, 'shutting-down', 'the keeper is stopping — retry shortly', {
      'retry-after': 1,
      connection: 'close',
    });
    return;
  }
  const pathname = ctx.url.pathname;
  const post = req.method === 'POST' ? postRoute(pathname) : undefined;
  if (post) return servePost(deps, ctx, post);
  const fixed = FIXED_ROUTES.get(pathname);
  const tokenId = fixed ? undefined : tokenClientId(pathname);
  const body = hasBody(req);
  const close = body ? CLOSE : NONE;
  if (!fixed && tokenId === undefined) {
    ctx.logFields.rejected = 'not-found';
    sendError(
      res,
      404,
      'not-found',
      'no such endpoint — see /v1/tokens/{clientId}, /v1/status, /metrics, /healthz, /readyz, / (status page)',
      close,
    );
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
    const pending = fixed ? fixed(deps, ctx) : serveToken(deps, ctx, tokenId!);
    return pending ? pending.catch((err: unknown) => failed(deps, ctx, err)) : undefined;
  } catch (err) {
    failed(deps, ctx, err);
    return;
  }
}

function failed(deps: ServerDeps, ctx: RequestContext, err: unknown): void {
  deps.log.error({ err, path: ctx.url.pathname }, 'request failed');
  // The cause stays in the log: an error from below might quote more than a consumer should see.
  sendError(ctx.res, 500, 'internal', 'the keeper could not answer — see its log');
}

async function servePost(
  deps: ServerDeps,
  ctx: RequestContext,
  handle: (deps: ServerDeps, ctx: RequestContext, body: string) => void | Promise<void>,
): Promise<void> {
  try {
    const body = await readBody(ctx.req, MAX_FORM_BYTES);
    if (body === undefined) {
      sendError(ctx.res, 413, 'body-too-large', `a form here is at most ${MAX_FORM_BYTES} bytes`, {
        connection: 'close',
      });
      return;
    }
    await handle(deps, ctx, body);
  } catch (err) {
    deps.log.error({ err, path: ctx.url.pathname }, 'request failed');
    sendError(ctx.res, 500, 'internal', 'the keeper could not answer — see its log');
  }
}
