import { afterEach, describe, expect, it } from 'vitest';
import type { AttemptOutcome } from '../../src/generation-attempt.js';
import type { SimFaultAction } from '../../src/sim/index.js';
import { TOTP_STEP_MS, totpStep } from '../../src/totp.js';
import { dropSchemas, uniqueSchema } from '../helpers/postgres.js';
import { CLIENT, World } from '../helpers/world.js';

/*
 * A generation Dhan refused may still have re-armed its 2-minute window (field reports: every
 * attempt does), and its TOTP step is spent: Dhan refuses a reused code, and repeated refusals can
 * get TOTP disabled on the account. A keeper that restarts 6 s after the refusal must neither send
 * that code again nor send anything before the window and the margin have passed since the refused
 * attempt's end, and the refusal stays in the credential budget. On the fake clock, on SQLite and on
 * PostgreSQL.
 */

const schemas: string[] = [];
let world: World | undefined;
afterEach(async () => {
  await world?.close();
  world = undefined;
  await dropSchemas(schemas.splice(0));
});

const REFUSALS: ReadonlyArray<{
  readonly name: string;
  readonly outcome: AttemptOutcome;
  readonly action: SimFaultAction;
}> = [
  // Dhan's answer to a wrong or reused code: counted; one more try with a fresh code.
  {
    name: 'an "Invalid TOTP" refusal',
    outcome: 'credentials-refused',
    action: { type: 'status', status: 200, body: { status: 'error', message: 'Invalid TOTP' } },
  },
  // Dhan's own trouble: not counted, but it may have re-armed the window all the same.
  {
    name: 'a DH-908 internal error',
    outcome: 'server-failure',
    action: { type: 'dhan-error', code: 'DH-908', status: 500 },
  },
];

const STORAGES = [
  { storage: 'SQLite', postgres: false },
  { storage: 'PostgreSQL', postgres: true },
] as const;

describe.each(STORAGES)(
  'a generation Dhan refused, then a restart within the same TOTP step ($storage)',
  ({ postgres }) => {
    it.each(REFUSALS)(
      'after $name the new keeper waits out the window and the margin, on a fresh step, the attempt still on record',
      async ({ action, outcome }) => {
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
        const refusedAt = stepStart + 5_000;
        const refusedStep = totpStep(stepStart);
        w.sim.addFault({ endpoint: 'generate', clientId: CLIENT, action });
        await w.keeper.start();
        await w.keeper.settle();

        expect(w.sim.stats().generationCodeSteps[CLIENT]).toEqual([refusedStep]);
        expect(w.current()).toBeUndefined();
        // Charged against the interval from the attempt's end, its step spent, its outcome on record.
        expect(await w.asyncStore.getAccount(CLIENT)).toMatchObject({
          lastGenerateAt: refusedAt,
          lastTotpStep: refusedStep,
          generationAttempts: [{ at: refusedAt, endedAt: refusedAt, totpStep: refusedStep, outcome }],
        });

        await w.clock.advance(6_000);
        expect(totpStep(w.clock.now())).toBe(refusedStep);
        await w.restart();
        // Nothing may go out before Dhan's window and the margin have passed.
        await w.runFor(120_000 + 10_000 - 6_000 - 1);
        expect(w.sim.stats().generationCodeSteps[CLIENT]).toEqual([refusedStep]);
        await w.runFor(40_000);

        const stats = w.sim.stats();
        expect(stats.generationCodeSteps[CLIENT]).toHaveLength(2);
        expect(stats.generationCodeSteps[CLIENT]![1]).toBeGreaterThan(refusedStep);
        expect(stats.generationsRefused[CLIENT] ?? 0).toBe(0);
        const token = w.current();
        expect(token?.source).toBe('totp');
        expect(w.sim.isLive(token!.accessToken)).toBe(true);
        expect(token!.obtainedAt).toBe(refusedAt + 120_000 + 10_000);
        // The token closes the budget's record.
        expect(await w.asyncStore.getAccount(CLIENT)).toMatchObject({
          lastGenerateAt: token!.obtainedAt,
          lastTotpStep: totpStep(token!.obtainedAt),
          generationAttempts: [],
          attention: null,
        });
      },
    );
  },
);
