import { afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/clock.js';
import { startSimulator, type Simulator } from '../../src/sim/index.js';
import { startRecordingProxy, tokenHash, type RecordingProxy } from '../helpers/dhan-recording-proxy.js';
import { totpAt } from '../helpers/totp.js';

/*
 * The chaos test's recording proxy (test/helpers/dhan-recording-proxy.ts): it must record who
 * called what, and pass a keeper's hang-up on to the simulator, so that a renewal held by the
 * simulator and abandoned by a killed keeper is never done.
 */

const A = { clientId: '1000001201', pin: '123456', totpSecret: 'JBSWY3DPEHPK3PXP' };

let sim: Simulator | undefined;
let proxy: RecordingProxy | undefined;
afterEach(async () => {
  await proxy?.close();
  await sim?.close();
});

describe('recording proxy in front of the simulator', () => {
  it('records each call with its keeper, endpoint, client id, times, status and token hash', async () => {
    sim = await startSimulator({ accounts: [A], clock: systemClock, generateIntervalMs: 0 });
    proxy = await startRecordingProxy(2, sim.baseUrl);
    const query = new URLSearchParams({ dhanClientId: A.clientId, pin: A.pin, totp: totpAt(A.totpSecret, Date.now()) });
    const res = await fetch(`${proxy.url}/app/generateAccessToken?${query.toString()}`, { method: 'POST' });
    const body = (await res.json()) as { accessToken: string };
    const renewed = await fetch(`${proxy.url}/v2/RenewToken`, {
      headers: { 'access-token': body.accessToken, dhanClientId: A.clientId },
    });
    expect(renewed.status).toBe(200);
    await fetch(`${proxy.url}/v2/profile`, { headers: { 'access-token': body.accessToken } });
    expect(proxy.calls.map((c) => [c.keeper, c.endpoint, c.clientId, c.status, c.abandoned])).toEqual([
      [2, 'generate', A.clientId, 200, false],
      [2, 'renew', A.clientId, 200, false],
      [2, 'profile', A.clientId, 401, false],
    ]);
    expect(proxy.calls[0]!.tokenHash).toBe(tokenHash(body.accessToken));
    for (const c of proxy.calls) expect(c.end).toBeGreaterThanOrEqual(c.start);
  });

  it("passes a keeper's hang-up on: a held renewal is then never done", async () => {
    sim = await startSimulator({ accounts: [A], clock: systemClock, generateIntervalMs: 0 });
    proxy = await startRecordingProxy(0, sim.baseUrl);
    const old = sim.issueWebToken(A.clientId).accessToken;
    sim.addFault({ endpoint: 'renew', action: { type: 'delay', ms: 400, onDisconnect: 'discard' } });
    const started = new Promise<void>((resolve) => {
      proxy!.onCallStart = () => resolve();
    });
    const abort = new AbortController();
    const request = fetch(`${proxy.url}/v2/RenewToken`, {
      headers: { 'access-token': old, dhanClientId: A.clientId },
      signal: abort.signal,
    });
    await started;
    expect(proxy.inFlight()).toBe(1);
    abort.abort();
    await expect(request).rejects.toThrow();
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(proxy.inFlight()).toBe(0);
    expect(proxy.calls[0]).toMatchObject({ abandoned: true, status: undefined });
    expect(sim.isLive(old)).toBe(true);
    expect(sim.stats().liveTokens[A.clientId]).toBe(1);
  });
});
