import { afterEach, describe, expect, it, vi } from 'vitest';
import { FakeClock, SystemClock } from '../../src/clock.js';

const DAY = 86_400_000;

afterEach(() => {
  vi.useRealTimers();
});

describe('SystemClock', () => {
  // The odd edge test where platform fake timers are right: setTimeout overflows past 2^31-1 ms.
  it('fires a 30-day timer after 30 days, not at once (setTimeout overflows past 24.8 days)', () => {
    vi.useFakeTimers({ now: 0 });
    const clock = new SystemClock();
    let fired = 0;
    clock.setTimer(30 * DAY, () => fired++);
    vi.advanceTimersByTime(29 * DAY);
    expect(fired).toBe(0);
    vi.advanceTimersByTime(DAY);
    expect(fired).toBe(1);
  });

  it('cancels, and aborts through a signal', () => {
    vi.useFakeTimers({ now: 0 });
    const clock = new SystemClock();
    let fired = 0;
    clock.setTimer(1_000, () => fired++).cancel();
    const controller = new AbortController();
    clock.setTimer(1_000, () => fired++, controller.signal);
    controller.abort();
    vi.advanceTimersByTime(5_000);
    expect(fired).toBe(0);
  });

  it('sleep rejects with an AbortError when aborted', async () => {
    const clock = new SystemClock();
    const controller = new AbortController();
    const slept = clock.sleep(60_000, controller.signal);
    controller.abort();
    await expect(slept).rejects.toMatchObject({ name: 'AbortError' });
  });
});

describe('FakeClock', () => {
  it('fires timers in due order while advancing, and lets their async work run', async () => {
    const clock = new FakeClock(0);
    const seen: string[] = [];
    clock.setTimer(300, () => seen.push('c'));
    clock.setTimer(100, () => {
      seen.push('a');
      void Promise.resolve().then(() => seen.push('a-then'));
    });
    clock.setTimer(200, () => seen.push('b'));
    expect(clock.nextDueAt()).toBe(100);
    await clock.advance(250);
    expect(seen).toEqual(['a', 'a-then', 'b']);
    expect(clock.now()).toBe(250);
    await clock.advance(50);
    expect(seen.at(-1)).toBe('c');
  });

  it('sleeps on virtual time', async () => {
    const clock = new FakeClock(0);
    let done = false;
    void clock.sleep(10_000).then(() => (done = true));
    await clock.advance(9_999);
    expect(done).toBe(false);
    await clock.advance(1);
    expect(done).toBe(true);
  });
});
