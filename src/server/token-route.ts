import type { StoredToken } from '../tokens.js';
import { mayRead } from './auth.js';
import { authenticate } from './authenticate.js';
import type { RequestContext, ServerDeps } from './route.js';
import { parseTokenQuery, type TokenQuery } from './query.js';
import { sendEmpty, sendError, sendPreparedJson } from './respond.js';

const BUSY_RETRY_AFTER_S = 5;
const CLOSING_RETRY_AFTER_S = 1;
const CLIENT_ID = /^\d{1,32}$/;
const NO_QUERY = { ok: true, query: { after: undefined, waitSeconds: 0 } } as const;

/**
 * GET /v1/tokens/{clientId}[?after=FP][&wait=S]. Checks run auth → permission → existence,
 * so that neither a stranger nor a key limited to other accounts can learn which client
 * ids exist. A promise only for a long-poll: the usual answer is written before this returns.
 */
export function serveToken(deps: ServerDeps, ctx: RequestContext, rawClientId: string): void | Promise<void> {
  const key = authenticate(deps, ctx);
  if (!key) return;
  // Anything but digits cannot be a client id; keep it out of logs and the provider.
  const clientId = CLIENT_ID.test(rawClientId) ? rawClientId : '';
  ctx.logFields.clientId = clientId || 'invalid';
  if (!mayRead(key, clientId)) {
    ctx.logFields.rejected = 'forbidden';
    sendError(
      ctx.res,
      403,
      'forbidden',
      `API key "${key.name}" may not read this client's token — list the client in its clients`,
    );
    return;
  }
  if (!deps.provider.isKnownClient(clientId)) {
    ctx.logFields.rejected = 'unknown-client';
    sendError(ctx.res, 404, 'unknown-client', 'no account with this client id is configured');
    return;
  }
  // Most requests carry no query: skip building URLSearchParams for them.
  const parsed = ctx.url.search === '' ? NO_QUERY : parseTokenQuery(ctx.url.searchParams);
  if (!parsed.ok) {
    ctx.logFields.rejected = 'bad-request';
    sendError(ctx.res, 400, 'bad-request', parsed.message);
    return;
  }
  const { query } = parsed;
  if (needsCatchUp(deps, clientId, query.after)) {
    const caughtUp = deps.provider.catchUp?.(clientId);
    if (caughtUp !== undefined) return caughtUp.then(() => respond(deps, ctx, clientId, query));
  }
  return respond(deps, ctx, clientId, query);
}

function respond(deps: ServerDeps, ctx: RequestContext, clientId: string, query: TokenQuery): void | Promise<void> {
  if (query.waitSeconds === 0) {
    answer(deps, ctx, clientId, query, deps.provider.liveToken(clientId));
    return;
  }
  return longPoll(deps, ctx, clientId, query);
}

/** The consumer names a token that is not the one held here (see TokenProvider.catchUp). */
function needsCatchUp(deps: ServerDeps, clientId: string, after: string | undefined): boolean {
  if (after === undefined || after === '') return false;
  const token = deps.provider.liveToken(clientId);
  return token === undefined || deps.answers.for(token).fingerprint !== after;
}

/**
 * Parks until the live token differs from `after` or the wait runs out. The check and the
 * parking happen in one tick, so a swap between them cannot be missed.
 */
async function longPoll(deps: ServerDeps, ctx: RequestContext, clientId: string, query: TokenQuery): Promise<void> {
  if (!deps.polls.begin()) {
    sendError(ctx.res, 503, 'busy', 'too many consumers are waiting for a token — retry shortly', {
      'retry-after': BUSY_RETRY_AFTER_S,
    });
    return;
  }
  try {
    const deadline = deps.clock.now() + query.waitSeconds * 1000;
    for (;;) {
      const token = deps.provider.liveToken(clientId);
      if (token && deps.answers.for(token).fingerprint !== query.after) {
        answer(deps, ctx, clientId, query, token);
        return;
      }
      const left = deadline - deps.clock.now();
      if (left <= 0) break;
      const outcome = await deps.polls.wait(clientId, left, ctx.signal);
      if (outcome === 'aborted') return;
      if (outcome === 'closing') {
        sendError(ctx.res, 503, 'shutting-down', 'the keeper is stopping — retry shortly', {
          'retry-after': CLOSING_RETRY_AFTER_S,
          connection: 'close',
        });
        return;
      }
    }
    answer(deps, ctx, clientId, query, deps.provider.liveToken(clientId));
  } finally {
    deps.polls.end();
  }
}

function answer(
  deps: ServerDeps,
  ctx: RequestContext,
  clientId: string,
  query: TokenQuery,
  token: StoredToken | undefined,
): void {
  if (!token) {
    sendPreparedJson(ctx.res, deps.answers.noLiveToken(clientId), 503);
    return;
  }
  const prepared = deps.answers.for(token);
  if (query.after !== undefined && prepared.fingerprint === query.after) {
    sendEmpty(ctx.res, 304);
    return;
  }
  sendPreparedJson(ctx.res, prepared.body);
}
