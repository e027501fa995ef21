import { readFileSync } from 'node:fs';
import { DateTime } from 'luxon';
import { afterEach, describe, expect, it } from 'vitest';
import type { SimAccountOptions } from '../../src/sim/simulator-api.js';
import { CLIENT, DAY, World } from '../helpers/world.js';

/*
 * A month of each way Dhan has been seen to refuse renewing a PIN+TOTP (APP) token, and a month
 * of a daily logout that kills every token at 03:07 IST. The account is a plain `mode: auto`
 * TOTP account, the most common set-up. The keeper must learn at most once per token kind and
 * keep a live token in the sink all along, without ever asking a person.
 */

let world: World | undefined;
afterEach(async () => {
  await world?.close();
  world = undefined;
});

const PROBE_MS = 15 * 60_000;
// A month with a probe every 15 min is ~3,000 real HTTP calls to the simulator: 20-40 s here,
// more on a loaded machine. Virtual time is what is measured; this only bounds the wall time.
const MONTH_TIMEOUT_MS = 180_000;
// Off the probes' 15-min grid (they start at 19:30 IST here), so the kill waits for a probe.
const LOGOUT_AT = '03:07';

interface Month {
  readonly deadMs: number;
  /** Dead time that started at a nightly logout, each stretch measured on its own. */
  readonly deadAfterLogoutMs: readonly number[];
  readonly callsPerDay: { renew: number; generate: number; profile: number };
}

/** The latest logout moment at or before `now`. */
function logoutBefore(now: number): number {
  const [h, m] = LOGOUT_AT.split(':').map(Number) as [number, number];
  let at = DateTime.fromMillis(now, { zone: 'Asia/Kolkata' }).set({ hour: h, minute: m, second: 0, millisecond: 0 });
  if (at.toMillis() > now) at = at.minus({ days: 1 });
  return at.toMillis();
}

async function liveAMonth(w: World, logout: boolean): Promise<Month> {
  const start = w.clock.now();
  await w.keeper.start();
  await w.keeper.settle();
  let deadMs = 0;
  let previous = w.clock.now();
  let lastLiveAt = previous;
  await w.runFor(30 * DAY, (now) => {
    const sink = JSON.parse(readFileSync(w.sinkPath, 'utf8')) as { accessToken: string };
    // The sink is checked after every event; a dead token there counts from the previous check,
    // unless a logout came since it was last seen live (that window is measured below).
    if (w.sim.isLive(sink.accessToken)) lastLiveAt = now;
    else if (!(logout && logoutBefore(now) >= lastLiveAt)) deadMs += now - previous;
    previous = now;
  });
  // A logout kills the token between two events, and the probe that notices it replaces it in
  // the same step: each night's dead stretch runs from the logout to the next swap published.
  const afterLogout: number[] = [];
  if (logout) {
    for (let at = logoutBefore(start + DAY); at < start + 30 * DAY; at += DAY) {
      const next = w.published.find((p) => p.at >= at);
      if (next) afterLogout.push(next.at - at);
    }
  }
  const stats = w.sim.stats();
  const perDay = (n: number | undefined): number => Math.round(((n ?? 0) / 30) * 100) / 100;
  return {
    deadMs,
    deadAfterLogoutMs: afterLogout,
    callsPerDay: {
      renew: perDay(stats.calls.renew[CLIENT]),
      generate: perDay(stats.calls.generate[CLIENT]),
      profile: perDay(stats.calls.profile[CLIENT]),
    },
  };
}

