import { createHmac } from 'node:crypto';
import type { WebhookSinkConfig } from '../config/config.js';
import { KeeperError } from '../errors.js';
import type { PublishedToken } from '../tokens.js';
import { VERSION } from '../version.js';
import { toNotice } from './payload.js';
import { displayUrl } from './redact.js';
import { withRetries } from './retry.js';
import type { SinkContext } from './sink-context.js';
import type { SinkOutcome } from './sink-result.js';

export const SIGNATURE_HEADER = 'x-dhan-token-signature';
export const TIMESTAMP_HEADER = 'x-dhan-token-timestamp';

interface Target {
  /** The URL without user info: fetch refuses URLs that carry credentials. */
  readonly href: string;
  readonly authorization: string | undefined;
}

/** `https://user:pass@host/…` means HTTP Basic authentication, as it does for curl. */
function target(url: string): Target {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new KeeperError('publish-webhook-url', 'the webhook URL is not a valid URL');
  }
  if (parsed.username === '' && parsed.password === '') return { href: parsed.href, authorization: undefined };
  const user = decodeURIComponent(parsed.username);
  const password = decodeURIComponent(parsed.password);
  parsed.username = '';
  parsed.password = '';
  return { href: parsed.href, authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` };
}

/**
 * With the token, receivers get the same fields as the file and the token API, plus the event
 * and fingerprint that a notice carries, so one receiver can handle both kinds of sink.
 */
function body(config: WebhookSinkConfig, token: PublishedToken): string {
  const notice = toNotice(token);
  return JSON.stringify(config.includeToken ? { ...notice, accessToken: token.accessToken } : notice);
}

interface Try {
  readonly ok: boolean;
  readonly retryable: boolean;
  readonly httpStatus: number | undefined;
  readonly error: string | undefined;
}

/** Busy or broken for now; every other 4xx needs a person to fix the receiver or the config. */
function retryableStatus(status: number): boolean {
  return status >= 500 || status === 408 || status === 425 || status === 429;
}

/** A fetch failure as text that cannot hold the URL: undici's codes, never its messages. */
function networkError(err: unknown): string {
  const cause: unknown = err instanceof Error ? err.cause : undefined;
  for (const e of [cause, err]) {
    if (
      typeof e === 'object' &&
      e !== null &&
      'code' in e &&
      typeof e.code === 'string' &&
      /^[A-Z0-9_]+$/.test(e.code)
    ) {
      return `network error (${e.code})`;
    }
  }
  return 'network error';
}

/** POSTs the token (or a notice) to the receiver, retrying while a retry can help. */
/** The signature header's value: HMAC-SHA256 of the exact body, as receivers verify it. */
export function signBody(secret: string, payload: string): string {
  return `sha256=${createHmac('sha256', secret).update(payload, 'utf8').digest('hex')}`;
}

export async function runWebhookSink(
  config: WebhookSinkConfig,
  token: PublishedToken,
  ctx: SinkContext,
): Promise<SinkOutcome> {
  const { href, authorization } = target(config.url);
  const payload = body(config, token);
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'user-agent': `dhan-token-keeper/${VERSION}`,
  };
  if (authorization !== undefined) headers['authorization'] = authorization;
  if (config.secret !== undefined) {
    headers[SIGNATURE_HEADER] = signBody(config.secret, payload);
  }
  const url = displayUrl(config.url);

  const tryOnce = async (attempt: number): Promise<Try> => {
    const controller = new AbortController();
    let timedOut = false;
    const timer = ctx.clock.setTimer(config.timeoutMs, () => {
      timedOut = true;
      controller.abort();
    });
    const onAbort = (): void => controller.abort();
    ctx.signal?.addEventListener('abort', onAbort, { once: true });
    const startedAt = ctx.clock.now();
    let result: Try;
    try {
      // Informational, for receivers measuring delivery delay: the signature covers the body only.
      const timestamp = { [TIMESTAMP_HEADER]: String(Math.floor(ctx.clock.now() / 1000)) };
      const res = await fetch(href, {
        method: 'POST',
        // A redirect would resend the token to wherever the receiver points: not followed.
        redirect: 'manual',
        body: payload,
        headers: { ...headers, ...timestamp },
        signal: controller.signal,
      });
      // The answer's body is never read: a receiver might echo the token back.
      await res.body?.cancel().catch(() => undefined);
      const status = res.status;
      if (status >= 200 && status < 300) result = { ok: true, retryable: false, httpStatus: status, error: undefined };
      else if (res.type === 'opaqueredirect' || (status >= 300 && status < 400)) {
        result = {
          ok: false,
          retryable: false,
          httpStatus: status,
          error: `HTTP ${status}: redirects are not followed — give the final URL`,
        };
      } else result = { ok: false, retryable: retryableStatus(status), httpStatus: status, error: `HTTP ${status}` };
    } catch (err) {
      // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- the timeout's callback sets timedOut while fetch is awaited.
      if (timedOut)
        result = {
          ok: false,
          retryable: true,
          httpStatus: undefined,
          error: `no answer within ${config.timeoutMs} ms`,
        };
      else if (ctx.signal?.aborted)
        result = { ok: false, retryable: false, httpStatus: undefined, error: 'stopped: publishing was aborted' };
      else result = { ok: false, retryable: true, httpStatus: undefined, error: networkError(err) };
    } finally {
      timer.cancel();
      ctx.signal?.removeEventListener('abort', onAbort);
    }
    const fields = { attempt, url, httpStatus: result.httpStatus, durationMs: ctx.clock.now() - startedAt };
    if (result.ok) ctx.log.debug(fields, 'webhook delivered');
    else ctx.log.warn({ ...fields, error: result.error }, 'webhook failed');
    return result;
  };

  if (ctx.signal?.aborted) return { ok: false, attempts: 0, error: 'stopped: publishing was aborted' };
  const { last, attempts } = await withRetries(ctx.retryDelaysMs, ctx.clock, ctx.signal, tryOnce);
  const status = last.httpStatus === undefined ? {} : { httpStatus: last.httpStatus };
  return last.ok
    ? { ok: true, attempts, ...status }
    : { ok: false, attempts, error: last.error ?? 'failed', ...status };
}
