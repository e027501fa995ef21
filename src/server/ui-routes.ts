import { isLoopbackHost } from '../loopback.js';
import { mayRead } from './auth.js';
import type { RequestContext, ServerDeps, UiDeps } from './route.js';
import { sendError, sendJson } from './respond.js';
import { mayAct, mayView, resolveAccess, type UiAccess } from './ui-access.js';
import { CONTENT_SECURITY_POLICY } from './ui-assets.js';
import { CLEARED_COOKIE, csrfMatches, sessionCookie, sessionIdFrom } from './ui-sessions.js';
import { forViewer } from './ui-state.js';
import { UI_ACTIONS, type UiAction, type UiState, type UiViewer } from './ui-types.js';

const ACTION_PREFIX = '/v1/ui/actions/';
const CLIENT_ID = /^\d{1,32}$/;
/** A login form carries one key; anything bigger is not ours. */
export const MAX_FORM_BYTES = 4096;

/** Everything the page needs to know about who is looking. */
function accessOf(deps: ServerDeps, ctx: RequestContext): UiAccess {
  const ui = deps.ui;
  const authorization = ctx.req.headers.authorization;
  const sessionId = sessionIdFrom(ctx.req.headers.cookie);
  const session = ui?.sessions.find(sessionId, deps.clock.now());
  return resolveAccess({
    keysConfigured: deps.keys.size > 0,
    loopback: isLoopbackHost(ctx.remote),
    bearer: authorization === undefined ? undefined : deps.keys.authenticate(authorization),
    session: session ? { session, key: deps.keys.byName(session.keyName) } : undefined,
  });
}

/**
 * The page's parts and the viewer's access for a read route, or undefined once the refusal is
 * sent: a process that serves no page answers 404, a viewer without access gets the page's 401/403.
 */
function readAccess(
  deps: ServerDeps,
  ctx: RequestContext,
): { ui: UiDeps; access: Extract<UiAccess, { ok: true }> } | undefined {
  const ui = deps.ui;
  if (!ui) {
    sendError(ctx.res, 404, 'not-found', 'the status page is not served by this process');
    return undefined;
  }
  const access = accessOf(deps, ctx);
  ctx.logFields.keyName = access.ok && access.via !== 'anonymous' ? access.key.name : 'anonymous';
  if (!access.ok) {
    sendError(ctx.res, access.status, access.error, access.message);
    return undefined;
  }
  return { ui, access };
}

function viewerOf(deps: ServerDeps, access: UiAccess): UiViewer {
  if (!access.ok) return { name: null, canAct: [], loginRequired: true };
  const ids = deps.provider.statuses().map((s) => s.clientId);
  return {
    name: access.via === 'anonymous' ? null : access.key.name,
    canAct: ids.filter((id) => mayAct(access, id)),
    ...(access.via === 'cookie' ? { csrf: access.session.csrf } : {}),
    loginRequired: false,
  };
}

function stateFor(deps: ServerDeps, access: UiAccess): (snapshot: Omit<UiState, 'viewer'>) => UiState {
  const viewer = viewerOf(deps, access);
  return (snapshot) => forViewer(snapshot, viewer, (id) => mayView(access, id));
}

/** The HTML, CSS and script: public (they hold no data), so the login form can load. */
export function serveAsset(deps: ServerDeps, ctx: RequestContext): void {
  const asset = deps.ui?.assets.get(ctx.url.pathname);
  if (!asset) {
    sendError(ctx.res, 404, 'not-found', deps.ui?.problem ?? 'the status page is not served by this process');
    return;
  }
  const headers = {
    'content-type': asset.contentType,
    'content-security-policy': CONTENT_SECURITY_POLICY,
    'x-content-type-options': 'nosniff',
    'x-frame-options': 'DENY',
    // same-origin, not no-referrer: with no-referrer Chrome sends "Origin: null" on our own form POSTs.
    'referrer-policy': 'same-origin',
    'cache-control': 'no-cache',
    etag: asset.etag,
  };
  if (ctx.req.headers['if-none-match'] === asset.etag) {
    ctx.res.writeHead(304, headers);
    ctx.res.end();
    return;
  }
  ctx.res.writeHead(200, { ...headers, 'content-length': asset.body.length });
  ctx.res.end(asset.body);
}

/** GET /v1/ui/state: the page's data, cut to what the viewer may see. A 401 tells the page to show its login form. */
export async function serveUiState(deps: ServerDeps, ctx: RequestContext): Promise<void> {
  const read = readAccess(deps, ctx);
  if (!read) return;
  const { ui, access } = read;
  sendJson(ctx.res, 200, stateFor(deps, access)(await ui.snapshot()));
}

/** GET /v1/ui/events: server-sent `state` events, one at once and one after every change. */
export function serveUiEvents(deps: ServerDeps, ctx: RequestContext): void | Promise<void> {
  const read = readAccess(deps, ctx);
  if (!read) return;
  const { ui, access } = read;
  if (!ui.events.open(ctx.res, stateFor(deps, access))) {
    sendError(ctx.res, 503, 'busy', 'too many status pages are open — retry shortly', { 'retry-after': 5 });
    return;
  }
  // Held until the page goes away or the server closes; the handler tracks the response, not this function.
  return new Promise<void>((resolve) => ctx.res.once('close', () => resolve()));
}

