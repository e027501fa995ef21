import { KeeperError } from '../errors.js';

/**
 * - unauthorized (401): the API key is missing or unknown to the keeper.
 * - forbidden (403): the key may not read this client's token.
 * - unknown-client (404): the keeper has no such account.
 * - unavailable (503): no live token right now, or the keeper is busy or stopping: retry.
 * - bad-request (400): the client sent something the server refused (a bug here).
 * - bad-response: the answer was not the token JSON we expect (wrong URL? a proxy page?).
 * - http-error: any other status.
 * - network: no answer at all (refused, reset, timeout).
 */
export type TokenClientErrorCode =
  | 'unauthorized'
  | 'forbidden'
  | 'unknown-client'
  | 'unavailable'
  | 'bad-request'
  | 'bad-response'
  | 'http-error'
  | 'network';

/** Never carries the key or a token: only the status and the server's own (secret-free) message. */
export class TokenClientError extends KeeperError {
  override readonly code: TokenClientErrorCode;
  /** HTTP status, or undefined when no answer came. */
  readonly status: number | undefined;
  /** Seconds from the server's Retry-After, when it sent one. */
  readonly retryAfterSeconds: number | undefined;
  /** The keeper's own error code from the body (e.g. "no-live-token", "busy"), when it sent one. */
  readonly serverError: string | undefined;

  constructor(
    code: TokenClientErrorCode,
    message: string,
    details: { status?: number; retryAfterSeconds?: number; serverError?: string; cause?: unknown } = {},
  ) {
    super(code, message, details.cause === undefined ? undefined : { cause: details.cause });
    this.code = code;
    this.status = details.status;
    this.retryAfterSeconds = details.retryAfterSeconds;
    this.serverError = details.serverError;
  }

  /** Worth trying again later without changing anything. */
  get retryable(): boolean {
    return this.code === 'unavailable' || this.code === 'network' || (this.status !== undefined && this.status >= 500);
  }
}

const CODES: Readonly<Record<number, TokenClientErrorCode>> = {
  400: 'bad-request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'unknown-client',
  503: 'unavailable',
};

export function codeForStatus(status: number): TokenClientErrorCode {
  return CODES[status] ?? 'http-error';
}
