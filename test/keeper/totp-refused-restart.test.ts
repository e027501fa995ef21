import { afterEach, describe, expect, it } from 'vitest';
import type { SimFaultAction } from '../../src/sim/index.js';
import { TOTP_STEP_MS, totpStep } from '../../src/totp.js';
import { dropSchemas, uniqueSchema } from '../helpers/postgres.js';
import { CLIENT, World } from '../helpers/world.js';

/*
 * A generation Dhan refused does not count against its one-per-interval rule, so the keeper rolls
 * lastGenerateAt back. The TOTP step of the refused code must stay spent all the same: a keeper that
 * restarts within that step and sends the code again gets "Invalid TOTP", and repeated refusals can
 * get TOTP disabled on the account. On the fake clock, the restart lands 6 s after the refusal;
 * on SQLite and on PostgreSQL, whose stores keep the step each in their own column.
 */

const schemas: string[] = [];
let world: World | undefined;
afterEach(async () => {
  await world?.close();
  world = undefined;
  await dropSchemas(schemas.splice(0));
});

const REFUSALS: ReadonlyArray<{ readonly name: string; readonly action: SimFaultAction }> = [
  // Dhan's answer to a wrong or reused code; the failure policy tries once more with the next code.
  {
    name: 'an "Invalid TOTP" refusal',
    action: { type: 'status', status: 200, body: { status: 'error', message: 'Invalid TOTP' } },
  },
  // A refusal that says Dhan did nothing: no token issued, so the interval is not charged either.
  { name: 'a DH-908 internal error', action: { type: 'dhan-error', code: 'DH-908', status: 500 } },
];

const STORAGES = [
  { storage: 'SQLite', postgres: false },
  { storage: 'PostgreSQL', postgres: true },
] as const;

describe.each(STORAGES)(
  'a generation Dhan refused, then a restart within the same TOTP step ($storage)',
  ({ postgres }) => {
    it.each(REFUSALS)(
      'after $name the new keeper waits for the next step, and the interval is not charged',
      async ({ action }) => {
        // 5 s into a step: the restart 6 s after the refusal is still inside it.
        const stepStart = Math.ceil(Date.UTC(2026, 0, 5, 14, 0, 0) / TOTP_STEP_MS) * TOTP_STEP_MS;
        const schema = postgres ? uniqueSchema('dtk_totp') : undefined;
        if (schema !== undefined) schemas.push(schema);
        world = await World.create({
          startMs: stepStart + 5_000,
          logLevel: 'silent',
          ...(schema === undefined ? {} : { postgresSchema: schema }),
        });
        const w = world;
        const refusedStep = totpStep(stepStart);
        w.sim.addFault({ endpoint: 'generate', clientId: CLIENT, action });
        await w.keeper.start();
        await w.keeper.settle();

        expect(w.sim.stats().generationCodeSteps[CLIENT]).toEqual([refusedStep]);
        expect(w.current()).toBeUndefined();
        // The refused attempt is not charged against the interval; its step stays spent.
        expect(await w.asyncStore.getAccount(CLIENT)).toMatchObject({
          lastGenerateAt: null,
          lastTotpStep: refusedStep,
        });

        await w.clock.advance(6_000);
        expect(totpStep(w.clock.now())).toBe(refusedStep);
        await w.restart();
        // Nothing may go out before the step ends.
        expect(w.sim.stats().generationCodeSteps[CLIENT]).toEqual([refusedStep]);
        await w.runFor(40_000);

        const stats = w.sim.stats();
        expect(stats.generationCodeSteps[CLIENT]).toEqual([refusedStep, refusedStep + 1]);
        expect(stats.generationsRefused[CLIENT] ?? 0).toBe(0);
        const token = w.current();
        expect(token?.source).toBe('totp');
        expect(w.sim.isLive(token!.accessToken)).toBe(true);
        // At the start of the next step: not two minutes (minGenerateInterval) after the refused attempt.
        expect(token!.obtainedAt).toBe((refusedStep + 1) * TOTP_STEP_MS);
        expect(await w.asyncStore.getAccount(CLIENT)).toMatchObject({
          lastGenerateAt: token!.obtainedAt,
          lastTotpStep: refusedStep + 1,
          attention: null,
        });
      },
    );
  },
);
