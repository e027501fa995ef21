import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../src/clock.js';
import { ProbeWheel } from '../../src/keeper/probe-wheel.js';

const SLOT = 5_000;
const START = Date.UTC(2026, 0, 5, 3, 30, 0);

function wheel(): { clock: FakeClock; fired: Array<{ item: string; at: number }>; probes: ProbeWheel<string> } {
  const clock = new FakeClock(START);
  const fired: Array<{ item: string; at: number }> = [];
  const probes = new ProbeWheel<string>(clock, SLOT, (item) => fired.push({ item, at: clock.now() }));
  return { clock, fired, probes };
}

describe('ProbeWheel', () => {
  // Each row: when the wheel's clock stands, when an item asks to be due, and when its slot fires
  // (the start of the slot holding it, never before now).
  const rows: Array<[string, number, number, number]> = [
    ['exactly on a slot boundary fires there', 0, 10_000, 10_000],
    ['one ms past a boundary fires at that boundary', 0, 10_001, 10_000],
    ['one ms before a boundary fires at the one before', 0, 9_999, 5_000],
    ['now fires at once', 0, 0, 0],
    ['in the past fires at once', 0, -3_000, 0],
    ['later in the slot under way fires at its end, not in the past', 1_200, 3_000, 5_000],
    ['in the past, mid-slot, fires at the next boundary', 1_200, 0, 5_000],
  ];
  it.each(rows)('%s', async (_name, now, offset, expected) => {
    const { clock, fired, probes } = wheel();
    await clock.advance(now);
    probes.schedule('a', START + offset);
    await clock.advance(60_000);
    expect(fired).toEqual([{ item: 'a', at: START + expected }]);
  });

  it('runs every item of one slot in one firing, in the order they were scheduled', async () => {
    const { clock, fired, probes } = wheel();
    probes.schedule('b', START + 7_000);
    probes.schedule('a', START + 6_000);
    probes.schedule('c', START + 12_000);
    await clock.advance(20_000);
    expect(fired).toEqual([
      { item: 'b', at: START + 5_000 },
      { item: 'a', at: START + 5_000 },
      { item: 'c', at: START + 10_000 },
    ]);
  });

  it('rescheduling moves an item, an earlier slot re-arms the timer, and a cancelled item never fires', async () => {
    const { clock, fired, probes } = wheel();
    probes.schedule('a', START + 30_000);
    probes.schedule('b', START + 30_000);
    probes.schedule('a', START + 4_000);
    probes.cancel('b');
    expect(probes.size).toBe(1);
    await clock.advance(60_000);
    expect(fired).toEqual([{ item: 'a', at: START }]);
    expect(probes.size).toBe(0);
  });

  it('an item scheduled from its own firing lands in a later slot, and clear() stops everything', async () => {
    const clock = new FakeClock(START);
    const fired: Array<{ item: string; at: number }> = [];
    const probes = new ProbeWheel<string>(clock, SLOT, (item) => {
      fired.push({ item, at: clock.now() });
      probes.schedule(item, clock.now() + 12_000);
    });
    probes.schedule('a', START + 1_000);
    await clock.advance(25_000);
    expect(fired.map((f) => f.at - START)).toEqual([0, 10_000, 20_000]);
    probes.clear();
    await clock.advance(60_000);
    expect(fired).toHaveLength(3);
  });
});
