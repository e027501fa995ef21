import { DateTime } from 'luxon';
import { afterEach, describe, expect, it } from 'vitest';
import type { Attention } from '../../src/attention.js';
import type { AccountConfig } from '../../src/config/config.js';
import { adoptToken, forceRefresh, resetAccount } from '../../src/keeper/account-commands.js';
import { liftedByConfig } from '../../src/keeper/keeper.js';
import { CLIENT, DAY, HOUR, PIN, World } from '../helpers/world.js';
import { sinkToken } from '../helpers/sink-file.js';

let world: World | undefined;
afterEach(async () => {
  await world?.close();
  world = undefined;
});

async function started(options: Parameters<typeof World.create>[0] = {}): Promise<World> {
  world = await World.create(options);
  await world.keeper.start();
  await world.keeper.settle();
  return world;
}

/** Moves virtual time to just past the planned refresh of the current token. */
async function untilPlannedRefresh(w: World): Promise<void> {
  const next = w.store.getAccount(CLIENT)?.nextActionAt;
  if (next === null || next === undefined) throw new Error('nothing planned');
  await w.runFor(next - w.clock.now() - 1);
}

function events(w: World, kind: 'renew' | 'generate' | 'probe' | 'attention' | 'recover') {
  return w.store.listEvents({ clientId: CLIENT, kinds: [kind], limit: 1000 }).reverse();
}

