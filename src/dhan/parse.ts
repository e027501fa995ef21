import { DateTime } from '../luxon.js';
import { DhanError, isConsentEndpoint, operationName, sanitizeDhanText } from './errors.js';
import { formatExpiryTime, looksLikeToken, parseTokenValidity, tryReadExpiry } from './expiry.js';
import type { Consent, ConsentToken, DhanEndpoint, DhanErrorKind, IssuedToken, Profile } from './dhan-api.js';
import { memoText } from '../memo-text.js';

/** No answer of Dhan's is near this; anything bigger is a proxy error page or worse. */
export const MAX_BODY_BYTES = 1024 * 1024;

/** Dhan documents 24 h tokens; used only when an answer carries no readable expiry at all. */
export const DOCUMENTED_TOKEN_LIFETIME_MS = 24 * 60 * 60 * 1000;

/** The "once every 2 minutes" generation limit, when Dhan's wording has no number we can read. */
const DEFAULT_RATE_LIMIT_MS = 60_000;
const RATE_LIMIT_TEXT = /once every \d+ minutes?|too many/i;
const RATE_LIMIT_MINUTES = /once every (\d+) minutes?/i;
// For Dhan's {status,message} shape on renew/profile, where the message is all there is.
const TOKEN_DEAD_TEXT = /\b(invalid|expired)\b.*\btoken\b|\btoken\b.*\b(invalid|expired)\b/i;

/** One HTTP answer, as read by the client. */
export interface RawResponse {
  readonly status: number;
  readonly headers: Headers;
  /** The body decoded as UTF-8; ignored when `tooLarge`. */
  readonly text: string;
  /** The body went past MAX_BODY_BYTES and was not read to the end. */
  readonly tooLarge?: boolean;
}

export interface ParseContext {
  /** Zone of Dhan's offset-less times (Asia/Kolkata). */
  readonly timezone: string;
  /** Our clock when the answer arrived. */
  readonly receivedAt: number;
  /** What Dhan might echo back and must never be quoted: PIN, TOTP code, tokens. */
  readonly secrets: readonly string[];
}

type JsonObject = Record<string, unknown>;

/** Generation's or renewal's answer: the new token, or why there is none. */
export function parseTokenResponse(
  endpoint: 'generate' | 'renew',
  res: RawResponse,
  ctx: ParseContext,
): IssuedToken | DhanError {
  const body = parseJsonObject(res);
  const failure = classifyFailure(endpoint, res, body, ctx);
  if (failure) return failure;
  // classifyFailure lets through only a readable 2xx object.
  const json = body as JsonObject;

  const accessToken = tokenField(json);
  if (accessToken === undefined) {
    if (endpoint === 'renew') {
      return new DhanError({
        kind: 'token-invalid',
        endpoint,
        httpStatus: res.status,
        answer: `HTTP ${res.status}`,
        oldTokenMayBeDead: true,
        summary: `Dhan answered the token renewal with HTTP ${res.status} but no token`,
        advice:
          'The old token may already be dead (Dhan may have renewed it and not said to what): ' +
          'check it with the profile call, and generate a new one if it is dead',
      });
    }
    // Field reports: wrong PIN or TOTP also comes as a bare `{"message": "Invalid TOTP"}` under
    // 200. A generation answered without a token is a refusal until proven otherwise.
    const text = answerText(json);
    const quoted = text === undefined ? '' : sanitizeDhanText(text, ctx.secrets);
    const answer = [`HTTP ${res.status}`, quoted].filter((s) => s !== '').join(': ');
    if (quoted !== '') {
      return new DhanError({
        kind: 'credentials-rejected',
        endpoint,
        httpStatus: res.status,
        answer,
        summary: `Dhan refused the token generation (${answer})`,
      });
    }
    return new DhanError({
      kind: 'unknown',
      endpoint,
      httpStatus: res.status,
      answer,
      summary: `Dhan answered the token generation with HTTP ${res.status} but no token`,
      advice:
        'A previous token may have been replaced; retry after the generation interval and report this answer if it persists',
    });
  }
  return readIssuedToken(endpoint, accessToken, json, res, ctx);
}

