import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import type { ApiKeyRing } from './auth.js';
import type { CallbackRateLimit, ConsentCallback } from './consent-callback.js';
import type { LongPolls } from './long-polls.js';
import type { TokenProvider } from './types.js';

/** What every route may use; built once per server. */
export interface ServerDeps {
  readonly provider: TokenProvider;
  readonly keys: ApiKeyRing;
  readonly polls: LongPolls;
  readonly registry: Registry | undefined;
  readonly zone: string;
  readonly clock: Clock;
  readonly log: Logger;
  /** The API-key login's redirect target; absent when no account logs in that way. */
  readonly consentCallback: ConsentCallback | undefined;
  readonly callbackLimit: CallbackRateLimit;
}

/** One request. `signal` aborts when the consumer goes away before its answer is written. */
export interface RequestContext {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly url: URL;
  readonly signal: AbortSignal;
  readonly remote: string;
  /** Filled in by routes for the access log; never a secret. */
  readonly logFields: { keyName?: string; clientId?: string };
}

export type Route = (deps: ServerDeps, ctx: RequestContext) => void | Promise<void>;
