import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { abortError } from '../clock.js';
import { DhanError, operationName } from './errors.js';
import {
  MAX_BODY_BYTES,
  classifyTransportError,
  parseConsentConsumeResponse,
  parseConsentGenerateResponse,
  parseHttpDate,
  parseProfileResponse,
  parseTokenResponse,
} from './parse.js';
import type { RawResponse } from './parse.js';
import { readBodyLimited } from './read-body.js';
import type {
  AppCredentials,
  Consent,
  ConsentToken,
  DhanApi,
  DhanConsentApi,
  DhanCallReport,
  DhanClientOptions,
  DhanEndpoint,
  GenerateRequest,
  IssuedToken,
  Profile,
  RenewRequest,
} from './dhan-api.js';

interface CallSpec {
  readonly endpoint: DhanEndpoint;
  readonly method: 'GET' | 'POST';
  readonly url: URL;
  readonly headers: Record<string, string>;
  /** Values that must never be quoted back, whatever Dhan echoes. */
  readonly secrets: readonly string[];
}

/**
 * Dhan's three token calls over HTTP. Each call either returns its result or throws a classified
 * `DhanError`; a caller's abort throws an AbortError instead, so that shutdown is never mistaken
 * for a Dhan failure. Nothing here retries or decides: that is the keeper's job.
 */
export class DhanClient implements DhanApi, DhanConsentApi {
  private readonly options: DhanClientOptions;
  private readonly fetchImpl: typeof fetch;

  constructor(options: DhanClientOptions) {
    this.options = options;
    this.fetchImpl = options.fetch ?? globalThis.fetch;
  }

  async generateToken(req: GenerateRequest, signal?: AbortSignal): Promise<IssuedToken> {
    const url = this.url(this.options.authBaseUrl, '/app/generateAccessToken', 'generate');
    // Dhan takes the credentials in the query string: this URL must never reach a log or an error.
    url.search = new URLSearchParams({ dhanClientId: req.clientId, pin: req.pin, totp: req.totp }).toString();
    return this.call(
      { endpoint: 'generate', method: 'POST', url, headers: {}, secrets: [req.pin, req.totp] },
      (res, ctx) => parseTokenResponse('generate', res, ctx),
      signal,
    );
  }

  async renewToken(req: RenewRequest, signal?: AbortSignal): Promise<IssuedToken> {
    // GET, not POST: Dhan answers a POST with DH-905.
    const url = this.url(this.options.apiBaseUrl, '/v2/RenewToken', 'renew');
    return this.call(
      {
        endpoint: 'renew',
        method: 'GET',
        url,
        headers: { 'access-token': req.accessToken, dhanClientId: req.clientId },
        secrets: [req.accessToken],
      },
      (res, ctx) => parseTokenResponse('renew', res, ctx),
      signal,
    );
  }

  async getProfile(accessToken: string, signal?: AbortSignal): Promise<Profile> {
    const url = this.url(this.options.apiBaseUrl, '/v2/profile', 'profile');
    return this.call(
      { endpoint: 'profile', method: 'GET', url, headers: { 'access-token': accessToken }, secrets: [accessToken] },
      (res, ctx) => parseProfileResponse(res, ctx),
      signal,
    );
  }

  async generateConsent(clientId: string, credentials: AppCredentials, signal?: AbortSignal): Promise<Consent> {
    const url = this.url(this.options.authBaseUrl, '/app/generate-consent', 'consent-generate');
    url.search = new URLSearchParams({ client_id: clientId }).toString();
    return this.call(
      {
        endpoint: 'consent-generate',
        method: 'POST',
        url,
        headers: { app_id: credentials.apiKey, app_secret: credentials.apiSecret },
        secrets: [credentials.apiKey, credentials.apiSecret],
      },
      (res, ctx) => parseConsentGenerateResponse(res, ctx),
      signal,
    );
  }

  consentLoginUrl(consentAppId: string): string {
    const url = this.url(this.options.authBaseUrl, '/login/consentApp-login', 'consent-generate');
    url.search = new URLSearchParams({ consentAppId }).toString();
    return url.toString();
  }

  async consumeConsent(tokenId: string, credentials: AppCredentials, signal?: AbortSignal): Promise<ConsentToken> {
    // GET, as Dhan documents it (some clients send POST and are reported to get the same answer).
    const url = this.url(this.options.authBaseUrl, '/app/consumeApp-consent', 'consent-consume');
    url.search = new URLSearchParams({ tokenId }).toString();
    return this.call(
      {
        endpoint: 'consent-consume',
        method: 'GET',
        url,
        headers: { app_id: credentials.apiKey, app_secret: credentials.apiSecret },
        // A tokenId is single-use, but until it is spent it is worth a token.
        secrets: [credentials.apiKey, credentials.apiSecret, tokenId],
      },
      (res, ctx) => parseConsentConsumeResponse(res, ctx),
      signal,
    );
  }

