import type { Clock } from '../clock.js';

/** The calls the keeper makes to Dhan: three for tokens, two for the API-key (consent) login. */
export type DhanEndpoint = 'generate' | 'renew' | 'profile' | 'consent-generate' | 'consent-consume';

/**
 * Stable classification of every Dhan failure (docs/dhan-quirks.md, "Errors: DH codes and our readings").
 * - token-invalid: the token is dead (DH-901; DH-906 on renew) → generate.
 * - rate-limited: DH-904, HTTP 429, "once every 2 minutes" → wait `retryAfterMs`.
 * - credentials-rejected: generation refused for PIN, TOTP or client id → stop, alert.
 * - access-denied: DH-902/DH-903, not a token problem → stop, alert, never loop.
 * - renew-refused: Dhan refused a renewal without saying the token is dead (DH-905 on renew,
 *   seen as HTTP 500 "Renewal of token not allowed for this token type" for TOTP and consent
 *   tokens) → check the token, then generate instead. Only renew answers carry it.
 * - bad-request: DH-905 elsewhere, DH-906 on generate (a bug or bad config).
 * - transient: network, timeout, 5xx, DH-907..910, malformed body → retry with backoff.
 * - unknown: anything else.
 */
export type DhanErrorKind =
  | 'token-invalid'
  | 'rate-limited'
  | 'credentials-rejected'
  | 'access-denied'
  | 'renew-refused'
  | 'bad-request'
  | 'transient'
  | 'unknown';

/** A token Dhan handed out, with its expiry already read correctly. Times are epoch ms. */
export interface IssuedToken {
  readonly accessToken: string;
  /** From the JWT's `exp` when it decodes, else `expiryTime` read in the configured zone. */
  readonly expiresAt: number;
  /** Dhan's IST wall-clock expiry, normalised to "yyyy-MM-ddTHH:mm:ss.SSS". */
  readonly expiryTime: string;
  /** The JWT's `iat` when it decodes. */
  readonly issuedAt: number | undefined;
}

export interface Profile {
  readonly dhanClientId: string;
  /** Raw "DD/MM/YYYY HH:mm" IST string as Dhan sends it. */
  readonly tokenValidity: string | undefined;
  /** `tokenValidity` as epoch ms, when it parses. */
  readonly tokenValidUntil: number | undefined;
}

/** Reported after every call, for metrics and logs. Never carries a secret. */
export interface DhanCallReport {
  readonly endpoint: DhanEndpoint;
  /** 'success' or the error kind. */
  readonly outcome: 'success' | DhanErrorKind;
  readonly durationMs: number;
  readonly httpStatus: number | undefined;
  /** Dhan's Date header minus our clock, when the response had one. */
  readonly clockSkewMs: number | undefined;
}

export interface DhanClientOptions {
  readonly authBaseUrl: string;
  readonly apiBaseUrl: string;
  /** Zone of Dhan's offset-less `expiryTime` (Asia/Kolkata). */
  readonly timezone: string;
  readonly requestTimeoutMs: number;
  readonly clock: Clock;
  readonly fetch?: typeof fetch;
  readonly onCall?: (report: DhanCallReport) => void;
  /** Default "dhan-token-keeper/<version from package.json>". */
  readonly userAgent?: string;
}

export interface GenerateRequest {
  readonly clientId: string;
  readonly pin: string;
  readonly totp: string;
}

export interface RenewRequest {
  readonly clientId: string;
  readonly accessToken: string;
}

/** The API key and secret Dhan calls `app_id` and `app_secret`. Both secrets. */
export interface AppCredentials {
  readonly apiKey: string;
  readonly apiSecret: string;
}

/** A consent Dhan created: a person logs in with its id, and Dhan redirects them with a tokenId. */
export interface Consent {
  readonly consentAppId: string;
  /** Dhan's `consentAppStatus`, e.g. "GENERATED". */
  readonly consentAppStatus: string | undefined;
}

/** What consuming a consent's tokenId gives: a token, and whose it is. */
export interface ConsentToken extends IssuedToken {
  readonly dhanClientId: string;
}

/** Dhan's API-key login (consent): the person's browser step sits between the two calls. */
export interface DhanConsentApi {
  generateConsent(clientId: string, credentials: AppCredentials, signal?: AbortSignal): Promise<Consent>;
  /** The page the person opens to log in; holds no secret. */
  consentLoginUrl(consentAppId: string): string;
  consumeConsent(tokenId: string, credentials: AppCredentials, signal?: AbortSignal): Promise<ConsentToken>;
}

export interface DhanApi {
  generateToken(req: GenerateRequest, signal?: AbortSignal): Promise<IssuedToken>;
  renewToken(req: RenewRequest, signal?: AbortSignal): Promise<IssuedToken>;
  getProfile(accessToken: string, signal?: AbortSignal): Promise<Profile>;
}
