import type { Clock } from '../clock.js';

/**
 * The Dhan simulator's public contract. The simulator is the client's opponent in tests:
 * it shares no parsing or formatting code with src/dhan/ (constants only), so that one
 * bug cannot hide in both.
 *
 * One HTTP server answers both of Dhan's hosts: use its base URL as both `authBaseUrl`
 * and `apiBaseUrl`.
 *   POST /app/generateAccessToken?dhanClientId=&pin=&totp=
 *   GET  /v2/RenewToken            headers access-token, dhanClientId  (POST → 400 DH-905)
 *   GET  /v2/profile               header access-token
 * Control surface for tests and users rehearsing a setup (JSON bodies):
 *   POST /__sim/faults             body: SimFault          → 201 {id}
 *   DELETE /__sim/faults           clear all faults        → 204
 *   POST /__sim/accounts/{id}/kill kill the live tokens    → 204
 *   POST /__sim/accounts/{id}/web-token  issue a Dhan-Web token (renewable) → 201 {accessToken, expiryTime}
 *   PATCH /__sim/accounts/{id}     body: Partial<SimAccountOptions> → 204 (e.g. {"nightlyLogoutAt":"03:00"})
 *   GET  /__sim/stats              → SimStats
 * The API-key (consent) login, for accounts with an app (apiKey, apiSecret, redirectUrl):
 *   POST /app/generate-consent?client_id=     headers app_id, app_secret (25 a day per user)
 *   GET  /login/consentApp-login?consentAppId=  the login page a person opens; its button
 *                                  POSTs back and is answered 302 → {redirectUrl}?tokenId=
 *   GET  /app/consumeApp-consent?tokenId=     headers app_id, app_secret (POST works too)
 *   PUT  /__sim/accounts/{id}/app  body: SimApp: register (or change) the account's app → 204
 *   POST /__sim/consents/{consentAppId}/approve  a person's approval, without a browser
 *                                  → 200 {consentAppId, clientId, tokenId, location}
 */
export interface SimAccount {
  readonly clientId: string;
  readonly pin: string;
  /** Base32, any case, spaces allowed. */
  readonly totpSecret: string;
  readonly name?: string;
  /** The API key ("app_id") of the account's app; with apiSecret, enables the consent flow. */
  readonly apiKey?: string;
  readonly apiSecret?: string;
  /** Where the login page sends the browser with `?tokenId=`. */
  readonly redirectUrl?: string;
}

/** An app registered on Dhan for the API-key login. */
export interface SimApp {
  readonly apiKey: string;
  readonly apiSecret: string;
  readonly redirectUrl?: string;
}

/**
 * Per-account behaviour switches, for tests. Each defaults to Dhan as the field reports it, at its
 * worst where reports differ; the friendlier behaviour is an option a test asks for.
 */
export interface SimAccountOptions {
  /** false: tokens from TOTP generation (JWT tokenConsumerType APP) are refused by RenewToken. */
  readonly renewableTotpTokens: boolean;
  /**
   * How RenewToken refuses a TOTP token when `renewableTotpTokens` is false, each shape seen in
   * the field: 'invalid-token-906' (HTTP 400 DH-906 "Invalid Token"), 'not-allowed-905' (HTTP 500
   * DH-905 "Renewal of token not allowed for this token type"), 'no-token-200' (HTTP 200 without
   * a token). The token stays live in every shape.
   */
  readonly renewRefusal: 'invalid-token-906' | 'not-allowed-905' | 'no-token-200';
  /**
   * "HH:mm" (IST): every token of the account dies at this time each day, as a daily logout
   * before the trading day would kill it; null (default) for none.
   */
  readonly nightlyLogoutAt: string | null;
  /** 'opaque': tokens are random strings, not JWTs (expiry only from expiryTime). */
  readonly tokenFormat: 'jwt' | 'opaque';
  /** 'token': RenewToken answers `{token, expiryTime}` instead of the six documented fields. */
  readonly renewField: 'accessToken' | 'token';
  /** false: every call with a valid token answers DH-902 (lapsed subscription). */
  readonly dataAccess: boolean;
  /** false: generation refused as if TOTP were not enabled. */
  readonly totpEnabled: boolean;
  /**
   * 'every-attempt' (field reports): Dhan counts its generation window from every attempt it
   * processed, refused and rate-limited ones included, and judges the window before the
   * credentials, so a wrong PIN retried too soon alternates "Invalid Pin" and the rate-limit
   * answer. 'success-only': only a generation that issued a token arms the window, and the
   * credentials are judged first.
   */
  readonly generateWindow: 'every-attempt' | 'success-only';
  /** The HTTP status of the rate-limit answer `{"status":"error","message":"Token can be generated once every 2 minutes."}`. */
  readonly rateLimitStatus: 200 | 400;
  /**
   * How generation refuses a wrong PIN or TOTP (and TOTP not enabled), each shape seen from the
   * auth tier: 'status-error' (HTTP 200 `{"status":"error","message":"Invalid Pin"}`),
   * 'message-200' (HTTP 200 `{"message":…}`), 'message-401' (HTTP 401 `{"message":…}`),
   * 'error-403' (HTTP 403 `{"error":…}`).
   */
  readonly generateRefusal: 'status-error' | 'message-200' | 'message-401' | 'error-403';
  /** 'no-millis': expiryTime without milliseconds, e.g. "2025-09-23T12:37:23". */
  readonly expiryTimeFormat: 'millis' | 'no-millis';
  /**
   * false (as reported of Dhan): RenewToken refuses tokens from the API-key login with
   * HTTP 500 DH-905 "Renewal of token not allowed for this token type".
   */
  readonly renewableConsentTokens: boolean;
}

