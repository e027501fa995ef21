import type { Clock } from '../clock.js';

/** Why a wait ended; the caller re-reads the token in every case but 'aborted'. */
export type WaitOutcome = 'changed' | 'timeout' | 'aborted' | 'closing';

interface Waiter {
  settle(outcome: WaitOutcome): void;
}

/**
 * The parked long-polls, woken per account by the keeper's swap notification. Waking is
 * synchronous fan-out, so a consumer hears of a new token in the same tick it became durable
 * (docs/promises.md, promise 1). Slots are counted per request, not per wait, so that one request
 * that wakes and waits again never loses its place to a newcomer.
 */
export class LongPolls {
  private readonly waiters = new Map<string, Set<Waiter>>();
  private active = 0;
  private closing = false;

  constructor(
    private readonly max: number,
    private readonly clock: Clock,
  ) {}

  /** Takes a slot; false when the cap is reached or the server is closing. */
  begin(): boolean {
    if (this.closing || this.active >= this.max) return false;
    this.active++;
    return true;
  }

  end(): void {
    this.active = Math.max(0, this.active - 1);
  }

  get inFlight(): number {
    return this.active;
  }

  /** Parks until the account's token changes, `ms` pass, `signal` aborts or the server closes. */
  wait(clientId: string, ms: number, signal: AbortSignal): Promise<WaitOutcome> {
    if (this.closing) return Promise.resolve('closing');
    if (signal.aborted) return Promise.resolve('aborted');
    return new Promise<WaitOutcome>((resolve) => {
      let set = this.waiters.get(clientId);
      if (!set) {
        set = new Set();
        this.waiters.set(clientId, set);
      }
      const parked = set;
      const waiter: Waiter = {
        settle: (outcome) => {
          timer.cancel();
          signal.removeEventListener('abort', onAbort);
          parked.delete(waiter);
          if (parked.size === 0 && this.waiters.get(clientId) === parked) this.waiters.delete(clientId);
          resolve(outcome);
        },
      };
      const onAbort = (): void => waiter.settle('aborted');
      const timer = this.clock.setTimer(ms, () => waiter.settle('timeout'));
      signal.addEventListener('abort', onAbort, { once: true });
      parked.add(waiter);
    });
  }

  /** Called from the keeper's swap notification: must not throw. */
  wake(clientId: string): void {
    const set = this.waiters.get(clientId);
    if (!set) return;
    // settle() edits the set; iterate over a copy.
    for (const waiter of [...set]) waiter.settle('changed');
  }

  /** Ends every wait now and refuses new ones. */
  closeAll(): void {
    this.closing = true;
    for (const set of [...this.waiters.values()]) {
      for (const waiter of [...set]) waiter.settle('closing');
    }
  }
}