/** A token field already found: check its shape and read its expiry without ever losing it. */
function readIssuedToken(
  endpoint: DhanEndpoint,
  accessToken: string,
  json: JsonObject,
  res: RawResponse,
  ctx: ParseContext,
): IssuedToken | DhanError {
  const op = operationName(endpoint);
  if (!looksLikeToken(accessToken)) {
    return new DhanError({
      kind: 'transient',
      endpoint,
      httpStatus: res.status,
      maybeProcessed: true,
      summary: `Dhan's answer to the ${op} held a token field that is not a token (${accessToken.length} characters)`,
    });
  }

  const expiryTime = stringField(json, 'expiryTime');
  const info = tryReadExpiry({ accessToken, expiryTime, timezone: ctx.timezone });
  if (info) {
    return { accessToken, expiresAt: info.expiresAt, expiryTime: info.expiryTime, issuedAt: info.issuedAt };
  }
  // Refusing the token here would lose it, and a renewal has already killed the old one: keep it
  // with Dhan's documented lifetime, which the keeper's profile checks will correct if wrong.
  const expiresAt = ctx.receivedAt + DOCUMENTED_TOKEN_LIFETIME_MS;
  return {
    accessToken,
    expiresAt,
    expiryTime: formatExpiryTime(expiresAt, ctx.timezone),
    issuedAt: undefined,
  };
}

/** generate-consent's answer: success only when `status` says so and a consentAppId came with it. */
export function parseConsentGenerateResponse(res: RawResponse, ctx: ParseContext): Consent | DhanError {
  const body = parseJsonObject(res);
  const failure = classifyFailure('consent-generate', res, body, ctx);
  if (failure) return failure;
  const json = body as JsonObject;
  const consentAppId = stringField(json, 'consentAppId');
  const status = stringField(json, 'status')?.toLowerCase();
  if (status !== 'success' || consentAppId === undefined || !CONSENT_ID.test(consentAppId)) {
    return new DhanError({
      kind: 'unknown',
      endpoint: 'consent-generate',
      httpStatus: res.status,
      summary: `Dhan answered the consent request with HTTP ${res.status} but ${consentAppId === undefined ? 'no consentAppId' : status !== 'success' ? `status ${JSON.stringify(sanitizeDhanText(status ?? 'missing'))}` : 'a consentAppId we cannot use'}`,
      advice: 'Try again later; Dhan allows 25 consents a day per user',
    });
  }
  return { consentAppId, consentAppStatus: stringField(json, 'consentAppStatus') };
}

/** consumeApp-consent's answer: generation's six fields, so a token and whose it is. */
export function parseConsentConsumeResponse(res: RawResponse, ctx: ParseContext): ConsentToken | DhanError {
  const body = parseJsonObject(res);
  const failure = classifyFailure('consent-consume', res, body, ctx);
  if (failure) return failure;
  const json = body as JsonObject;
  const accessToken = stringField(json, 'accessToken') ?? stringField(json, 'token');
  const id = json['dhanClientId'];
  const dhanClientId =
    typeof id === 'number' && Number.isFinite(id) ? String(id) : typeof id === 'string' && id !== '' ? id : undefined;
  if (accessToken === undefined || dhanClientId === undefined) {
    return new DhanError({
      kind: 'unknown',
      endpoint: 'consent-consume',
      httpStatus: res.status,
      summary: `Dhan answered the consent token exchange with HTTP ${res.status} but no ${accessToken === undefined ? 'token' : 'dhanClientId'}`,
      advice: 'The tokenId is spent either way: start a new login',
    });
  }
  const issued = readIssuedToken('consent-consume', accessToken, json, res, ctx);
  return issued instanceof DhanError ? issued : { ...issued, dhanClientId };
}

/** Dhan's consent ids are UUIDs; anything else must not be pasted into a login URL. */
const CONSENT_ID = /^[A-Za-z0-9-]{8,128}$/;

/** The profile call's answer: who the token belongs to and until when Dhan says it is valid. */
export function parseProfileResponse(res: RawResponse, ctx: ParseContext): Profile | DhanError {
  const body = parseJsonObject(res);
  const failure = classifyFailure('profile', res, body, ctx);
  if (failure) return failure;
  const json = body as JsonObject;
  const id = json['dhanClientId'];
  const dhanClientId =
    typeof id === 'number' && Number.isFinite(id) ? String(id) : typeof id === 'string' ? id : undefined;
  if (dhanClientId === undefined || dhanClientId === '') {
    return new DhanError({
      kind: 'unknown',
      endpoint: 'profile',
      httpStatus: res.status,
      summary: `Dhan answered the profile check with HTTP ${res.status} but no dhanClientId`,
    });
  }
  const tokenValidity = stringField(json, 'tokenValidity');
  return {
    dhanClientId,
    tokenValidity,
    tokenValidUntil: tokenValidity === undefined ? undefined : parseTokenValidity(tokenValidity, ctx.timezone),
  };
}