describe('30 virtual days per field-reported refusal of a TOTP token renewal', () => {
  const shapes: ReadonlyArray<[string, SimAccountOptions['renewRefusal']]> = [
    ['HTTP 400 DH-906 "Invalid Token"', 'invalid-token-906'],
    ['HTTP 500 DH-905 "Renewal of token not allowed for this token type"', 'not-allowed-905'],
    ['HTTP 200 without a token', 'no-token-200'],
  ];
  for (const [label, shape] of shapes) {
    it(
      `${label}: one refused renewal, then generation; never a dead token, never attention`,
      async () => {
        world = await World.create({
          logLevel: 'silent',
          sweepMs: 5 * 60_000,
          simAccount: { renewableTotpTokens: false, renewRefusal: shape },
        });
        const w = world;
        const month = await liveAMonth(w, false);
        console.log(
          `30 virtual days, renewal refused as ${shape}: ${JSON.stringify({ deadSecondsInSink: month.deadMs / 1000, dhanCallsPerAccountDay: month.callsPerDay })}`,
        );
        expect(month.deadMs).toBe(0);
        expect(w.sim.stats().calls.renew[CLIENT]).toBe(1);
        expect(w.store.getAccount(CLIENT)!.renewRefusedKinds).toEqual(['consumer:APP']);
        expect(w.store.getAccount(CLIENT)!.attention).toBeNull();
        expect(w.store.listEvents({ clientId: CLIENT, kinds: ['attention'], limit: 10 })).toEqual([]);
        expect(w.sim.isLive(w.current()!.accessToken)).toBe(true);
        // A token replaced when a third of its life is left: ~1.5 generations a day.
        expect(month.callsPerDay.generate).toBeGreaterThan(1.3);
        expect(month.callsPerDay.generate).toBeLessThan(2);
      },
      MONTH_TIMEOUT_MS,
    );
  }

  it(
    'nightly logout at 03:07 IST: every killed token is replaced within one probe interval, never attention',
    async () => {
      world = await World.create({
        logLevel: 'silent',
        sweepMs: 5 * 60_000,
        simAccount: { nightlyLogoutAt: LOGOUT_AT },
      });
      const w = world;
      const month = await liveAMonth(w, true);
      const worst = Math.max(0, ...month.deadAfterLogoutMs);
      console.log(
        `30 virtual days, nightly logout at ${LOGOUT_AT} IST: ${JSON.stringify({
          deadSecondsInSinkOutsideLogoutWindows: month.deadMs / 1000,
          nightsKilled: month.deadAfterLogoutMs.length,
          worstKillToLiveSeconds: worst / 1000,
          dhanCallsPerAccountDay: month.callsPerDay,
        })}`,
      );
      expect(month.deadMs).toBe(0);
      expect(month.deadAfterLogoutMs.length).toBeGreaterThanOrEqual(29);
      // The unavoidable window: from the kill to the next probe (15 min ± 10%), then one generation.
      expect(worst).toBeLessThanOrEqual(PROBE_MS * 1.1 + 2 * 60_000);
      expect(w.store.getAccount(CLIENT)!.attention).toBeNull();
      expect(w.sim.isLive(w.current()!.accessToken)).toBe(true);
    },
    MONTH_TIMEOUT_MS,
  );

  it(
    'nightly logout at 03:07 IST with probeAt one minute after it: each killed token is replaced within about a minute',
    async () => {
      world = await World.create({
        logLevel: 'silent',
        sweepMs: 5 * 60_000,
        simAccount: { nightlyLogoutAt: LOGOUT_AT },
        renewalYaml: '  probeAt: ["8 3 * * *"]\n',
      });
      const w = world;
      const month = await liveAMonth(w, true);
      const worst = Math.max(0, ...month.deadAfterLogoutMs);
      console.log(
        `30 virtual days, nightly logout at ${LOGOUT_AT} IST, probeAt 03:08: ${JSON.stringify({
          deadSecondsInSinkOutsideLogoutWindows: month.deadMs / 1000,
          nightsKilled: month.deadAfterLogoutMs.length,
          worstKillToLiveSeconds: worst / 1000,
          dhanCallsPerAccountDay: month.callsPerDay,
        })}`,
      );
      expect(month.deadMs).toBe(0);
      expect(month.deadAfterLogoutMs.length).toBeGreaterThanOrEqual(29);
      expect(worst).toBeLessThanOrEqual(60_000 + 5_000);
      expect(w.store.getAccount(CLIENT)!.attention).toBeNull();
    },
    MONTH_TIMEOUT_MS,
  );
});
