import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';

/** What the publisher hands each sink for one run. */
export interface SinkContext {
  readonly clock: Clock;
  /** Already bound to the account and the sink name. */
  readonly log: Logger;
  /** Aborts retries and in-flight work when the keeper stops. */
  readonly signal: AbortSignal | undefined;
  readonly retryDelaysMs: readonly number[];
  /** How long a hook gets between SIGTERM and SIGKILL. */
  readonly killGraceMs: number;
  /** Censors the token and any sink secret from texts we did not write. */
  readonly redact: (text: string) => string;
}