/**
 * Everything that makes an answer a failure, whatever the endpoint. Dhan has sent errors under
 * HTTP 200, so the body is always inspected; undefined means "a readable 2xx object without an
 * error in it".
 */
function classifyFailure(
  endpoint: DhanEndpoint,
  res: RawResponse,
  body: JsonObject | undefined,
  ctx: ParseContext,
): DhanError | undefined {
  const status = res.status;
  const ok = status >= 200 && status < 300;
  const op = operationName(endpoint);
  const base = { endpoint, httpStatus: status } as const;

  if (status >= 300 && status < 400) {
    // We never follow redirects: a redirected PIN and TOTP would travel to a host we did not pick.
    return new DhanError({
      ...base,
      kind: 'unknown',
      summary: `Dhan answered the ${op} with a redirect (HTTP ${status})`,
    });
  }
  if (res.tooLarge) {
    return new DhanError({
      ...base,
      kind: 'transient',
      maybeProcessed: ok,
      summary: `Dhan's answer to the ${op} was larger than ${MAX_BODY_BYTES / 1024} KiB and was not read (HTTP ${status})`,
    });
  }

  const dhanCode = body === undefined ? undefined : normaliseCode(body['errorCode']);
  const bodyStatus = body === undefined ? undefined : stringField(body, 'status')?.toLowerCase();
  const errorShape =
    dhanCode !== undefined ||
    (body !== undefined && body['errorType'] !== undefined) ||
    bodyStatus === 'error' ||
    bodyStatus === 'failure' ||
    bodyStatus === 'failed';
  const dhanText = body === undefined ? undefined : answerText(body);
  const quoted = dhanText === undefined ? '' : sanitizeDhanText(dhanText, ctx.secrets);
  const detail = `(${[dhanCode ?? `HTTP ${status}`, quoted].filter((s) => s !== '').join(': ')})`;
  const answer = [`HTTP ${status}${dhanCode === undefined ? '' : ` ${dhanCode}`}`, quoted]
    .filter((s) => s !== '')
    .join(': ');
  const withCode = dhanCode === undefined ? base : { ...base, dhanCode };
  const make = (kind: DhanErrorKind, summary: string, extra: { retryAfterMs?: number } = {}): DhanError =>
    new DhanError({ ...withCode, ...extra, kind, summary, answer });

  // A generation's answer without a token is never a success, so its words count whatever its shape.
  const refusalBody = errorShape || !ok || (endpoint === 'generate' && body !== undefined && !tokenField(body));
  const textSaysRateLimit = refusalBody && dhanText !== undefined && RATE_LIMIT_TEXT.test(dhanText);
  if (dhanCode === 'DH-904' || dhanCode === 'DH-805' || status === 429 || textSaysRateLimit) {
    return make('rate-limited', `Dhan rate-limited the ${op} ${detail}`, {
      retryAfterMs: retryAfterMs(res, dhanText, ctx),
    });
  }

  const codeKind = dhanCode === undefined ? undefined : kindForCode(dhanCode, endpoint);
  if (codeKind !== undefined) {
    const verb = codeKind === 'transient' ? 'failed' : 'refused';
    return make(codeKind, `Dhan ${verb} the ${op} ${detail}`);
  }
  if (status >= 500) return make('transient', `Dhan failed the ${op} with HTTP ${status} ${detail}`);
  if (status === 401 || status === 403) {
    if (sendsToken(endpoint)) return make('token-invalid', `Dhan refused the ${op} ${detail}`);
    // Consent calls carry the API key and secret, a generation the PIN and TOTP (field reports:
    // bare `401 {"message"}` and `403 {"error"}` from the auth tier): a refusal of those.
    if (isConsentEndpoint(endpoint) || endpoint === 'generate')
      return make('credentials-rejected', `Dhan refused the ${op} ${detail}`);
  }
  if (errorShape) {
    if (endpoint === 'generate' && bodyStatus !== undefined && dhanCode === undefined) {
      // Dhan's wording for a wrong PIN or TOTP is undocumented: any plain refusal of a generation
      // counts as a credential failure, so that the keeper stops instead of hammering the account.
      return make('credentials-rejected', `Dhan refused the token generation ${detail}`);
    }
    if (sendsToken(endpoint) && dhanText !== undefined && TOKEN_DEAD_TEXT.test(dhanText)) {
      return make('token-invalid', `Dhan refused the ${op} ${detail}`);
    }
    return make('unknown', `Dhan refused the ${op} with an unexpected error ${detail}`);
  }
  if (body === undefined) {
    // A 2xx we cannot read may still have done its work: Dhan may have issued a token we never saw.
    return new DhanError({
      ...base,
      kind: 'transient',
      maybeProcessed: ok,
      summary: `Dhan's answer to the ${op} was not a JSON object (HTTP ${status}, ${Buffer.byteLength(res.text)} bytes)`,
    });
  }
  if (!ok) return make('unknown', `Dhan gave an unexpected answer to the ${op} ${detail}`);
  return undefined;
}

