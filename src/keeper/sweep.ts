import cron from 'node-cron';

/** Starts the periodic safety sweep; returns a function that stops it. */
export type SweepStarter = (tick: () => void) => () => Promise<void>;

/**
 * The sweep re-plans every account on a wall-clock schedule (node-cron), catching what a timer
 * alone misses: a laptop suspend, an NTP step, a timer lost to a bug. It is a safety net, so it
 * runs on real time even when the keeper's logic runs on an injected clock.
 */
export function cronSweep(expression: string): SweepStarter {
  return (tick) => {
    const task = cron.schedule(expression, tick, { name: 'dhan-token-keeper-sweep', noOverlap: true });
    return async () => {
      await task.destroy();
    };
  };
}

/** No sweep: for one-shot commands and tests that drive time themselves. */
export const noSweep: SweepStarter = () => async () => undefined;
