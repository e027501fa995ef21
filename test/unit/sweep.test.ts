import { afterEach, describe, expect, it, vi } from 'vitest';
import { cronSweep } from '../../src/keeper/sweep.js';

/*
 * The sweep runs on the real wall clock and real timers (it is the safety net under the injected
 * clock), so these drive it with vitest's fake timers. Times are built in the host's zone, as the
 * sweep reads its expression there.
 */

afterEach(() => {
  vi.useRealTimers();
});

const local = (hour: number, minute: number, second = 0): Date => new Date(2026, 11, 3, hour, minute, second);

function start(expression: string, at: Date): { ticks: Date[]; stop: () => Promise<void> } {
  vi.useFakeTimers({ now: at });
  const ticks: Date[] = [];
  const stop = cronSweep(expression)(() => ticks.push(new Date()));
  return { ticks, stop };
}

describe('the safety sweep', () => {
  it('fires at each moment of its expression, and not before', async () => {
    const sweep = start('* * * * *', local(10, 0, 30));
    await vi.advanceTimersByTimeAsync(29_000);
    expect(sweep.ticks).toEqual([]);
    await vi.advanceTimersByTimeAsync(1_000);
    await vi.advanceTimersByTimeAsync(120_000);
    expect(sweep.ticks).toEqual([local(10, 1), local(10, 2), local(10, 3)]);
    await sweep.stop();
  });

  it('waits for a distant moment without firing early', async () => {
    const sweep = start('*/5 * * * *', local(10, 0, 30));
    await vi.advanceTimersByTimeAsync(269_000);
    expect(sweep.ticks).toEqual([]);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(sweep.ticks).toEqual([local(10, 5)]);
    await sweep.stop();
  });

  it('fires within a minute of waking from a suspend that slept through its moment', async () => {
    const sweep = start('0 * * * *', local(10, 0, 30));
    // Suspended: the wall clock moves on, the timers do not.
    vi.setSystemTime(local(11, 30));
    await vi.advanceTimersByTimeAsync(60_000);
    expect(sweep.ticks).toEqual([local(11, 31)]);
    await vi.advanceTimersByTimeAsync(29 * 60_000);
    expect(sweep.ticks).toEqual([local(11, 31), local(12, 0)]);
    await sweep.stop();
  });

  it('re-reads its next moment after the clock is stepped back', async () => {
    const sweep = start('0 * * * *', local(10, 0, 30));
    vi.setSystemTime(local(8, 0));
    await vi.advanceTimersByTimeAsync(61 * 60_000);
    // Due at 09:00 on the new clock, not at the 11:00 read before the step.
    expect(sweep.ticks).toEqual([local(9, 0)]);
    await sweep.stop();
  });

  it('stops firing once stopped', async () => {
    const sweep = start('* * * * *', local(10, 0, 30));
    await vi.advanceTimersByTimeAsync(30_000);
    await sweep.stop();
    await vi.advanceTimersByTimeAsync(600_000);
    expect(sweep.ticks).toEqual([local(10, 1)]);
    expect(vi.getTimerCount()).toBe(0);
  });
});