/**
 * A POST from another site would carry a SameSite=Strict cookie only from our own pages,
 * and it cannot set x-csrf-token without CORS, which we never grant. The Origin check is the
 * second lock on the same door.
 */
function sameOrigin(ctx: RequestContext): boolean {
  const origin = ctx.req.headers.origin;
  if (origin === undefined) return true;
  const host = ctx.req.headers.host;
  // https too: a TLS proxy in front keeps the Host header but the browser's origin is https.
  return host !== undefined && (origin === `http://${host}` || origin === `https://${host}`);
}

/** POST /ui/login with a form field `key`: sets the session cookie, then back to the page. */
export function serveLogin(deps: ServerDeps, ctx: RequestContext, body: string): void {
  const ui = deps.ui;
  if (!ui) {
    sendError(ctx.res, 404, 'not-found', 'the status page is not served by this process');
    return;
  }
  if (!sameOrigin(ctx)) {
    sendError(ctx.res, 403, 'cross-origin', 'log in from the status page itself');
    return;
  }
  const presented = new URLSearchParams(body).get('key')?.trim() ?? '';
  const key = presented === '' ? undefined : deps.keys.find(presented);
  if (!key?.ui) {
    // Which of "unknown" or "not allowed the page" is not said: a guesser learns nothing.
    deps.log.warn({ remote: ctx.remote }, 'status page login refused');
    ctx.res.writeHead(303, { location: '/?login=refused', 'cache-control': 'no-store' });
    ctx.res.end();
    return;
  }
  const session = ui.sessions.create(key.name, deps.clock.now());
  ctx.logFields.keyName = key.name;
  deps.log.info({ keyName: key.name, remote: ctx.remote }, 'status page login');
  ctx.res.writeHead(303, { location: '/', 'set-cookie': sessionCookie(session), 'cache-control': 'no-store' });
  ctx.res.end();
}

export function serveLogout(deps: ServerDeps, ctx: RequestContext): void {
  if (!sameOrigin(ctx)) {
    sendError(ctx.res, 403, 'cross-origin', 'log out from the status page itself');
    return;
  }
  deps.ui?.sessions.end(sessionIdFrom(ctx.req.headers.cookie));
  ctx.res.writeHead(303, { location: '/', 'set-cookie': CLEARED_COOKIE, 'cache-control': 'no-store' });
  ctx.res.end();
}

/** The action in POST /v1/ui/actions/{clientId}/{action}, or undefined for any other path. */
export function parseActionPath(pathname: string): { clientId: string; action: UiAction } | undefined {
  if (!pathname.startsWith(ACTION_PREFIX)) return undefined;
  const [clientId, action, ...rest] = pathname.slice(ACTION_PREFIX.length).split('/');
  if (rest.length > 0 || clientId === undefined || !CLIENT_ID.test(clientId)) return undefined;
  const known = UI_ACTIONS.find((a) => a === action);
  return known ? { clientId, action: known } : undefined;
}

/**
 * The page's buttons. The command goes into the daemon's request queue, the same path as
 * `dhan-token-keeper renew`, so the page can do nothing the CLI could not.
 */
export async function serveAction(
  deps: ServerDeps,
  ctx: RequestContext,
  clientId: string,
  action: UiAction,
): Promise<void> {
  const ui = deps.ui;
  if (!ui) {
    sendError(ctx.res, 404, 'not-found', 'the status page is not served by this process');
    return;
  }
  const access = accessOf(deps, ctx);
  ctx.logFields.clientId = clientId;
  if (!access.ok) {
    sendError(ctx.res, access.status, access.error, access.message);
    return;
  }
  ctx.logFields.keyName = access.via === 'anonymous' ? 'anonymous' : access.key.name;
  if (!sameOrigin(ctx)) {
    sendError(ctx.res, 403, 'cross-origin', 'actions are taken from the status page itself');
    return;
  }
  if (access.via === 'cookie' && !csrfMatches(access.session, headerOf(ctx, 'x-csrf-token'))) {
    sendError(ctx.res, 403, 'csrf', 'reload the status page and try again');
    return;
  }
  if (access.via === 'anonymous') {
    sendError(
      ctx.res,
      403,
      'read-only',
      'the page is read-only without a key — configure server.apiKeys with ui: true and log in',
    );
    return;
  }
  if (!mayAct(access, clientId)) {
    deps.log.warn(
      { keyName: access.key.name, clientId, action },
      'status page action refused: key not allowed this client',
    );
    sendError(
      ctx.res,
      403,
      'forbidden',
      `API key "${access.key.name}" may not act on this account — list the client in its clients`,
    );
    return;
  }
  if (!deps.provider.isKnownClient(clientId) || !mayRead(access.key, clientId)) {
    sendError(ctx.res, 404, 'unknown-client', 'no account with this client id is configured');
    return;
  }
  deps.log.info({ keyName: access.key.name, clientId, action }, 'status page action');
  const outcome = await ui.source.submit(clientId, action);
  ui.events.changed();
  sendJson(ctx.res, outcome.ok ? 200 : 409, { ok: outcome.ok, message: outcome.message });
}

function headerOf(ctx: RequestContext, name: string): string | undefined {
  const value = ctx.req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}