/** Renewal and profile send a token, so a refusal there can be about the token itself. */
function sendsToken(endpoint: DhanEndpoint): boolean {
  return endpoint === 'renew' || endpoint === 'profile';
}

function kindForCode(code: string, endpoint: DhanEndpoint): DhanErrorKind | undefined {
  switch (code) {
    case 'DH-901':
      // A generation carries no token: what is invalid is the client id it names.
      return sendsToken(endpoint) ? 'token-invalid' : 'credentials-rejected';
    case 'DH-902':
    case 'DH-903':
      return 'access-denied';
    case 'DH-905':
      // Dhan's catch-all Input_Exception: on a renewal (which we always send as GET) it is how
      // Dhan says "not allowed for this token type", under HTTP 400 or 500.
      return endpoint === 'renew' ? 'renew-refused' : 'bad-request';
    case 'DH-906':
      // Seen as "Invalid Token" on renewal; a generation sends no token, so there it is bad input.
      return sendsToken(endpoint) ? 'token-invalid' : 'bad-request';
    case 'DH-907':
    case 'DH-908':
    case 'DH-909':
    case 'DH-910':
      return 'transient';
    case 'DH-807':
    case 'DH-808':
    case 'DH-809':
      // Data-API codes for an expired, failed or invalid token.
      return sendsToken(endpoint) ? 'token-invalid' : undefined;
    default:
      return undefined;
  }
}

/** "DH-901", "dh-901", "901" or 901 → "DH-901". */
function normaliseCode(value: unknown): string | undefined {
  const text = typeof value === 'number' ? String(value) : typeof value === 'string' ? value.trim() : '';
  const m = /^(?:DH-?)?(\d{3})$/i.exec(text);
  return m ? `DH-${m[1]}` : undefined;
}

/**
 * How long to stay away. Every hint Dhan gives is honoured and the longest wins: waiting a little
 * too long costs minutes, hammering the generation endpoint can cost the account its TOTP.
 */
function retryAfterMs(res: RawResponse, dhanText: string | undefined, ctx: ParseContext): number {
  const hints: number[] = [];
  const header = res.headers.get('retry-after')?.trim();
  if (header) {
    if (/^\d+$/.test(header)) {
      hints.push(Number(header) * 1000);
    } else {
      const at = DateTime.fromHTTP(header);
      if (at.isValid) {
        // Measured against Dhan's own Date header when there is one, so our clock's skew cancels.
        const serverNow = parseHttpDate(res.headers.get('date')) ?? ctx.receivedAt;
        hints.push(Math.max(0, at.toMillis() - serverNow));
      }
    }
  }
  const minutes = dhanText === undefined ? undefined : RATE_LIMIT_MINUTES.exec(dhanText)?.[1];
  if (minutes !== undefined) hints.push(Number(minutes) * 60_000);
  return hints.length === 0 ? DEFAULT_RATE_LIMIT_MS : Math.max(...hints);
}

export function parseHttpDate(value: string | null | undefined): number | undefined {
  if (!value) return undefined;
  return memoHttpDate(value.trim());
}

// A server's Date header is the same text for a whole second; every Dhan answer carries one.
const memoHttpDate = memoText((text: string): number | undefined => {
  const dt = DateTime.fromHTTP(text);
  return dt.isValid ? dt.toMillis() : undefined;
}, 64);

function parseJsonObject(res: RawResponse): JsonObject | undefined {
  if (res.tooLarge) return undefined;
  try {
    const parsed: unknown = JSON.parse(res.text);
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? (parsed as JsonObject) : undefined;
  } catch {
    return undefined;
  }
}

