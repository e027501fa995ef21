import { KeeperError } from '../errors.js';
import type { DhanEndpoint, DhanErrorKind } from './dhan-api.js';

export interface DhanErrorInit {
  readonly kind: DhanErrorKind;
  readonly endpoint: DhanEndpoint;
  /** What happened, already free of secrets (quote Dhan's text only through `sanitizeDhanText`). */
  readonly summary: string;
  /** What to do; the kind's default advice when absent. */
  readonly advice?: string;
  readonly dhanCode?: string;
  readonly httpStatus?: number;
  /** Dhan's answer as quoted in the summary ("HTTP 200: Invalid Pin"), already sanitised. */
  readonly answer?: string;
  readonly retryAfterMs?: number;
  readonly maybeProcessed?: boolean;
  readonly oldTokenMayBeDead?: boolean;
  readonly cause?: unknown;
}

/**
 * Every failure of a Dhan call, classified once so that the keeper decides on `kind`
 * and never on message text. Carries no secret: the URL (with PIN and TOTP in its query)
 * and the tokens never reach it.
 */
export class DhanError extends KeeperError {
  readonly kind: DhanErrorKind;
  readonly endpoint: DhanEndpoint;
  /** Dhan's "DH-9xx" code, when the body had one. */
  readonly dhanCode: string | undefined;
  readonly httpStatus: number | undefined;
  /** What happened, without the advice. */
  readonly summary: string;
  /** Dhan's answer as quoted ("DH-901: Client ID …", "HTTP 200: Invalid Pin"); undefined when none was read. */
  readonly answer: string | undefined;
  /** Set on 'rate-limited': how long to stay away. */
  readonly retryAfterMs: number | undefined;
  /**
   * The request reached Dhan but its answer was lost or unreadable (timeout, reset, truncated or
   * garbled 2xx body): Dhan may have committed a generation or renewal, and a renewal kills the
   * old token. False when the request never left (connection refused) or Dhan's answer was
   * complete and readable.
   */
  readonly maybeProcessed: boolean;
  /**
   * A renewal may have happened server-side without us seeing the new token (a 2xx without a
   * token, or `maybeProcessed` on renew): check the old token with the profile call before
   * trusting it.
   */
  readonly oldTokenMayBeDead: boolean;

  constructor(init: DhanErrorInit) {
    const advice =
      init.advice ?? defaultAdvice(init.kind, init.endpoint, init.retryAfterMs, init.maybeProcessed ?? false);
    super(`dhan-${init.kind}`, `${init.summary}. ${advice}`, {
      hint: advice,
      ...(init.cause === undefined ? {} : { cause: init.cause }),
    });
    this.kind = init.kind;
    this.endpoint = init.endpoint;
    this.dhanCode = init.dhanCode;
    this.httpStatus = init.httpStatus;
    this.summary = init.summary;
    this.answer = init.answer;
    this.retryAfterMs = init.retryAfterMs;
    this.maybeProcessed = init.maybeProcessed ?? false;
    this.oldTokenMayBeDead = init.oldTokenMayBeDead ?? (init.endpoint === 'renew' && this.maybeProcessed);
  }
}

export function isDhanError(err: unknown): err is DhanError {
  return err instanceof DhanError;
}

/** Human words for an endpoint, used in messages. */
export function operationName(endpoint: DhanEndpoint): string {
  switch (endpoint) {
    case 'generate':
      return 'token generation';
    case 'renew':
      return 'token renewal';
    case 'profile':
      return 'profile check';
    case 'consent-generate':
      return 'consent request (API-key login)';
    case 'consent-consume':
      return 'consent token exchange (API-key login)';
  }
}

export function isConsentEndpoint(endpoint: DhanEndpoint): boolean {
  return endpoint === 'consent-generate' || endpoint === 'consent-consume';
}

function defaultAdvice(
  kind: DhanErrorKind,
  endpoint: DhanEndpoint,
  retryAfterMs: number | undefined,
  maybeProcessed: boolean,
): string {
  switch (kind) {
    case 'token-invalid':
      return endpoint === 'generate'
        ? 'Check the client id; a new generation is needed'
        : 'The token is invalid or expired: generate a new one';
    case 'rate-limited':
      return retryAfterMs === undefined
        ? 'Back off before trying again'
        : `Wait at least ${Math.ceil(retryAfterMs / 1000)} s before trying again`;
    case 'credentials-rejected':
      if (isConsentEndpoint(endpoint)) {
        return 'Check apiKey and apiSecret for this account (created on web.dhan.co, valid 12 months) and that they belong to its client id';
      }
      return (
        'Check the client id, PIN and TOTP secret, that TOTP is enabled on the account and that this ' +
        "machine's clock is synced; repeated failures can get TOTP disabled on the account"
      );
    case 'access-denied':
      return (
        'This is not a token problem: check the account on Dhan (Data/Trading API subscription for DH-902, ' +
        'account status for DH-903); regenerating tokens will not help'
      );
    case 'renew-refused':
      return (
        'Dhan does not renew some kinds of token (those made by TOTP generation or an API-key login): ' +
        'check that the token is still live, then get a new one by generation or import instead'
      );
    case 'bad-request':
      return 'Dhan rejected the request itself: check the configured base URLs and client id, or report a bug';
    case 'transient':
      if (!maybeProcessed || endpoint === 'profile') return 'This is likely temporary: retry with backoff';
      return endpoint === 'renew'
        ? 'This is likely temporary, but Dhan may have renewed the token and killed the old one: check it before retrying'
        : 'This is likely temporary, but Dhan may have issued a token we never saw: respect the generation interval';
    case 'unknown':
      return "Check the configured base URLs and Dhan's status; report this answer if it persists";
  }
}

// A JWT (three base64url parts) or any long unbroken run of token-ish characters.
const JWT_LIKE = /[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*/g;
const LONG_TOKEN_LIKE = /[A-Za-z0-9+/=_.~-]{24,}/g;
// eslint-disable-next-line no-control-regex -- matching control characters is the point: they are cut from Dhan's text.
const CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f]+/g;
export const MAX_QUOTED_CHARS = 200;

/**
 * Makes text from Dhan (or from a socket error) safe to put into a message: Dhan might echo what
 * we sent, so the request's own secrets are removed by value, and anything shaped like a token is
 * removed by form.
 */
export function sanitizeDhanText(raw: string, secrets: readonly string[] = []): string {
  let text = raw.replace(CONTROL_CHARS, ' ');
  for (const secret of secrets) {
    // Short values (and the empty string) would shred ordinary words without protecting anything.
    if (secret.length >= 4) text = text.split(secret).join('[redacted]');
  }
  text = text.replace(JWT_LIKE, '[redacted]').replace(LONG_TOKEN_LIKE, '[redacted]').replace(/\s+/g, ' ').trim();
  if (text.length > MAX_QUOTED_CHARS) text = `${text.slice(0, MAX_QUOTED_CHARS - 1)}…`;
  return text;
}
