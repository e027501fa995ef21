import { afterEach, describe, expect, it } from 'vitest';
import { askPlan, type AskInput } from '../../src/keeper/login-ask-plan.js';
import type { AvoidWindow } from '../../src/config/config.js';
import { tokenKind } from '../../src/keeper/token-kind.js';
import { CLIENT, DAY, HOUR, World } from '../helpers/world.js';

/** Monday 5 Jan 2026, 00:00 IST. */
const MON = Date.UTC(2026, 0, 4, 18, 30);
const MARKET: AvoidWindow = {
  days: [1, 2, 3, 4, 5],
  fromMinute: 9 * 60,
  toMinute: 15 * 60 + 30,
  timezone: 'Asia/Kolkata',
};

function input(over: Partial<AskInput>): AskInput {
  return { now: MON, token: { expiresAt: MON + DAY }, renewRefused: true, askBeforeMs: 2 * HOUR, avoid: [], ...over };
}

describe('askPlan: when a consent account asks a person to log in', () => {
  const cases: [string, Partial<AskInput>, ReturnType<typeof askPlan>][] = [
    [
      'no token at all: now',
      { token: undefined },
      { ask: 'now', deadline: null, reason: 'no token yet: log in with the API key' },
    ],
    [
      'an expired token: now',
      { token: { expiresAt: MON - 1 } },
      { ask: 'now', deadline: null, reason: 'the token has expired: log in with the API key' },
    ],
    ['a renewable token: never', { renewRefused: false }, { ask: 'no' }],
    [
      'not renewable: askBefore ahead of expiry',
      {},
      { ask: 'later', at: MON + DAY - 2 * HOUR, reason: expect.stringMatching(/does not renew/) as unknown as string },
    ],
    [
      'not renewable, inside askBefore: now',
      { now: MON + DAY - HOUR },
      { ask: 'now', deadline: MON + DAY, reason: expect.stringMatching(/does not renew/) as unknown as string },
    ],
    [
      'the moment falls in market hours: moved to before the market opens',
      // Expires Monday 12:00 IST: 10:00 is in the market, so ask by 08:55.
      { token: { expiresAt: MON + 12 * HOUR }, avoid: [MARKET] },
      { ask: 'later', at: MON + 9 * HOUR - 5 * 60_000, reason: expect.any(String) as unknown as string },
    ],
    [
      'already in market hours and past the moment before it: at the due time',
      { now: MON + 10 * HOUR, token: { expiresAt: MON + 15 * HOUR }, avoid: [MARKET] },
      { ask: 'later', at: MON + 13 * HOUR, reason: expect.any(String) as unknown as string },
    ],
    [
      'renewal.refreshAt owed before the askBefore moment: asked then',
      { token: { expiresAt: MON + 20 * HOUR }, refreshAt: MON + 8 * HOUR + 30 * 60_000 },
      {
        ask: 'later',
        at: MON + 8 * HOUR + 30 * 60_000,
        reason: expect.stringMatching(/renewal\.refreshAt/) as unknown as string,
      },
    ],
    [
      'renewal.refreshAt already owed: asked now, the deadline still the expiry',
      { now: MON + 9 * HOUR, token: { expiresAt: MON + 20 * HOUR }, refreshAt: MON + 8 * HOUR + 30 * 60_000 },
      {
        ask: 'now',
        deadline: MON + 20 * HOUR,
        reason: expect.stringMatching(/renewal\.refreshAt/) as unknown as string,
      },
    ],
    [
      'renewal.refreshAt after the askBefore moment changes nothing',
      { refreshAt: MON + DAY - HOUR },
      { ask: 'later', at: MON + DAY - 2 * HOUR, reason: expect.stringMatching(/does not renew/) as unknown as string },
    ],
    [
      'renewal.refreshAt on a renewable token: the planner renews then, nobody is asked',
      { renewRefused: false, refreshAt: MON + HOUR },
      { ask: 'no' },
    ],
    [
      'a moment outside the windows stays',
      { token: { expiresAt: MON + 20 * HOUR }, avoid: [MARKET] },
      { ask: 'later', at: MON + 18 * HOUR, reason: expect.any(String) as unknown as string },
    ],
  ];
  for (const [what, over, want] of cases) {
    it(what, () => expect(askPlan(input(over))).toEqual(want));
  }
});

