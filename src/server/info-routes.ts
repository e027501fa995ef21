import { mayRead } from './auth.js';
import { authenticate } from './authenticate.js';
import type { RequestContext, ServerDeps } from './route.js';
import { preparedJson, sendError, sendJson, sendPreparedJson, sendText } from './respond.js';

/** Liveness only: the process answers HTTP. Readiness is /readyz. */
export function serveHealth(_deps: ServerDeps, ctx: RequestContext): void {
  sendPreparedJson(ctx.res, HEALTHY);
}

// Probed every few seconds by orchestrators: the same bytes every time.
const HEALTHY = preparedJson(JSON.stringify({ status: 'ok' }));

/** Unauthenticated (orchestrators probe it without keys), so notReady must stay free of secrets. */
export function serveReady(deps: ServerDeps, ctx: RequestContext): void {
  const { ready, notReady } = deps.provider.readiness();
  if (ready) sendJson(ctx.res, 200, { status: 'ready' });
  else sendJson(ctx.res, 503, { status: 'not-ready', notReady });
}

/**
 * Any valid key may ask, but sees only the accounts it may read tokens of: a bot's key
 * has no business learning which other accounts this keeper manages. Never a token.
 */
export function serveStatus(deps: ServerDeps, ctx: RequestContext): void {
  const key = authenticate(deps, ctx);
  if (!key) return;
  sendJson(
    ctx.res,
    200,
    deps.provider.statuses().filter((s) => mayRead(key, s.clientId)),
  );
}

/**
 * Unauthenticated like most exporters, so that Prometheus needs no secret: the metrics
 * carry client ids, names and times, never a token (metrics.ts keeps it that way).
 */
export async function serveMetrics(deps: ServerDeps, ctx: RequestContext): Promise<void> {
  if (!deps.registry) {
    sendError(ctx.res, 404, 'not-found', 'metrics are not enabled in this process');
    return;
  }
  const text = await deps.registry.metrics();
  sendText(ctx.res, 200, deps.registry.contentType, text);
}
