/**
 * The only source of time for logic. Every time-based module takes a Clock so that
 * a whole keeper-and-Dhan world can live 30 virtual days in seconds.
 * Never `Date.now()` or `setTimeout` in logic, and `vi.useFakeTimers` only for an odd edge test.
 */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
  /**
   * Calls `fn` once after `ms`. Cancelling is idempotent. An aborted signal cancels too.
   * Long delays are fine: implementations clamp what they hand to the platform.
   */
  setTimer(ms: number, fn: () => void, signal?: AbortSignal): Timer;
  /** Resolves after `ms`; rejects with an AbortError if `signal` aborts first. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export interface Timer {
  cancel(): void;
}

/** setTimeout stores its delay in a signed 32-bit int: past ~24.8 days it fires at once. */
export const MAX_PLATFORM_DELAY_MS = 2_147_483_647;
/** We re-arm long timers in hops well below the limit. */
const LONG_TIMER_HOP_MS = 6 * 60 * 60 * 1000;

export function abortError(signal?: AbortSignal): Error {
  const reason: unknown = signal?.reason;
  if (reason instanceof Error && reason.name === 'AbortError') return reason;
  const err = new Error('The operation was aborted');
  err.name = 'AbortError';
  return err;
}

export function isAbortError(err: unknown): boolean {
  return err instanceof Error && (err.name === 'AbortError' || err.name === 'TimeoutError');
}

function sleepWith(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortError(signal));
      return;
    }
    const onAbort = (): void => {
      timer.cancel();
      reject(abortError(signal));
    };
    const timer = clock.setTimer(ms, () => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    });
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Wall-clock time; timers are re-armed in hops so that a 30-day wait neither overflows nor drifts. */
export class SystemClock implements Clock {
  now(): number {
    return Date.now();
  }

  setTimer(ms: number, fn: () => void, signal?: AbortSignal): Timer {
    const dueAt = Date.now() + Math.max(0, ms);
    let handle: NodeJS.Timeout | undefined;
    let cancelled = false;
    const cancel = (): void => {
      cancelled = true;
      if (handle) clearTimeout(handle);
      signal?.removeEventListener('abort', cancel);
    };
    const arm = (): void => {
      if (cancelled) return;
      const left = dueAt - Date.now();
      if (left <= 0) {
        signal?.removeEventListener('abort', cancel);
        fn();
        return;
      }
      handle = setTimeout(arm, Math.min(left, LONG_TIMER_HOP_MS));
      // A pending refresh must not keep a CLI process alive; the daemon is kept alive by its server.
      handle.unref();
    };
    if (signal?.aborted) return { cancel };
    signal?.addEventListener('abort', cancel, { once: true });
    arm();
    return { cancel };
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return sleepWith(this, ms, signal);
  }
}

export const systemClock: Clock = new SystemClock();

interface FakeTimerEntry {
  id: number;
  dueAt: number;
  fn: () => void;
}

/**
 * A clock that only moves when a test moves it. Timers fire in due order; after each one
 * the fake clock yields to the event loop so that promise chains and real I/O started by
 * the callback get a chance to run before the next timer fires.
 */
export class FakeClock implements Clock {
  private current: number;
  private nextId = 1;
  private readonly timers = new Map<number, FakeTimerEntry>();

  constructor(startMs: number = Date.UTC(2026, 0, 5, 3, 30, 0)) {
    this.current = startMs;
  }

  now(): number {
    return this.current;
  }

  setTimer(ms: number, fn: () => void, signal?: AbortSignal): Timer {
    const id = this.nextId++;
    const cancel = (): void => {
      this.timers.delete(id);
      signal?.removeEventListener('abort', cancel);
    };
    if (signal?.aborted) return { cancel };
    this.timers.set(id, {
      id,
      dueAt: this.current + Math.max(0, ms),
      fn: () => {
        signal?.removeEventListener('abort', cancel);
        fn();
      },
    });
    signal?.addEventListener('abort', cancel, { once: true });
    return { cancel };
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return sleepWith(this, ms, signal);
  }

  /** When the earliest pending timer is due, or undefined when none is pending. */
  nextDueAt(): number | undefined {
    let earliest: number | undefined;
    for (const t of this.timers.values()) {
      if (earliest === undefined || t.dueAt < earliest) earliest = t.dueAt;
    }
    return earliest;
  }

  pendingTimers(): number {
    return this.timers.size;
  }

  /** Moves time forward by `ms`, firing every timer that falls due on the way. */
  async advance(ms: number): Promise<void> {
    await this.advanceTo(this.current + ms);
  }

  async advanceTo(targetMs: number): Promise<void> {
    for (;;) {
      const next = this.takeDue(targetMs);
      if (!next) break;
      this.current = Math.max(this.current, next.dueAt);
      next.fn();
      await settleEventLoop();
    }
    this.current = Math.max(this.current, targetMs);
    await settleEventLoop();
  }

  /** Jumps the wall clock without firing timers, as a suspend/resume or NTP step would. */
  jump(ms: number): void {
    this.current += ms;
  }

  private takeDue(targetMs: number): FakeTimerEntry | undefined {
    let due: FakeTimerEntry | undefined;
    for (const t of this.timers.values()) {
      if (t.dueAt <= targetMs && (!due || t.dueAt < due.dueAt || (t.dueAt === due.dueAt && t.id < due.id))) {
        due = t;
      }
    }
    if (due) this.timers.delete(due.id);
    return due;
  }
}

/** Lets queued microtasks and immediate callbacks run. */
export async function settleEventLoop(rounds = 3): Promise<void> {
  for (let i = 0; i < rounds; i++) {
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}
