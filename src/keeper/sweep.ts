import { nextOccurrence, parseCron } from '../cron-times.js';

/** Starts the periodic safety sweep; returns a function that stops it. */
export type SweepStarter = (tick: () => void) => () => Promise<void>;

/**
 * The longest one timer of the sweep waits before it looks at the wall clock again. A timer
 * counts time the host is awake; after a suspend the wall clock is ahead of it, and a step of the
 * clock moves the moment the sweep is due.
 */
const RECHECK_MS = 60_000;

/**
 * The sweep re-plans every account on a wall-clock schedule (a cron expression in the host's
 * zone, as node-cron reads one), catching what a timer alone misses: a laptop suspend, an NTP
 * step, a timer lost to a bug. It is a safety net, so it runs on real time even when the keeper's
 * logic runs on an injected clock.
 *
 * node-cron parses the expression; the timer is ours because node-cron's scheduler reads the
 * wall clock through `Intl.DateTimeFormat` on every firing, and the first such formatter loads
 * ICU's data into the process for good (about 8 MB, see src/luxon.ts), for a sweep that needs
 * none of it.
 */
export function cronSweep(expression: string): SweepStarter {
  const schedule = parseCron(expression, 'system');
  return (tick) => {
    let stopped = false;
    let timer: NodeJS.Timeout | undefined;
    let lookedAt = Date.now();
    let due = nextOccurrence(schedule, lookedAt);
    const arm = (): void => {
      if (stopped || due === undefined) return;
      timer = setTimeout(look, Math.min(Math.max(0, due - Date.now()), RECHECK_MS));
    };
    const look = (): void => {
      const now = Date.now();
      // Stepped back: the moment computed before the step may be hours away now.
      if (now < lookedAt) due = nextOccurrence(schedule, now);
      lookedAt = now;
      if (due === undefined || now < due) {
        arm();
        return;
      }
      due = nextOccurrence(schedule, now);
      try {
        tick();
      } finally {
        arm();
      }
    };
    arm();
    return async () => {
      stopped = true;
      clearTimeout(timer);
    };
  };
}

/** No sweep: for one-shot commands and tests that drive time themselves. */
export const noSweep: SweepStarter = () => async () => undefined;