export type SimEndpoint = 'generate' | 'renew' | 'profile' | 'consent-generate' | 'consent-consume';

/**
 * A one-shot (or `times`-shot) misbehaviour. Faults are matched in the order they were added;
 * each match decrements `times` (default 1) and the fault is removed at 0.
 */
export interface SimFault {
  readonly endpoint: SimEndpoint | 'any';
  /** Only for this account; all accounts when absent. */
  readonly clientId?: string;
  readonly times?: number;
  readonly action: SimFaultAction;
}

export type SimFaultAction =
  /** Answer with this status and JSON body (e.g. 503, or a DH error body) without doing the work. */
  | { readonly type: 'status'; readonly status: number; readonly body?: unknown }
  /** A DH-9xx error with Dhan's body shape, e.g. {code:'DH-902', status:400}. */
  | { readonly type: 'dhan-error'; readonly code: string; readonly status?: number }
  /** The "Token can be generated once every 2 minutes." body with this status (200 or 400). */
  | { readonly type: 'rate-limit-body'; readonly status: number }
  /**
   * Wait this many real milliseconds, then behave normally. `onDisconnect` says what a client
   * that hung up during the wait leaves behind: 'process' (default) does the work anyway, as a
   * server that had already taken the request in; 'discard' does nothing, as a server that had
   * not processed it yet (a renewal held this way and abandoned leaves the old token live).
   */
  | { readonly type: 'delay'; readonly ms: number; readonly onDisconnect?: 'process' | 'discard' }
  /** Send this raw text with this status (default 200): truncated JSON, HTML, … */
  | { readonly type: 'raw'; readonly body: string; readonly status?: number; readonly contentType?: string }
  /** A body of `bytes` (default 2 MiB) of valid-looking JSON. */
  | { readonly type: 'huge-body'; readonly bytes?: number }
  /** Destroy the socket without doing the work. */
  | { readonly type: 'drop' }
  /** Do the work (new token committed, old one dead), then destroy the socket: a lost response. */
  | { readonly type: 'drop-after-commit' }
  /**
   * Answer 200 `{"status":"success"}` without a token. With `commit: true` the renewal happened
   * server-side (old token dead, new one never seen); default false (nothing changed).
   */
  | { readonly type: 'no-token'; readonly commit?: boolean };

export interface SimApproval {
  readonly consentAppId: string;
  readonly clientId: string;
  readonly tokenId: string;
  /** The registered redirect URL with `?tokenId=`, as in the 302's Location. */
  readonly location: string;
}

export interface SimStats {
  /** Requests per endpoint per client id (the unknown client counted under ""). */
  readonly calls: Record<SimEndpoint, Record<string, number>>;
  /** RenewToken requests that arrived with a method other than GET. */
  readonly wrongMethod: number;
  /** Generation requests the simulator refused (the two kinds below, unknown client ids); faults are not counted. */
  readonly generationsRefused: Record<string, number>;
  /** Generations refused for the PIN, the TOTP code or TOTP not being enabled. */
  readonly credentialRefusals: Record<string, number>;
  /** Generations answered with the rate-limit answer. */
  readonly rateLimitAnswers: Record<string, number>;
  /**
   * Per account, the TOTP step (epoch s / 30) of the code each generation request carried, in
   * order, faults included (null: no code of a step within one of now). A step listed twice is a
   * code sent twice, which Dhan refuses as "Invalid TOTP". Steps only: codes are never kept.
   */
  readonly generationCodeSteps: Record<string, readonly (number | null)[]>;
  /** Live tokens per client: how many Dhan would accept right now. */
  readonly liveTokens: Record<string, number>;
  /** Consents generated today (IST) per client with an app. */
  readonly consentsToday: Record<string, number>;
}

export interface SimulatorOptions {
  readonly accounts: readonly SimAccount[];
  readonly clock: Clock;
  /** Default 24 h. */
  readonly tokenLifetimeMs?: number;
  /** Default 2 min. */
  readonly generateIntervalMs?: number;
  /** Default 127.0.0.1 and an ephemeral port. */
  readonly host?: string;
  readonly port?: number;
}

export interface Simulator {
  /** e.g. "http://127.0.0.1:43121" */
  readonly baseUrl: string;
  addFault(fault: SimFault): number;
  clearFaults(): void;
  setAccountOptions(clientId: string, options: Partial<SimAccountOptions>): void;
  /** Kills every live token of the account, as a login elsewhere would. */
  killTokens(clientId: string): void;
  /** A renewable token as Dhan Web would issue it, for `import` tests. */
  issueWebToken(clientId: string): { accessToken: string; expiryTime: string; expiresAt: number };
  /** Registers (or replaces) the account's API-key app. */
  registerApp(clientId: string, app: SimApp): void;
  /** A person's approval on the login page: the tokenId and where the browser is sent. */
  approveConsent(consentAppId: string): SimApproval;
  /** Whether Dhan would accept this token right now. */
  isLive(accessToken: string): boolean;
  stats(): SimStats;
  close(): Promise<void>;
}
