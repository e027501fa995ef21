import { performance } from 'node:perf_hooks';
import { afterEach, describe, expect, it } from 'vitest';
import { CLIENT, PIN, World } from '../helpers/world.js';

let world: World | undefined;
afterEach(async () => {
  await world?.close();
  world = undefined;
});

describe('fetch timings', () => {
  it('are not kept, so the generation URL with the PIN and TOTP code does not stay in memory', async () => {
    world = await World.create();
    // What fetch kept before the keeper existed goes too.
    await (await fetch(`${world.sim.baseUrl}/v2/profile`)).arrayBuffer();
    await world.keeper.start();
    await world.keeper.settle();
    await world.runFor(60 * 60_000);
    const calls = world.sim.stats().calls;
    expect(calls.generate[CLIENT]).toBe(1);
    expect(calls.profile[CLIENT]).toBeGreaterThan(0);
    const kept = performance.getEntriesByType('resource').map((entry) => entry.name);
    expect(kept.filter((url) => url.includes(PIN))).toEqual([]);
    expect(kept).toEqual([]);
  });
});