/** What Dhan says in words, in whichever field its shape puts them. */
function answerText(json: JsonObject): string | undefined {
  return stringField(json, 'errorMessage') ?? stringField(json, 'message') ?? stringField(json, 'error');
}

/** Renewal's answer has been seen with `token` instead of `accessToken`. */
function tokenField(json: JsonObject): string | undefined {
  return stringField(json, 'accessToken') ?? stringField(json, 'token');
}

function stringField(json: JsonObject, key: string): string | undefined {
  const v = json[key];
  return typeof v === 'string' ? v : undefined;
}

// Socket errors after which the request certainly never reached Dhan.
const NEVER_SENT_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
  'UND_ERR_CONNECT_TIMEOUT',
  'CERT_HAS_EXPIRED',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

export interface TransportFailure {
  readonly endpoint: DhanEndpoint;
  readonly error: unknown;
  /** 'request': no response yet; 'body': the headers came, the body broke off. */
  readonly phase: 'request' | 'body';
  /** Our own deadline fired (the caller did not abort). */
  readonly timedOutAfterMs?: number;
  readonly httpStatus?: number;
  readonly secrets: readonly string[];
}

/** A call that got no complete answer. Always transient: the network or Dhan may recover. */
export function classifyTransportError(failure: TransportFailure): DhanError {
  const { endpoint, phase } = failure;
  const op = operationName(endpoint);
  const low = lowLevelError(failure.error);
  const code = low.code;
  const cause = safeCause(low, failure.secrets);
  const base = {
    kind: 'transient',
    endpoint,
    cause,
    ...(failure.httpStatus === undefined ? {} : { httpStatus: failure.httpStatus }),
  } as const;

  if (failure.timedOutAfterMs !== undefined) {
    return new DhanError({
      ...base,
      maybeProcessed: true,
      summary: `Dhan did not ${phase === 'body' ? 'finish answering' : 'answer'} the ${op} within ${failure.timedOutAfterMs} ms`,
    });
  }
  if (phase === 'body') {
    return new DhanError({
      ...base,
      maybeProcessed: true,
      summary: `Dhan's answer to the ${op} broke off before its end (${code === undefined ? 'connection closed' : describeCode(code)})`,
    });
  }
  const neverSent = code !== undefined && NEVER_SENT_CODES.has(code);
  return new DhanError({
    ...base,
    maybeProcessed: !neverSent,
    summary: neverSent
      ? `Could not reach Dhan for the ${op} (${describeCode(code)})`
      : `The connection to Dhan broke during the ${op} (${code === undefined ? 'no answer' : describeCode(code)})`,
  });
}

function describeCode(code: string): string {
  switch (code) {
    case 'ECONNREFUSED':
      return 'connection refused';
    case 'ECONNRESET':
      return 'connection reset';
    case 'UND_ERR_SOCKET':
      return 'socket closed by the other side';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `host name not resolved, ${code}`;
    default:
      return code;
  }
}

interface LowLevel {
  readonly message: string;
  readonly code: string | undefined;
}

/** fetch wraps socket errors as TypeError('fetch failed', {cause}); dig out the one with a code. */
function lowLevelError(err: unknown): LowLevel {
  const seen = new Set<unknown>();
  let current: unknown = err;
  let first: LowLevel | undefined;
  while (current instanceof Error && !seen.has(current)) {
    seen.add(current);
    const rawCode: unknown = (current as Error & { code?: unknown }).code;
    const here: LowLevel = { message: current.message, code: typeof rawCode === 'string' ? rawCode : undefined };
    first ??= here;
    if (here.code !== undefined) return here;
    // Happy-eyeballs connects fail with an AggregateError whose members carry the codes.
    if (current instanceof AggregateError) {
      const member: unknown = current.errors.find((e: unknown) => e instanceof Error && 'code' in e);
      if (member !== undefined) {
        current = member;
        continue;
      }
    }
    current = current.cause;
  }
  return first ?? { message: String(err), code: undefined };
}

/** A cause that logs can print in full: the original may hold sockets, buffers or our URL. */
function safeCause(low: LowLevel, secrets: readonly string[]): Error {
  const err = new Error(sanitizeDhanText(low.message, secrets).replace(/\?\S*/g, '?[redacted]'));
  if (low.code !== undefined) Object.assign(err, { code: low.code });
  return err;
}