describe('keeper against the simulator, fault by fault', () => {
  it('writes the first token to the sink (0600) and renews with GET at the planned time', async () => {
    const w = await started();
    const first = w.current()!;
    expect(first.source).toBe('totp');
    expect(sinkToken(w.sinkPath)).toBe(first.accessToken);
    expect(w.sim.isLive(first.accessToken)).toBe(true);
    await untilPlannedRefresh(w);
    expect(w.current()!.id).toBe(first.id);
    await w.runFor(2_000);
    const renewed = w.current()!;
    expect(renewed.source).toBe('renew');
    expect(sinkToken(w.sinkPath)).toBe(renewed.accessToken);
    expect(w.sim.isLive(first.accessToken)).toBe(false);
    expect(w.sim.stats().wrongMethod).toBe(0);
    // A third of the lifetime was left, plus up to 5% of it as jitter.
    const left = first.expiresAt - renewed.obtainedAt;
    expect(left).toBeGreaterThanOrEqual(0.33 * DAY - 1000);
    expect(left).toBeLessThanOrEqual(0.38 * DAY + 1000);
  });

  it('rides out a 503 burst with backoff that really waits, then renews', async () => {
    const w = await started();
    await untilPlannedRefresh(w);
    w.sim.addFault({
      endpoint: 'renew',
      times: 4,
      action: {
        type: 'status',
        status: 503,
        body: { errorType: 'Server', errorCode: 'DH-908', errorMessage: 'Internal server error.' },
      },
    });
    await w.runFor(10 * 60_000);
    const renews = events(w, 'renew');
    expect(renews.map((e) => e.result)).toEqual(['failure', 'failure', 'failure', 'failure', 'success']);
    expect(renews.slice(0, 4).every((e) => e.errorKind === 'transient')).toBe(true);
    // Full jitter pinned at 0.5 over ceilings 2 s, 4 s, 8 s, 16 s (floor 1 s): the gaps are real waits.
    const gaps = renews.slice(1).map((e, i) => e.at - renews[i]!.at);
    expect(gaps).toEqual([1_000, 2_000, 4_000, 8_000]);
    expect(w.current()!.source).toBe('renew');
  });

  it('waits the hinted time after HTTP 429 (DH-904)', async () => {
    const w = await started();
    await untilPlannedRefresh(w);
    w.sim.addFault({ endpoint: 'renew', action: { type: 'dhan-error', code: 'DH-904', status: 429 } });
    await w.runFor(5 * 60_000);
    const renews = events(w, 'renew');
    expect(renews.map((e) => e.result)).toEqual(['failure', 'success']);
    expect(renews[0]!.errorKind).toBe('rate-limited');
    expect(renews[1]!.at - renews[0]!.at).toBeGreaterThanOrEqual(60_000);
  });

  it('reads the "once every 2 minutes" body under HTTP 200 as a rate limit and waits it out', async () => {
    world = await World.create();
    const w = world;
    w.sim.addFault({ endpoint: 'generate', action: { type: 'rate-limit-body', status: 200 } });
    await w.keeper.start();
    await w.runFor(5 * 60_000);
    const gens = events(w, 'generate');
    expect(gens.map((e) => e.result)).toEqual(['failure', 'success']);
    expect(gens[0]!.errorKind).toBe('rate-limited');
    expect(gens[1]!.at - gens[0]!.at).toBeGreaterThanOrEqual(120_000);
    expect(w.store.getAccount(CLIENT)!.attention).toBeNull();
  });

  it('recovers a renewal whose answer was lost after Dhan committed it', async () => {
    const w = await started();
    const old = w.current()!;
    await untilPlannedRefresh(w);
    w.sim.addFault({ endpoint: 'renew', action: { type: 'drop-after-commit' } });
    await w.runFor(20_000);
    const now = w.current()!;
    expect(now.id).not.toBe(old.id);
    expect(now.source).toBe('totp');
    expect(w.sim.isLive(now.accessToken)).toBe(true);
    expect(sinkToken(w.sinkPath)).toBe(now.accessToken);
    // Lost, checked with the profile call, declared dead, replaced by a generation within the same moment.
    expect(now.obtainedAt - old.obtainedAt).toBeGreaterThan(0);
    const stats = w.sim.stats();
    expect(stats.calls.renew[CLIENT]).toBe(1);
    expect(stats.calls.generate[CLIENT]).toBe(2);
  });

  it('recovers a generation whose answer was lost, without breaking the 2-minute rule', async () => {
    world = await World.create();
    const w = world;
    w.sim.addFault({ endpoint: 'generate', action: { type: 'drop-after-commit' } });
    await w.keeper.start();
    await w.runFor(5 * 60_000);
    const gens = events(w, 'generate');
    expect(gens.map((e) => e.result)).toEqual(['failure', 'success']);
    expect(gens[1]!.at - gens[0]!.at).toBeGreaterThanOrEqual(120_000);
    expect(w.sim.stats().generationsRefused[CLIENT]).toBe(0);
    expect(w.sim.isLive(w.current()!.accessToken)).toBe(true);
  });

  it('treats a 200 without a token as "maybe renewed": checks the old token, then generates', async () => {
    const w = await started();
    await untilPlannedRefresh(w);
    w.sim.addFault({ endpoint: 'renew', action: { type: 'no-token', commit: true } });
    await w.runFor(10_000);
    expect(w.current()!.source).toBe('totp');
    expect(w.sim.isLive(w.current()!.accessToken)).toBe(true);
    expect(w.sim.stats().calls.generate[CLIENT]).toBe(2);
  });

  it('accepts the `token` field variant of RenewToken', async () => {
    const w = await started({ simAccount: { renewField: 'token' } });
    await untilPlannedRefresh(w);
    await w.runFor(5_000);
    expect(w.current()!.source).toBe('renew');
    expect(w.sim.isLive(w.current()!.accessToken)).toBe(true);
  });

  it('learns that TOTP tokens are not renewable, falls back to generation and stops trying renewals', async () => {
    const w = await started({ simAccount: { renewableTotpTokens: false } });
    await w.runFor(3 * DAY);
    const stats = w.sim.stats();
    expect(stats.calls.renew[CLIENT]).toBe(1);
    // A token is replaced when about a third of its life is left: every ~15.5 h, so 1 + 4 in 3 days.
    expect(stats.calls.generate[CLIENT]).toBe(5);
    expect(w.store.getAccount(CLIENT)!.renewRefusedKinds).toEqual(['consumer:APP']);
    // The learning survives a restart.
    await w.restart();
    await w.runFor(DAY);
    expect(w.sim.stats().calls.renew[CLIENT]).toBe(1);
    expect(w.sim.isLive(w.current()!.accessToken)).toBe(true);
  });

  it('the reported first-day failure: HTTP 500 DH-905 on renewing an APP token is learned once, and no APP token is renewed again', async () => {
    const w = await started({ simAccount: { renewableTotpTokens: false, renewRefusal: 'not-allowed-905' } });
    await w.runFor(3 * DAY);
    const stats = w.sim.stats();
    expect(stats.calls.renew[CLIENT]).toBe(1);
    expect(stats.calls.generate[CLIENT]).toBe(5);
    expect(w.store.getAccount(CLIENT)).toMatchObject({ attention: null, renewRefusedKinds: ['consumer:APP'] });
    expect(events(w, 'attention')).toEqual([]);
    // The refusal is in history as what it is, not as a bad request.
    expect(events(w, 'renew')[0]).toMatchObject({ result: 'failure', errorKind: 'renew-refused', errorCode: 'DH-905' });
    // Planned for generation from the start: the next plan of an APP token is a generation.
    expect(w.keeper.worker(CLIENT)!.plan()).toMatchObject({ action: 'wait', then: 'generate' });
    // A Dhan Web token (SELF) imported later is still renewed: the lesson is about APP tokens only.
    const web = w.sim.issueWebToken(CLIENT);
    await adoptToken(w.keeper.worker(CLIENT)!, {
      accessToken: web.accessToken,
      source: 'web',
      expiresAt: web.expiresAt,
      expiryTime: web.expiryTime,
    });
    expect(w.keeper.worker(CLIENT)!.plan()).toMatchObject({ then: 'renew' });
  });

  it('renew-only: a refused renewal of a live token asks for an import (not before checking it), and an import lifts it', async () => {
    world = await World.create({ mode: 'renew-only' });
    const w = world;
    await w.keeper.start();
    const web = w.sim.issueWebToken(CLIENT);
    await adoptToken(w.keeper.worker(CLIENT)!, {
      accessToken: web.accessToken,
      source: 'web',
      expiresAt: web.expiresAt,
      expiryTime: web.expiryTime,
    });
    w.keeper.scheduler.poke(CLIENT);
    await w.keeper.settle();
    w.sim.addFault({ endpoint: 'renew', action: { type: 'dhan-error', code: 'DH-905', status: 500 } });
    await untilPlannedRefresh(w);
    await w.runFor(5_000);
    expect(w.sim.stats().calls.profile[CLIENT]).toBeGreaterThanOrEqual(1);
    expect(w.store.getAccount(CLIENT)!.attention).toMatchObject({
      scope: 'account',
      cause: 'import-needed',
      wayOut: expect.stringMatching(/import/) as unknown,
    });
    // The token is still live and still published while a person is asked.
    expect(w.sim.isLive(sinkToken(w.sinkPath))).toBe(true);
    const fresh = w.sim.issueWebToken(CLIENT);
    expect(
      (
        await adoptToken(w.keeper.worker(CLIENT)!, {
          accessToken: fresh.accessToken,
          source: 'web',
          expiresAt: fresh.expiresAt,
          expiryTime: fresh.expiryTime,
        })
      ).ok,
    ).toBe(true);
    expect(w.store.getAccount(CLIENT)!.attention).toBeNull();
    w.keeper.scheduler.poke(CLIENT);
    await w.runFor(DAY);
    expect(w.current()!.source).toBe('renew');
    expect(w.store.getAccount(CLIENT)!.attention).toBeNull();
  });

  it('reset after a DH-902 stop does not land in the same stop at once: Dhan must say so for 10 more minutes', async () => {
    const w = await started();
    w.sim.setAccountOptions(CLIENT, { dataAccess: false });
    await untilPlannedRefresh(w);
    await w.runFor(HOUR);
    expect(w.store.getAccount(CLIENT)!.attention).toMatchObject({ cause: 'access-denied' });
    const resetAt = w.clock.now();
    expect((await resetAccount(w.keeper.worker(CLIENT)!)).ok).toBe(true);
    w.keeper.scheduler.poke(CLIENT);
    await w.runFor(9 * 60_000);
    expect(w.store.getAccount(CLIENT)!.attention).toBeNull();
    await w.runFor(HOUR);
    const again = w.store.getAccount(CLIENT)!.attention;
    expect(again).toMatchObject({ cause: 'access-denied' });
    expect(again!.since - resetAt).toBeGreaterThanOrEqual(10 * 60_000);
    // The person fixes the subscription and resets: renewals work again.
    w.sim.setAccountOptions(CLIENT, { dataAccess: true });
    await resetAccount(w.keeper.worker(CLIENT)!);
    w.keeper.scheduler.poke(CLIENT);
    await w.runFor(5 * 60_000);
    expect(w.store.getAccount(CLIENT)!.attention).toBeNull();
    expect(w.current()!.source).toBe('renew');
    expect(w.sim.isLive(w.current()!.accessToken)).toBe(true);
  });

  it('refreshAt "30 8 * * 1-5": a fresh token every weekday at 08:30 IST, skipped when the token is newer than 1 h', async () => {
    // Starts Monday 2026-01-05 19:30 IST.
    const w = await started({ renewalYaml: '  refreshAt: ["30 8 * * 1-5"]\n' });
    expect(w.keeper.statuses()[0]!.nextRefreshAt).toBe('2026-01-06T08:30:00.000+05:30');
    await w.runFor(7 * DAY);
    const at830 = w.published
      .map((p) => DateTime.fromMillis(p.at, { zone: 'Asia/Kolkata' }))
      .filter((t) => t.hour === 8 && t.minute === 30 && t.second === 0)
      .map((t) => t.toISODate());
    expect(at830).toEqual(['2026-01-06', '2026-01-07', '2026-01-08', '2026-01-09', '2026-01-12']);
    expect(w.store.getAccount(CLIENT)!.attention).toBeNull();
    // A token obtained 30 min before the moment is young enough: that morning is skipped.
    const w2 = w;
    const next = DateTime.fromISO('2026-01-13T08:00:00', { zone: 'Asia/Kolkata' }).toMillis();
    await w2.runFor(next - w2.clock.now());
    await forceRefresh(w2.keeper.worker(CLIENT)!, 'renew');
    const before = w2.published.length;
    await w2.runFor(HOUR);
    expect(w2.published.length).toBe(before);
    expect(w2.keeper.statuses()[0]!.nextRefreshAt).toBe('2026-01-14T08:30:00.000+05:30');
  });

  it('import lifts an account-wide stop in auto too (here DH-902 confirmed), and renewals resume', async () => {
    const w = await started();
    w.sim.setAccountOptions(CLIENT, { dataAccess: false });
    await untilPlannedRefresh(w);
    await w.runFor(HOUR);
    expect(w.store.getAccount(CLIENT)!.attention).toMatchObject({ scope: 'account', cause: 'access-denied' });
    w.sim.setAccountOptions(CLIENT, { dataAccess: true });
    const web = w.sim.issueWebToken(CLIENT);
    expect(
      (
        await adoptToken(w.keeper.worker(CLIENT)!, {
          accessToken: web.accessToken,
          source: 'web',
          expiresAt: web.expiresAt,
          expiryTime: web.expiryTime,
        })
      ).ok,
    ).toBe(true);
    expect(w.store.getAccount(CLIENT)!.attention).toBeNull();
    w.keeper.scheduler.poke(CLIENT);
    await w.runFor(DAY);
    expect(w.current()!.source).toBe('renew');
    expect(w.sim.isLive(sinkToken(w.sinkPath))).toBe(true);
  });

  it('a config change lifts a stop it fixes: other credentials lift a credentials stop, credentials lift an import-needed stop', () => {
    const account = {
      mode: 'auto',
      pin: '123456',
      totpSecret: 'JBSWY3DPEHPK3PXP',
      credentialsFingerprint: 'fp-new',
    } as unknown as AccountConfig;
    const pinStop: Attention = {
      scope: 'generation',
      cause: 'credentials-refused',
      reason: 'refused twice',
      wayOut: 'fix',
      since: 0,
      credentialsFingerprint: 'fp-old',
    };
    expect(liftedByConfig(pinStop, account)).toMatch(/credentials changed/);
    expect(liftedByConfig({ ...pinStop, credentialsFingerprint: 'fp-new' }, account)).toBeUndefined();
    const importStop: Attention = {
      scope: 'account',
      cause: 'import-needed',
      reason: 'no token',
      wayOut: 'import',
      since: 0,
    };
    expect(liftedByConfig(importStop, account)).toMatch(/generate/);
    expect(liftedByConfig(importStop, { ...account, mode: 'renew-only' })).toBeUndefined();
    expect(liftedByConfig({ ...importStop, cause: 'access-denied' }, account)).toBeUndefined();
    expect(liftedByConfig(null, account)).toBeUndefined();
  });

  it('replaces an expired token at start at once', async () => {
    world = await World.create();
    const w = world;
    w.store.upsertAccount({ clientId: CLIENT, name: 'main', mode: 'auto' });
    w.store.saveToken({
      clientId: CLIENT,
      accessToken: 'x'.repeat(40),
      source: 'web',
      obtainedAt: w.clock.now() - 2 * DAY,
      expiresAt: w.clock.now() - DAY,
      expiryTime: '2026-01-04T19:30:00.000',
    });
    await w.keeper.start();
    await w.keeper.settle();
    expect(w.current()!.source).toBe('totp');
    expect(w.sim.stats().calls.profile[CLIENT]).toBe(0);
  });

  it('stops after two refused generations with a wrong PIN, keeps running, and resumes when the config is fixed', async () => {
    world = await World.create({ pin: '654321' });
    const w = world;
    await w.keeper.start();
    await w.runFor(HOUR);
    const gens = events(w, 'generate');
    expect(gens.map((e) => e.result)).toEqual(['failure', 'failure']);
    // The refused attempt re-armed Dhan's window: the second try waits it out, plus the margin.
    expect(gens[1]!.at - gens[0]!.at).toBeGreaterThanOrEqual(120_000 + 10_000);
    expect(gens[1]!.at - gens[0]!.at).toBeLessThan(120_000 + 10_000 + 30_000);
    expect(w.sim.stats()).toMatchObject({ credentialRefusals: { [CLIENT]: 2 }, rateLimitAnswers: { [CLIENT]: 0 } });
    expect(w.store.getAccount(CLIENT)!.attention).toMatchObject({
      scope: 'generation',
      cause: 'credentials-refused',
      reason: expect.stringContaining('(last answer: HTTP 200: Invalid Pin)') as unknown,
      wayOut: expect.stringMatching(/PIN or TOTP secret/) as unknown,
    });
    expect(w.keeper.statuses()[0]!.state).toBe('attention');
    await w.runFor(DAY);
    expect(w.sim.stats().calls.generate[CLIENT]).toBe(2);
    // A restart with the same wrong PIN stays stopped: no restart loop can hammer Dhan.
    await w.restart();
    await w.runFor(HOUR);
    expect(w.sim.stats().calls.generate[CLIENT]).toBe(2);
    // The person fixes the PIN: the changed credentials lift attention.
    w.writeConfig(PIN);
    await w.restart();
    await w.runFor(60_000);
    expect(w.store.getAccount(CLIENT)!.attention).toBeNull();
    expect(w.sim.isLive(w.current()!.accessToken)).toBe(true);
  });

  it('with refused credentials it stops generating but keeps renewing a live token a person imported', async () => {
    world = await World.create({ pin: '654321' });
    const w = world;
    await w.keeper.start();
    await w.runFor(HOUR);
    expect(w.keeper.statuses()[0]!.state).toBe('attention');
    const web = w.sim.issueWebToken(CLIENT);
    const worker = w.keeper.worker(CLIENT)!;
    expect(
      (
        await adoptToken(worker, {
          accessToken: web.accessToken,
          source: 'web',
          expiresAt: web.expiresAt,
          expiryTime: web.expiryTime,
        })
      ).ok,
    ).toBe(true);
    w.keeper.scheduler.poke(CLIENT);
    await w.runFor(3 * DAY);
    const stats = w.sim.stats();
    expect(stats.calls.generate[CLIENT]).toBe(2);
    expect(stats.calls.renew[CLIENT]).toBeGreaterThanOrEqual(4);
    expect(w.sim.isLive(w.current()!.accessToken)).toBe(true);
    // Still flagged for a person: the PIN is wrong, and a forced generation is refused without calling Dhan.
    expect(w.keeper.statuses()[0]!.state).toBe('attention');
    expect((await forceRefresh(worker, 'generate')).ok).toBe(false);
    expect((await forceRefresh(worker, 'renew')).ok).toBe(true);
    expect(w.sim.stats().calls.generate[CLIENT]).toBe(2);
  });

  it('survives a database error while planning (a lock past busy_timeout) and refreshes once it clears', async () => {
    const w = await started();
    const first = w.current()!;
    const store = w.store;
    const updateAccount = store.updateAccount.bind(store);
    store.updateAccount = () => {
      throw new Error('SqliteError: database is locked');
    };
    await untilPlannedRefresh(w);
    await w.runFor(30_000);
    expect(w.logLines.some((l) => l.includes('committing the planned next actions failed'))).toBe(true);
    store.updateAccount = updateAccount;
    await w.runFor(60_000);
    expect(w.current()!.id).not.toBe(first.id);
    expect(w.sim.isLive(w.current()!.accessToken)).toBe(true);
  });

  it('does not regenerate in a loop when Dhan answers DH-902 (a lapsed subscription is not a token problem)', async () => {
    const w = await started();
    w.sim.setAccountOptions(CLIENT, { dataAccess: false });
    await untilPlannedRefresh(w);
    const firstRefusal = w.clock.now();
    await w.runFor(2 * HOUR);
    expect(w.sim.stats().calls.generate[CLIENT]).toBe(1);
    // Retried with backoff (and a profile check each time) until Dhan had said so for 10 min.
    expect(w.sim.stats().calls.renew[CLIENT]).toBeGreaterThanOrEqual(2);
    expect(w.sim.stats().calls.renew[CLIENT]).toBeLessThanOrEqual(12);
    const attention = w.store.getAccount(CLIENT)!.attention;
    expect(attention).toMatchObject({
      scope: 'account',
      cause: 'access-denied',
      reason: expect.stringMatching(/DH-902/) as unknown,
    });
    expect(attention!.since - firstRefusal).toBeGreaterThanOrEqual(10 * 60_000);
  });

  it('replaces a token Dhan killed early within one probe interval', async () => {
    const w = await started();
    const before = w.current()!;
    await w.runFor(HOUR);
    w.sim.killTokens(CLIENT);
    await w.runFor(17 * 60_000);
    const after = w.current()!;
    expect(after.id).not.toBe(before.id);
    expect(w.sim.isLive(after.accessToken)).toBe(true);
    expect(events(w, 'probe').some((e) => e.result === 'failure')).toBe(true);
  });

  it('stretches the probe interval to stay within renewal.maxProbeRate, and still replaces a killed token within it', async () => {
    // One account at one probe per 5,000 s: every 83m 20s instead of every 15m (the world's
    // random is 0.5, so the first comes half an interval after the start, the rest one apart).
    const w = await started({ renewalYaml: '  maxProbeRate: 0.0002' });
    const before = w.current()!;
    const profileCalls = (): number => w.sim.stats().calls.profile[CLIENT] ?? 0;
    const callsAtStart = profileCalls();
    await w.runFor(4 * HOUR);
    // A live answer is not history (only dead ones are): the simulator counts the calls.
    expect(profileCalls() - callsAtStart).toBe(3);
    expect(
      w.logLines.some((line) =>
        line.includes('every 1h 23m instead of 15m: 1 account at renewal.maxProbeRate 0.0002/s'),
      ),
    ).toBe(true);

    w.sim.killTokens(CLIENT);
    await w.runFor(84 * 60_000);
    const after = w.current()!;
    expect(after.id).not.toBe(before.id);
    expect(w.sim.isLive(after.accessToken)).toBe(true);
  });

  it('a transient probe failure changes nothing', async () => {
    const w = await started();
    const before = w.current()!;
    w.sim.addFault({ endpoint: 'profile', times: 3, action: { type: 'status', status: 503 } });
    await w.runFor(HOUR);
    expect(w.current()!.id).toBe(before.id);
    expect(w.sim.stats().calls.generate[CLIENT]).toBe(1);
  });

  it('reuses a stored token that Dhan confirms at start, without renewing or generating', async () => {
    const w = await started();
    const before = w.current()!;
    await w.runFor(HOUR);
    await w.restart();
    expect(w.current()!.id).toBe(before.id);
    expect(w.sim.stats().calls.generate[CLIENT]).toBe(1);
    expect(w.sim.stats().calls.renew[CLIENT]).toBe(0);
    expect(events(w, 'recover').at(-1)!.message).toMatch(/confirmed/);
  });

  it('renew-only: renews an imported web token, and asks for a person when it cannot', async () => {
    world = await World.create({ mode: 'renew-only' });
    const w = world;
    await w.keeper.start();
    await w.keeper.settle();
    expect(w.keeper.statuses()[0]!.state).toBe('attention');
    const web = w.sim.issueWebToken(CLIENT);
    const outcome = await adoptToken(w.keeper.worker(CLIENT)!, {
      accessToken: web.accessToken,
      source: 'web',
      expiresAt: web.expiresAt,
      expiryTime: web.expiryTime,
    });
    expect(outcome.ok).toBe(true);
    w.keeper.scheduler.poke(CLIENT);
    await w.runFor(2 * DAY);
    expect(w.sim.stats().calls.renew[CLIENT]).toBeGreaterThanOrEqual(2);
    expect(w.sim.isLive(w.current()!.accessToken)).toBe(true);
    w.sim.killTokens(CLIENT);
    await w.runFor(HOUR);
    expect(w.keeper.statuses()[0]!.state).toBe('attention');
    expect(w.sim.stats().calls.generate[CLIENT]).toBe(0);
  });

  it('generate-only never renews', async () => {
    const w = await started({ mode: 'generate-only' });
    await w.runFor(3 * DAY);
    expect(w.sim.stats().calls.renew[CLIENT]).toBe(0);
    expect(w.sim.stats().calls.generate[CLIENT]).toBe(5);
  });

  it('keeps opaque (non-JWT) tokens alive using the IST expiryTime', async () => {
    const w = await started({ simAccount: { tokenFormat: 'opaque' } });
    const first = w.current()!;
    expect(first.accessToken.split('.').length).toBe(1);
    expect(first.expiresAt - w.clock.now()).toBeGreaterThan(DAY - 2_000);
    expect(first.expiresAt - w.clock.now()).toBeLessThanOrEqual(DAY);
    await w.runFor(2 * DAY);
    expect(w.sim.isLive(w.current()!.accessToken)).toBe(true);
  });
});

