import type { Registry } from 'prom-client';
import type { Clock } from '../clock.js';
import type { ServerConfig } from '../config/types.js';
import type { AccountStatus } from '../keeper/status.js';
import type { Logger } from '../log.js';
import type { PublishedToken, StoredToken } from '../types.js';
import type { ConsentCallback } from './consent-callback.js';

/**
 * What the server needs from the keeper. The server only reads committed state: it never
 * refreshes, so a slow or failing consumer can never delay or trigger a swap.
 */
export interface TokenProvider {
  /** The account's current token if it is live now, else undefined. */
  liveToken(clientId: string): StoredToken | undefined;
  /**
   * Called after every swap (the new token is already durable). Returns an unsubscribe.
   * Listeners must be cheap and must not throw; the server's does both.
   */
  onTokenChange(listener: (clientId: string) => void): () => void;
  isKnownClient(clientId: string): boolean;
  statuses(): AccountStatus[];
  /**
   * Store open and every account has a live token or a refresh in progress.
   * `notReady` holds lines like "1000000001 (main): expired" — never a secret, since
   * /readyz answers without authentication.
   */
  readiness(): { ready: boolean; notReady: string[] };
}

export interface ServerOptions {
  readonly config: ServerConfig;
  /** Zone of the ISO times in token answers (the trader's, Asia/Kolkata). */
  readonly timezone: string;
  readonly provider: TokenProvider;
  /** Served at /metrics; without one, /metrics is 404. */
  readonly metricsRegistry?: Registry;
  readonly log: Logger;
  /** Long-poll deadlines and access-log durations; default the system clock. */
  readonly clock?: Clock;
  /** Concurrent long-polls beyond this get 503; default 256. */
  readonly maxLongPolls?: number;
  /** Serves GET /v1/consent/callback (no API key: the browser has none; rate-limited). */
  readonly consentCallback?: ConsentCallback;
}

export interface RunningServer {
  /** e.g. "http://127.0.0.1:9470" (the real port when 0 was asked for). */
  readonly url: string;
  /** Answers pending long-polls with 503, closes every connection, resolves when the port is free. */
  close(): Promise<void>;
}

/** The body of a 200 from GET /v1/tokens/{clientId}: the published token and its fingerprint. */
export interface TokenResponseBody extends PublishedToken {
  /** First 12 hex digits of sha256(accessToken): the long-poll's `after`, safe to log. */
  readonly fingerprint: string;
}
