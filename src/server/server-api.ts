import type { Registry } from 'prom-client';
import type { Clock } from '../clock.js';
import type { ServerConfig } from '../config/config.js';
import type { AccountStatus } from '../account-status.js';
import type { Logger } from '../log.js';
import type { PublishedToken, StoredToken } from '../tokens.js';
import type { ConsentCallback } from './consent-callback.js';
import type { UiSource } from './ui-types.js';
import type { RejectionReason } from './rejections.js';

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
  /**
   * Several keepers: a consumer holds a token this keeper does not (the leader swapped and its
   * notice is still on the way, or the consumer moved here from another keeper): re-read the
   * account before answering, so that a lagging standby never hands back an older, dead token.
   */
  catchUp?(clientId: string): Promise<void>;
  statuses(): AccountStatus[];
  /**
   * Every account has a live token that liveToken() would hand out now. `notReady` says how
   * many are missing and why in a few aggregated lines (never one per account, never a
   * secret: /readyz answers without authentication).
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
  /** What the status page at `/` shows and does; without it `/` is 404. */
  readonly ui?: UiSource;
  /** Concurrent long-polls beyond this get 503; default 256. */
  readonly maxLongPolls?: number;
  /** Serves GET /v1/consent/callback (no API key: the browser has none; rate-limited). */
  readonly consentCallback?: ConsentCallback;
  /** Sockets held at once (strangers' idle ones are dropped first to make room); default 1024. */
  readonly maxConnections?: number;
  /** Counts every refused request and shed connection, e.g. into dhan_token_api_rejected_total. */
  readonly onRejected?: (reason: RejectionReason) => void;
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
