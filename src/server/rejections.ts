import type { Clock, Timer } from '../clock.js';
import type { Logger } from '../log.js';

export { REJECTION_REASONS, type RejectionReason } from '../rejection-reasons.js';
import type { RejectionReason } from '../rejection-reasons.js';

const MESSAGES: Readonly<Record<RejectionReason, string>> = {
  'no-keys': 'rejected a token request: no API keys are configured',
  'missing-key': 'rejected a request without an API key',
  'bad-scheme': 'rejected a request with a non-Bearer Authorization header',
  'unknown-key': 'rejected an unknown API key',
  forbidden: 'API key is not allowed this client',
  'unknown-client': 'rejected a request for an unknown client id',
  'bad-request': 'rejected a malformed token request',
  'not-found': 'rejected a request for an unknown path',
  'bad-method': 'rejected a request with a method other than GET',
  body: 'rejected a request with a body',
  'connection-shed': 'dropped connections that never presented an API key to make room',
};

export interface RejectionLogOptions {
  readonly log: Logger;
  readonly clock: Clock;
  /** Length of an aggregation window per source and reason. */
  readonly intervalMs: number;
  /** Distinct sources tracked per window; more are counted under source "other". */
  readonly maxSources: number;
  /** Counts every rejection (the metric); must not throw. */
  readonly count?: (reason: RejectionReason) => void;
}

interface Window {
  readonly remote: string;
  readonly reason: RejectionReason;
  readonly fields: Readonly<Record<string, string>>;
  /** Rejections after the first, which was logged at once. */
  more: number;
}

/**
 * Refused requests cost a stranger nothing, so they must not cost us a log line each: under
 * journald a flood of them would push the rate limit over and drop the lines that matter
 * (a failing renewal). The first refusal per source and reason is logged at once, so a bot
 * with a typo'd key is visible immediately; the rest of that window becomes one line with a
 * count when the window closes. The metric counts every one.
 */
export class RejectionLog {
  private readonly windows = new Map<string, Window>();
  private timer: Timer | undefined;

  constructor(private readonly options: RejectionLogOptions) {}

  /** `fields` are extra, non-secret context for the first line (a key's name, a client id). */
  record(remote: string, reason: RejectionReason, fields: Readonly<Record<string, string>> = {}): void {
    try {
      this.options.count?.(reason);
    } catch {
      // A metric must never turn a refusal into a crash.
    }
    const source =
      this.windows.has(`${remote} ${reason}`) || this.sources() < this.options.maxSources ? remote : 'other';
    const key = `${source} ${reason}`;
    const open = this.windows.get(key);
    if (open) {
      open.more++;
      return;
    }
    this.windows.set(key, { remote: source, reason, fields, more: 0 });
    this.options.log.warn({ remote: source, reason, ...fields }, MESSAGES[reason]);
    this.timer ??= this.options.clock.setTimer(this.options.intervalMs, () => this.flush());
  }

  /** Writes the pending counts; called when the window ends and when the server closes. */
  flush(): void {
    this.timer?.cancel();
    this.timer = undefined;
    const seconds = Math.round(this.options.intervalMs / 1000);
    for (const window of this.windows.values()) {
      if (window.more === 0) continue;
      this.options.log.warn(
        { remote: window.remote, reason: window.reason, count: window.more, windowSeconds: seconds },
        `${MESSAGES[window.reason]} (${window.more} more in the last ${seconds} s)`,
      );
    }
    this.windows.clear();
  }

  private sources(): number {
    return new Set([...this.windows.values()].map((w) => w.remote)).size;
  }
}