describe('a consent account in a keeper, on a fake clock against the simulator', () => {
  let world: World | undefined;
  afterEach(async () => {
    await world?.close();
    world = undefined;
  });

  async function login(w: World): Promise<void> {
    const consent = w.keeper.consent;
    if (!consent) throw new Error('no consent login');
    const started = await consent.start(CLIENT);
    if (!started.ok) throw new Error(started.message);
    const { tokenId } = w.sim.approveConsent(started.consentAppId);
    const finished = await consent.finish(tokenId);
    expect(finished.result, finished.message).toBe('stored');
    await w.keeper.settle();
  }

  it('asks at once without a token, stops asking after the login, and asks again askBefore ahead of an expiry Dhan will not renew', async () => {
    const w = (world = await World.create({ mode: 'consent' }));
    await w.keeper.start();
    await w.keeper.settle();
    expect(w.keeper.statuses()[0]).toMatchObject({
      state: 'login-needed',
      loginNeeded: 'no token yet: log in with the API key',
    });
    expect(w.keeper.readiness().ready).toBe(false);

    await login(w);
    const first = w.current();
    expect(first?.source).toBe('consent');
    expect(w.store.consents.loginRequest(CLIENT)).toBeUndefined();
    expect(w.keeper.statuses()[0]).toMatchObject({ state: 'valid', loginNeeded: null });

    // Renewal is tried at a third of the lifetime left, refused (consent tokens are not
    // renewable at the simulated Dhan), learned; the token stays live and published.
    await w.runFor(DAY - 2 * HOUR - 60_000 - (w.clock.now() - (first?.obtainedAt ?? 0)));
    expect(w.store.getAccount(CLIENT)?.renewRefusedKinds).toEqual([tokenKind(first?.accessToken ?? '', 'consent')]);
    expect(w.store.getAccount(CLIENT)?.attention).toBeNull();
    expect(w.sim.isLive(first?.accessToken ?? '')).toBe(true);
    expect(w.store.consents.loginRequest(CLIENT)).toBeUndefined();

    await w.runFor(2 * 60_000);
    const request = w.store.consents.loginRequest(CLIENT);
    expect(request?.deadline).toBe(first?.expiresAt);
    expect(request?.since).toBe((first?.expiresAt ?? 0) - 2 * HOUR);
    const status = w.keeper.statuses()[0];
    expect(status?.state).toBe('login-needed');
    // Still live: bots work on until the expiry, so the keeper stays ready.
    expect(w.keeper.readiness().ready).toBe(true);

    // Sweeps and probes go on; the request is recorded once.
    await w.runFor(HOUR);
    const asked = w.store.listEvents({ clientId: CLIENT, kinds: ['login-needed'] });
    expect(asked.filter((e) => e.result === 'failure')).toHaveLength(2);

    await login(w);
    expect(w.store.consents.loginRequest(CLIENT)).toBeUndefined();
    expect(w.current()?.accessToken).not.toBe(first?.accessToken);
    expect(w.keeper.statuses()[0]?.state).toBe('valid');
  });

  it('finishes only a consent started in the last 10 minutes, once, for the account Dhan names', async () => {
    const w = (world = await World.create({ mode: 'consent' }));
    await w.keeper.start();
    await w.keeper.settle();
    const consent = w.keeper.consent;
    if (!consent) throw new Error('no consent login');

    const late = await consent.start(CLIENT);
    if (!late.ok) throw new Error(late.message);
    const { tokenId: lateId } = w.sim.approveConsent(late.consentAppId);
    await w.clock.advance(10 * 60_000 + 1);
    expect(await consent.finish(lateId)).toMatchObject({ result: 'no-consent', status: 404 });
    expect(w.current()).toBeUndefined();

    const fresh = await consent.start(CLIENT);
    if (!fresh.ok) throw new Error(fresh.message);
    // A tokenId Dhan does not know leaves the consent open for the real one.
    expect(await consent.finish('00000000-0000-4000-8000-000000000000')).toMatchObject({
      result: 'refused',
      status: 502,
    });
    expect(w.store.consents.byConsentAppId(fresh.consentAppId)?.status).toBe('open');
    const { tokenId } = w.sim.approveConsent(fresh.consentAppId);
    expect(await consent.finish(tokenId, { clientId: '9999999999' })).toMatchObject({ result: 'no-consent' });
    expect(await consent.finish(tokenId)).toMatchObject({ result: 'stored', status: 200, clientId: CLIENT });
    expect(await consent.finish(tokenId)).toMatchObject({ result: 'replayed', status: 409 });
    expect(await consent.finish('<script>')).toMatchObject({ result: 'invalid', status: 400 });
    expect(w.store.consents.byConsentAppId(fresh.consentAppId)).toMatchObject({ status: 'done' });
    const history = w.store
      .listEvents({ clientId: CLIENT, kinds: ['consent'] })
      .map((e) => `${e.result} ${e.message ?? ''}`);
    expect(history.some((h) => h.startsWith('success logged in: token'))).toBe(true);
    expect(JSON.stringify(history)).not.toContain(tokenId);
  });
});
