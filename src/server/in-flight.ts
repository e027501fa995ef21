import type { InFlight } from './handler.js';

/**
 * Counts requests being answered, so that close() can let them finish. A count and one
 * promise made only when someone waits, rather than a promise per request: this sits on the
 * token API's hot path.
 */
export class RequestCounter implements InFlight {
  #count = 0;
  #waiters: (() => void)[] = [];

  begin(): void {
    this.#count++;
  }

  end(): void {
    this.#count--;
    if (this.#count === 0 && this.#waiters.length > 0) for (const wake of this.#waiters.splice(0)) wake();
  }

  get size(): number {
    return this.#count;
  }

  /** Resolves once no request is in flight (at once if none is). */
  drained(): Promise<void> {
    if (this.#count === 0) return Promise.resolve();
    return new Promise<void>((resolve) => this.#waiters.push(resolve));
  }
}
