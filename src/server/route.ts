import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import type { ApiKeyRing } from './auth.js';
import type { ConnectionGuard } from './connection-guard.js';
import type { CallbackRateLimit, ConsentCallback } from './consent-callback.js';
import type { LongPolls } from './long-polls.js';
import type { TokenAnswers } from './token-answer.js';
import type { RejectionLog, RejectionReason } from './rejections.js';
import type { RequestTarget } from './request-target.js';
import type { TokenProvider } from './server-api.js';
import type { UiAsset } from './ui-assets.js';
import type { UiEvents } from './ui-events.js';
import type { UiSessions } from './ui-sessions.js';
import type { UiSnapshot } from './ui-state.js';
import type { UiSource } from './ui-types.js';

/** The status page's parts; absent when the process serves no page (tests of the token API). */
export interface UiDeps {
  readonly source: UiSource;
  readonly sessions: UiSessions;
  readonly events: UiEvents;
  readonly assets: ReadonlyMap<string, UiAsset>;
  /** Why the page's files could not be loaded, if they could not. */
  readonly problem: string | undefined;
  snapshot(): Promise<UiSnapshot>;
}

/** What every route may use; built once per server. */
export interface ServerDeps {
  readonly provider: TokenProvider;
  readonly keys: ApiKeyRing;
  readonly polls: LongPolls;
  readonly answers: TokenAnswers;
  readonly registry: Registry | undefined;
  readonly zone: string;
  readonly clock: Clock;
  readonly log: Logger;
  readonly rejections: RejectionLog;
  readonly connections: ConnectionGuard;
  readonly ui: UiDeps | undefined;
  /** The API-key login's redirect target; absent when no account logs in that way. */
  readonly consentCallback: ConsentCallback | undefined;
  readonly callbackLimit: CallbackRateLimit;
}

/**
 * One request. `signal` aborts when the consumer goes away before its answer is written; it is
 * made on first use, since only a long-poll waits long enough to need one.
 */
export interface RequestContext {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly url: RequestTarget;
  readonly signal: AbortSignal;
  readonly remote: string;
  /** Filled in by routes for the access log; never a secret. */
  readonly logFields: { keyName?: string; clientId?: string; rejected?: RejectionReason };
}

export type Route = (deps: ServerDeps, ctx: RequestContext) => void | Promise<void>;