describe('keeper crash recovery (a crash at each step of a refresh)', () => {
  it('crash after the pending row, before Dhan saw the call: the stored token is reused', async () => {
    const w = await started();
    const token = w.current()!;
    w.store.beginEvent({ clientId: CLIENT, at: w.clock.now(), kind: 'renew', expiryBefore: token.expiresAt });
    await w.restart();
    expect(w.current()!.id).toBe(token.id);
    expect(w.store.pendingEvents(CLIENT)).toEqual([]);
    expect(w.store.listEvents({ clientId: CLIENT, kinds: ['renew'] })[0]!.result).toBe('abandoned');
  });

  it('crash after Dhan committed the renewal, before we stored it: the dead token is found and replaced', async () => {
    const w = await started();
    const token = w.current()!;
    w.store.beginEvent({ clientId: CLIENT, at: w.clock.now(), kind: 'renew', expiryBefore: token.expiresAt });
    // Dhan renews (and kills the old token); the answer dies with the process.
    const res = await fetch(`${w.sim.baseUrl}/v2/RenewToken`, {
      headers: { 'access-token': token.accessToken, dhanClientId: CLIENT },
    });
    expect(res.status).toBe(200);
    await w.restart();
    expect(w.current()).toBeUndefined();
    // Dhan allows the replacement two minutes after the first generation; the keeper adds its margin.
    await w.runFor(2 * 60_000 + 10_000);
    const now = w.current()!;
    expect(now.id).not.toBe(token.id);
    expect(w.sim.isLive(now.accessToken)).toBe(true);
    expect(sinkToken(w.sinkPath)).toBe(now.accessToken);
  });

  it('crash after the new token was stored, before the sinks were written: the start rewrites them', async () => {
    const w = await started();
    const stale = sinkToken(w.sinkPath);
    const renewed = await fetch(`${w.sim.baseUrl}/v2/RenewToken`, {
      headers: { 'access-token': stale, dhanClientId: CLIENT },
    });
    const body = (await renewed.json()) as { accessToken: string; expiryTime: string };
    w.store.saveToken({
      clientId: CLIENT,
      accessToken: body.accessToken,
      source: 'renew',
      obtainedAt: w.clock.now(),
      expiresAt: w.clock.now() + DAY,
      expiryTime: body.expiryTime,
    });
    expect(sinkToken(w.sinkPath)).toBe(stale);
    await w.restart();
    expect(sinkToken(w.sinkPath)).toBe(body.accessToken);
    expect(w.sim.stats().calls.generate[CLIENT]).toBe(1);
  });

  it("crash mid-generation: the persisted last-generation time keeps a restart loop inside Dhan's 2-minute rule", async () => {
    world = await World.create();
    const w = world;
    w.sim.addFault({ endpoint: 'generate', action: { type: 'drop-after-commit' } });
    await w.keeper.start();
    await w.keeper.settle();
    for (let i = 0; i < 5; i++) {
      await w.restart();
      await w.runFor(10_000);
    }
    await w.runFor(3 * 60_000);
    expect(w.sim.stats().generationsRefused[CLIENT]).toBe(0);
    expect(w.sim.isLive(w.current()!.accessToken)).toBe(true);
  });
});
