import type { Clock } from '../clock.js';
import type { AccountConfig, NotifyChannelConfig, NotifyConfig } from '../config/config.js';
import type { Logger } from '../log.js';
import { withRetries } from '../publish/retry.js';
import type { AsyncStore } from '../store/contract.js';
import { deliver, type DeliveryTry } from './channels.js';
import type { NotifyEvent } from './event.js';

/** A failed delivery is tried again after these waits: long enough for a flaky phone network. */
const RETRY_DELAYS_MS = [2_000, 10_000, 30_000];

export interface ChannelOutcome {
  readonly channel: string;
  readonly ok: boolean;
  readonly attempts: number;
  readonly error?: string;
}

export interface NotifierDeps {
  readonly config: NotifyConfig;
  readonly accounts: readonly AccountConfig[];
  readonly store: AsyncStore;
  readonly clock: Clock;
  readonly log: Logger;
  /** For the metric dhan_token_notify_total{channel,result}. */
  readonly onResult?: (channel: string, result: 'success' | 'failure') => void;
  /** Tests shorten the retry waits. */
  readonly retryDelaysMs?: readonly number[];
}

/**
 * Tells people, best-effort but honestly: deliveries run beside the keeper (never awaited by a
 * refresh), retry with growing waits, and each outcome is a history row and a metric. The same
 * event about the same account goes out at most once per `repeatEvery` while it lasts.
 */
export class Notifier {
  private readonly lastSent = new Map<string, number>();
  private readonly inflight = new Set<Promise<unknown>>();
  private readonly abort = new AbortController();

  constructor(private readonly deps: NotifierDeps) {}

  get hasChannels(): boolean {
    return this.deps.config.channels.length > 0;
  }

  /** Whether `notify` would send this event now (some channel wants it, and it is not a repeat too soon). */
  wouldSend(kind: NotifyEvent['kind'], clientId: string | null): boolean {
    if (this.channelsFor(kind, clientId).length === 0) return false;
    const last = this.lastSent.get(key(kind, clientId));
    return last === undefined || this.deps.clock.now() - last >= this.deps.config.repeatEveryMs;
  }

  /** Sends in the background; false when nothing was sent (no channel wants it, or too soon). */
  notify(event: NotifyEvent): boolean {
    if (!this.wouldSend(event.kind, event.clientId)) return false;
    this.lastSent.set(key(event.kind, event.clientId), this.deps.clock.now());
    for (const channel of this.channelsFor(event.kind, event.clientId)) {
      const sending = this.send(channel, event).finally(() => this.inflight.delete(sending));
      this.inflight.add(sending);
    }
    return true;
  }

  /** The condition ended: its next occurrence is news again, whatever repeatEvery says. */
  forget(kind: NotifyEvent['kind'], clientId: string | null): void {
    this.lastSent.delete(key(kind, clientId));
  }

  /** `notify-test`: one message on every channel, filters ignored, waited for. */
  async sendTest(event: NotifyEvent): Promise<ChannelOutcome[]> {
    return Promise.all(this.deps.config.channels.map((channel) => this.send(channel, event)));
  }

  async idle(): Promise<void> {
    while (this.inflight.size > 0) await Promise.allSettled([...this.inflight]);
  }

  /** Stops retry waits; deliveries in flight end as failures. */
  async stop(): Promise<void> {
    this.abort.abort();
    await this.idle();
  }

  private channelsFor(kind: NotifyEvent['kind'], clientId: string | null): NotifyChannelConfig[] {
    const account = clientId === null ? undefined : this.deps.accounts.find((a) => a.clientId === clientId);
    return this.deps.config.channels.filter((channel) => {
      if (kind !== 'test' && !channel.events.includes(kind)) return false;
      if (channel.accounts === '*' || clientId === null) return true;
      return channel.accounts.includes(clientId) || (account !== undefined && channel.accounts.includes(account.name));
    });
  }

  private async send(channel: NotifyChannelConfig, event: NotifyEvent): Promise<ChannelOutcome> {
    const { store, clock, log } = this.deps;
    const started = clock.now();
    let outcome: { last: DeliveryTry; attempts: number };
    try {
      outcome = await withRetries(this.deps.retryDelaysMs ?? RETRY_DELAYS_MS, clock, this.abort.signal, () =>
        deliver(channel, event, this.abort.signal),
      );
    } catch (err) {
      outcome = {
        last: { ok: false, retryable: false, error: err instanceof Error ? err.message : String(err) },
        attempts: 1,
      };
    }
    const { last, attempts } = outcome;
    const result = last.ok ? 'success' : 'failure';
    try {
      await store.addEvent({
        clientId: event.clientId,
        at: clock.now(),
        kind: 'notify',
        result,
        message: last.ok
          ? `${channel.name}: ${event.kind} sent`
          : `${channel.name}: ${event.kind} not sent (${last.error ?? 'failed'})`,
        durationMs: clock.now() - started,
        detail: {
          channel: channel.name,
          type: channel.type,
          event: event.kind,
          attempts,
          ...(last.httpStatus === undefined ? {} : { httpStatus: last.httpStatus }),
        },
      });
    } catch (err) {
      log.error({ err: err instanceof Error ? err.message : String(err) }, 'could not record a notification');
    }
    this.deps.onResult?.(channel.name, result);
    if (last.ok)
      log.info({ channel: channel.name, event: event.kind, clientId: event.clientId, attempts }, 'notification sent');
    else
      log.warn(
        { channel: channel.name, event: event.kind, clientId: event.clientId, attempts, error: last.error },
        'notification not sent',
      );
    return { channel: channel.name, ok: last.ok, attempts, ...(last.error === undefined ? {} : { error: last.error }) };
  }
}

function key(kind: string, clientId: string | null): string {
  return `${kind}\0${clientId ?? ''}`;
}