  private url(base: string, path: string, endpoint: DhanEndpoint): URL {
    try {
      // Joined as text so that a base with a path prefix (a reverse proxy) keeps it.
      return new URL(`${base.replace(/\/+$/, '')}${path}`);
    } catch {
      throw new DhanError({
        kind: 'bad-request',
        endpoint,
        summary: `The base URL configured for the ${operationName(endpoint)} is not a valid URL`,
        advice: 'Fix authBaseUrl / apiBaseUrl in the configuration',
      });
    }
  }

  private async call<T>(
    spec: CallSpec,
    parse: (
      res: RawResponse,
      ctx: { timezone: string; receivedAt: number; secrets: readonly string[] },
    ) => T | DhanError,
    callerSignal: AbortSignal | undefined,
  ): Promise<T> {
    const { clock, requestTimeoutMs } = this.options;
    if (callerSignal?.aborted) throw abortError(callerSignal);

    // A network deadline is real time on purpose: a fake clock does not slow the network down.
    // One controller for both the deadline and the caller: AbortSignal.any() costs a probe more
    // than its own HTTP call does on a quiet keeper.
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), requestTimeoutMs);
    timer.unref();
    const onCallerAbort = (): void => controller.abort(callerSignal?.reason);
    callerSignal?.addEventListener('abort', onCallerAbort, { once: true });
    const signal = controller.signal;

    // Duration is measured on the monotonic real clock, for the same reason as the deadline.
    const startedPerf = performance.now();
    const sentAt = clock.now();
    let httpStatus: number | undefined;
    let clockSkewMs: number | undefined;
    let phase: 'request' | 'body' = 'request';

    const finish = (outcome: DhanCallReport['outcome']): void => {
      this.report({
        endpoint: spec.endpoint,
        outcome,
        // Tenths of a millisecond are all a metric can use.
        durationMs: Math.max(0, Math.round((performance.now() - startedPerf) * 10) / 10),
        httpStatus,
        clockSkewMs,
      });
    };

    try {
      const response = await this.fetchImpl(spec.url, {
        method: spec.method,
        headers: { accept: 'application/json', 'user-agent': this.userAgent(), ...spec.headers },
        redirect: 'manual',
        signal,
      });
      const receivedAt = clock.now();
      httpStatus = response.status;
      const serverDate = parseHttpDate(response.headers.get('date'));
      if (serverDate !== undefined) clockSkewMs = Math.round(serverDate - (sentAt + receivedAt) / 2);

      phase = 'body';
      const body = await readBodyLimited(response, MAX_BODY_BYTES);
      const result = parse(
        { status: response.status, headers: response.headers, text: body.text, tooLarge: body.tooLarge },
        { timezone: this.options.timezone, receivedAt, secrets: spec.secrets },
      );
      if (result instanceof DhanError) {
        finish(result.kind);
        throw result;
      }
      finish('success');
      return result;
    } catch (err) {
      if (err instanceof DhanError) throw err;
      if (callerSignal?.aborted) throw abortError(callerSignal);
      const failure = classifyTransportError({
        endpoint: spec.endpoint,
        error: err,
        phase,
        secrets: spec.secrets,
        // The caller's abort returned above: an aborted controller here is the deadline.
        ...(controller.signal.aborted ? { timedOutAfterMs: requestTimeoutMs } : {}),
        ...(httpStatus === undefined ? {} : { httpStatus }),
      });
      finish(failure.kind);
      throw failure;
    } finally {
      clearTimeout(timer);
      callerSignal?.removeEventListener('abort', onCallerAbort);
    }
  }

  private report(report: DhanCallReport): void {
    try {
      this.options.onCall?.(report);
    } catch {
      // A broken metrics hook must not turn a renewal (whose token we now hold) into a failure.
    }
  }

  private userAgent(): string {
    return this.options.userAgent ?? `dhan-token-keeper/${packageVersion()}`;
  }
}

let cachedVersion: string | undefined;

/** Our version from package.json, found by walking up from this file (src/ or dist/src/). */
function packageVersion(): string {
  if (cachedVersion !== undefined) return cachedVersion;
  cachedVersion = 'unknown';
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    try {
      const pkg: unknown = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
      if (typeof pkg === 'object' && pkg !== null && (pkg as { name?: unknown }).name === 'dhan-token-keeper') {
        const version = (pkg as { version?: unknown }).version;
        if (typeof version === 'string') cachedVersion = version;
        break;
      }
    } catch {
      // No package.json at this level: keep walking up.
    }
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  return cachedVersion;
}
