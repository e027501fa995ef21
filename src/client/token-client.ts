import { setTimeout as sleep } from 'node:timers/promises';
import { codeForStatus, TokenClientError } from './errors.js';
import { asTokenInfo, type TokenInfo } from './token-info.js';

export interface TokenClientOptions {
  /** The keeper's address, e.g. "http://127.0.0.1:9470" (a path prefix behind a proxy is kept). */
  readonly baseUrl: string;
  /** One of the keeper's server.apiKeys. Secret. */
  readonly apiKey: string;
  readonly clientId: string;
  readonly fetch?: typeof fetch;
  /** Gives up on a plain get() after this long; default 10 s. */
  readonly requestTimeoutMs?: number;
}

export interface WatchOptions {
  /** Stops watching; watch() then resolves. */
  readonly signal?: AbortSignal;
  /** How long each long-poll may park at the keeper, 1 to 300 s; default 60. */
  readonly waitSeconds?: number;
}

const DEFAULT_WAIT_SECONDS = 60;
const MAX_WAIT_SECONDS = 300;
const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;
/** A long-poll that outlives its wait by this much has a dead connection under it. */
const LONG_POLL_SLACK_MS = 15_000;
const BACKOFF_FIRST_MS = 250;
const BACKOFF_MAX_MS = 10_000;

/** Statuses no retry will fix: the configuration is wrong on one side or the other. */
const PERMANENT = new Set([400, 401, 403, 404]);

/**
 * Reads a token from dhan-token-keeper for a TypeScript bot. Real time on purpose (no
 * injected clock): this runs inside the bot, and only talks to the keeper.
 * It never logs; errors carry statuses and the keeper's messages, never the key or a token.
 */
export class TokenClient {
  private readonly tokenUrl: URL;
  private readonly apiKey: string;
  private readonly fetchImpl: typeof fetch;
  private readonly requestTimeoutMs: number;

  constructor(options: TokenClientOptions) {
    const base = options.baseUrl.endsWith('/') ? options.baseUrl : `${options.baseUrl}/`;
    this.tokenUrl = new URL(`v1/tokens/${encodeURIComponent(options.clientId)}`, base);
    this.apiKey = options.apiKey;
    this.fetchImpl = options.fetch ?? fetch;
    this.requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  }

  /** The live token now. Throws TokenClientError (with `status`) when there is none to give. */
  async get(signal?: AbortSignal): Promise<TokenInfo> {
    const res = await this.request(this.tokenUrl, this.requestTimeoutMs, signal);
    if (res.status === 200) return readToken(res);
    throw await errorFrom(res);
  }

  /**
   * Calls `onToken` with the live token and then with every new one, as soon as the keeper
   * swaps it (a long-poll, so within milliseconds). Network errors and 5xx are retried with
   * capped exponential backoff; 400/401/403/404 and an error thrown by `onToken` reject.
   * Resolves when `signal` aborts.
   */
  async watch(onToken: (token: TokenInfo) => void | Promise<void>, options: WatchOptions = {}): Promise<void> {
    const { signal } = options;
    const waitSeconds = options.waitSeconds ?? DEFAULT_WAIT_SECONDS;
    if (!(waitSeconds > 0 && waitSeconds <= MAX_WAIT_SECONDS)) {
      throw new RangeError(`waitSeconds must be more than 0 and at most ${MAX_WAIT_SECONDS}, not ${waitSeconds}`);
    }
    let after: string | undefined;
    let failures = 0;
    while (!signal?.aborted) {
      let token: TokenInfo | undefined;
      let retryAfterSeconds: number | undefined;
      const startedAt = performance.now();
      try {
        const res = await this.request(
          this.pollUrl(after, waitSeconds),
          waitSeconds * 1000 + LONG_POLL_SLACK_MS,
          signal,
        );
        if (res.status === 200) token = await readToken(res);
        else if (res.status === 304) await res.body?.cancel();
        else throw await errorFrom(res);
        failures = 0;
      } catch (err) {
        if (signal?.aborted) return;
        if (!(err instanceof TokenClientError) || PERMANENT.has(err.status ?? 0)) throw err;
        // The keeper already waited for a token that did not come: ask again at once, so the
        // first token is not missed by a backoff. A 503 that came fast is throttled as usual.
        if (err.serverError === 'no-live-token' && performance.now() - startedAt >= Math.min(1000, waitSeconds * 500))
          continue;
        failures++;
        retryAfterSeconds = err.retryAfterSeconds;
      }
      if (token && token.fingerprint !== after) {
        after = token.fingerprint;
        await onToken(token);
      } else if (failures > 0) {
        try {
          await sleep(backoffMs(failures, retryAfterSeconds), undefined, signal ? { signal } : {});
        } catch {
          return; // aborted while backing off
        }
      }
    }
  }

