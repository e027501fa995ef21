import { afterEach, describe, expect, it } from 'vitest';
import { TOTP_STEP_MS, totpStep } from '../../src/totp.js';
import { CLIENT, World } from '../helpers/world.js';

/*
 * Issue 14, item 4: with minGenerateInterval under 30 s, a keeper that crashed and restarted
 * within the TOTP step of its last generation generated again with the same code; Dhan (the
 * simulator) refuses a reused code as "Invalid TOTP", which counts toward stopping the account.
 * On the fake clock, crash/restart runs land inside the step at several offsets.
 */

let world: World | undefined;
afterEach(async () => {
  await world?.close();
  world = undefined;
});

describe('the TOTP step guard across a restart', () => {
  it.each([1_000, 9_000, 17_000])(
    'never reuses the step of the last generation (restart %i ms into the step)',
    async (offset) => {
      // The start sits `offset` ms into a step; the restart 6 s later is still inside it.
      const stepStart = Math.ceil(Date.UTC(2026, 0, 5, 14, 0, 0) / TOTP_STEP_MS) * TOTP_STEP_MS;
      world = await World.create({
        startMs: stepStart + offset,
        minGenerateInterval: '5s',
        generateIntervalMs: 1_000,
        logLevel: 'silent',
      });
      const w = world;
      await w.keeper.start();
      await w.keeper.settle();
      const first = w.current();
      expect(first?.source).toBe('totp');
      const firstStep = totpStep(first!.obtainedAt);

      // A login elsewhere kills the token; the keeper crashes and comes back within the same step.
      w.sim.killTokens(CLIENT);
      await w.clock.advance(6_000);
      expect(totpStep(w.clock.now())).toBe(firstStep);
      await w.restart();
      await w.runFor(40_000);

      const stats = w.sim.stats();
      expect(stats.generationsRefused[CLIENT] ?? 0).toBe(0);
      const second = w.current();
      expect(second && second.id !== first!.id && w.sim.isLive(second.accessToken)).toBe(true);
      expect(totpStep(second!.obtainedAt)).toBeGreaterThan(firstStep);
      expect(w.store.getAccount(CLIENT)?.attention).toBeNull();
    },
  );
});
