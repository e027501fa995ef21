import type { ApiKeyConfig } from '../config/config.js';
import type { RequestContext, ServerDeps } from './route.js';
import { sendError } from './respond.js';

const CHALLENGE = { 'www-authenticate': 'Bearer realm="dhan-token-keeper"' };

/**
 * The key behind the request, or undefined once a 401 has been sent. A rejected key is
 * logged by where it came from, never by its value: the value may be a real key with a typo.
 */
export function authenticate(deps: ServerDeps, ctx: RequestContext): ApiKeyConfig | undefined {
  const result = deps.keys.authenticate(ctx.req.headers.authorization);
  if (result.ok) {
    ctx.logFields.keyName = result.key.name;
    return result.key;
  }
  ctx.logFields.keyName = 'unknown';
  // Logged and counted, aggregated, by the handler once the answer is out.
  ctx.logFields.rejected =
    deps.keys.size === 0
      ? 'no-keys'
      : result.reason === 'missing'
        ? 'missing-key'
        : result.reason === 'scheme'
          ? 'bad-scheme'
          : 'unknown-key';
  if (deps.keys.size === 0) {
    sendError(
      ctx.res,
      401,
      'unauthorized',
      'no API keys are configured, so tokens cannot be read over HTTP — add server.apiKeys to the config',
      CHALLENGE,
    );
    return undefined;
  }
  if (result.reason === 'missing') {
    sendError(
      ctx.res,
      401,
      'unauthorized',
      'send Authorization: Bearer <key> with a key from server.apiKeys',
      CHALLENGE,
    );
    return undefined;
  }
  sendError(
    ctx.res,
    401,
    'unauthorized',
    result.reason === 'scheme' ? 'use Authorization: Bearer <key>' : 'the API key is not one of server.apiKeys',
    CHALLENGE,
  );
  return undefined;
}