  private pollUrl(after: string | undefined, waitSeconds: number): URL {
    const url = new URL(this.tokenUrl);
    if (after !== undefined) url.searchParams.set('after', after);
    url.searchParams.set('wait', String(waitSeconds));
    return url;
  }

  /** One GET; network failures and timeouts become TokenClientError('network'), the caller's abort stays an AbortError. */
  private async request(url: URL, timeoutMs: number, signal: AbortSignal | undefined): Promise<Response> {
    signal?.throwIfAborted();
    const controller = new AbortController();
    const onAbort = (): void => controller.abort(signal?.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    const timer = setTimeout(() => controller.abort(new Error('timeout')), timeoutMs);
    try {
      return await this.fetchImpl(url, {
        method: 'GET',
        headers: { authorization: `Bearer ${this.apiKey}`, accept: 'application/json' },
        signal: controller.signal,
      });
    } catch (err) {
      if (signal?.aborted) throw err;
      const timedOut = controller.signal.aborted;
      throw new TokenClientError(
        'network',
        timedOut
          ? `no answer from the keeper at ${url.origin} within ${timeoutMs} ms`
          : `cannot reach the keeper at ${url.origin}`,
        { cause: err },
      );
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    }
  }
}

/** 250 ms doubling to 10 s, with jitter so that many bots do not reconnect in step; a Retry-After raises it. */
function backoffMs(failures: number, retryAfterSeconds: number | undefined): number {
  const base = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** Math.min(failures - 1, 16));
  const jittered = base / 2 + Math.random() * (base / 2);
  const hinted = retryAfterSeconds === undefined ? 0 : Math.min(BACKOFF_MAX_MS, retryAfterSeconds * 1000);
  return Math.max(jittered, hinted);
}

async function readToken(res: Response): Promise<TokenInfo> {
  let parsed: unknown;
  try {
    parsed = await res.json();
  } catch (err) {
    throw new TokenClientError(
      'bad-response',
      'the keeper answered 200 with a body that is not JSON — is baseUrl right?',
      {
        status: res.status,
        cause: err,
      },
    );
  }
  const token = asTokenInfo(parsed);
  if (!token) {
    throw new TokenClientError('bad-response', 'the keeper answered 200 without a token — is baseUrl right?', {
      status: res.status,
    });
  }
  return token;
}

async function errorFrom(res: Response): Promise<TokenClientError> {
  let message = `the keeper answered HTTP ${res.status}`;
  let serverError: string | undefined;
  try {
    const body: unknown = await res.json();
    if (typeof body === 'object' && body !== null) {
      if ('message' in body && typeof body.message === 'string') message = `${message}: ${body.message}`;
      if ('error' in body && typeof body.error === 'string') serverError = body.error;
    }
  } catch {
    // Not our JSON (a proxy's page, an empty body): the status says enough.
  }
  const retryAfter = Number(res.headers.get('retry-after'));
  return new TokenClientError(codeForStatus(res.status), message, {
    status: res.status,
    ...(serverError !== undefined ? { serverError } : {}),
    ...(Number.isFinite(retryAfter) && retryAfter > 0 ? { retryAfterSeconds: retryAfter } : {}),
  });
}
