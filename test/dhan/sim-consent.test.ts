import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../../src/clock.js';
import { DhanClient, DhanError } from '../../src/dhan/index.js';
import { startSimulator, type SimAccount, type Simulator } from '../../src/sim/index.js';

/*
 * The simulator's API-key (consent) flow, driven over HTTP: by raw requests where the wire
 * matters (headers, 302, the login page) and by our own client where the parsed result does.
 */

const APP = {
  apiKey: 'sim-app-id-0001',
  apiSecret: 'sim-app-secret-0001',
  redirectUrl: 'http://127.0.0.1:9470/v1/consent/callback',
};
const A: SimAccount = {
  clientId: '1000000501',
  pin: '123456',
  totpSecret: 'JBSWY3DPEHPK3PXP',
  name: 'ASHA RAO',
  ...APP,
};
const B: SimAccount = { clientId: '1000000502', pin: '654321', totpSecret: 'GEZDGNBVGY3TQOJQ' };
/** 09:00 IST on 5 Jan 2026. */
const T0 = Date.UTC(2026, 0, 5, 3, 30, 0);

let clock: FakeClock;
let sim: Simulator;
let client: DhanClient;

beforeEach(async () => {
  clock = new FakeClock(T0);
  sim = await startSimulator({ accounts: [A, B], clock });
  client = new DhanClient({
    authBaseUrl: sim.baseUrl,
    apiBaseUrl: sim.baseUrl,
    timezone: 'Asia/Kolkata',
    requestTimeoutMs: 5_000,
    clock,
  });
});

afterEach(async () => {
  await sim.close();
});

const creds = { apiKey: APP.apiKey, apiSecret: APP.apiSecret };

async function kindOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'success';
  } catch (err) {
    if (err instanceof DhanError) return err.kind;
    throw err;
  }
}

describe('generate-consent', () => {
  it('answers the documented shape for the right key and secret, sent as headers', async () => {
    const res = await fetch(`${sim.baseUrl}/app/generate-consent?client_id=${A.clientId}`, {
      method: 'POST',
      headers: { app_id: APP.apiKey, app_secret: APP.apiSecret },
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, unknown>;
    expect(Object.keys(body).sort()).toEqual(['consentAppId', 'consentAppStatus', 'status']);
    expect(body).toMatchObject({ consentAppStatus: 'GENERATED', status: 'success' });
    expect(body['consentAppId']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('refuses a wrong key or secret, an account without an app, or a GET', async () => {
    expect(await kindOf(client.generateConsent(A.clientId, { ...creds, apiSecret: 'wrong-secret' }))).toBe(
      'credentials-rejected',
    );
    expect(await kindOf(client.generateConsent(A.clientId, { ...creds, apiKey: 'wrong-key' }))).toBe(
      'credentials-rejected',
    );
    expect(await kindOf(client.generateConsent(B.clientId, creds))).toBe('credentials-rejected');
    const get = await fetch(`${sim.baseUrl}/app/generate-consent?client_id=${A.clientId}`, {
      headers: { app_id: APP.apiKey, app_secret: APP.apiSecret },
    });
    expect(get.status).toBe(400);
    expect(sim.stats().calls['consent-generate'][A.clientId]).toBe(3);
  });

  it('allows 25 consents a day per user, and 25 more the next IST day', async () => {
    for (let i = 0; i < 25; i++) await client.generateConsent(A.clientId, creds);
    const refused = await client.generateConsent(A.clientId, creds).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(DhanError);
    expect((refused as DhanError).message).toMatch(/25 per day/);
    expect(sim.stats().consentsToday).toEqual({ [A.clientId]: 25 });
    // 09:00 IST + 15 h is past midnight IST.
    await clock.advance(15 * 3_600_000);
    await expect(client.generateConsent(A.clientId, creds)).resolves.toMatchObject({ consentAppStatus: 'GENERATED' });
  });
});

describe('login page and approval', () => {
  it('shows whose login it is, and its button answers 302 to the redirect URL with a tokenId', async () => {
    const { consentAppId } = await client.generateConsent(A.clientId, creds);
    const loginUrl = client.consentLoginUrl(consentAppId);
    const page = await fetch(loginUrl);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    const html = await page.text();
    expect(html).toContain(A.clientId);
    expect(html).toContain('Approve');
    const approve = await fetch(`${sim.baseUrl}/login/consentApp-login`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ consentAppId }).toString(),
      redirect: 'manual',
    });
    expect(approve.status).toBe(302);
    const location = new URL(approve.headers.get('location') ?? '');
    expect(`${location.origin}${location.pathname}`).toBe(APP.redirectUrl);
    expect(location.searchParams.get('tokenId')).toMatch(/^[0-9a-f-]{36}$/);
    // The login link is spent: Dhan shows it no more.
    expect((await fetch(loginUrl)).status).toBe(404);
  });

  it('the control surface approves like the button, once', async () => {
    const { consentAppId } = await client.generateConsent(A.clientId, creds);
    const res = await fetch(`${sim.baseUrl}/__sim/consents/${consentAppId}/approve`, { method: 'POST' });
    expect(res.status).toBe(200);
    const approval = (await res.json()) as { tokenId: string; location: string; clientId: string };
    expect(approval.clientId).toBe(A.clientId);
    expect(approval.location).toBe(`${APP.redirectUrl}?tokenId=${approval.tokenId}`);
    expect((await fetch(`${sim.baseUrl}/__sim/consents/${consentAppId}/approve`, { method: 'POST' })).status).toBe(404);
    expect(() => sim.approveConsent('no-such-consent')).toThrow(/no consent/);
  });

  it('an app registered over the control surface gets its redirect URL', async () => {
    const put = await fetch(`${sim.baseUrl}/__sim/accounts/${B.clientId}/app`, {
      method: 'PUT',
      body: JSON.stringify({ apiKey: 'b-key-0001', apiSecret: 'b-secret-0001', redirectUrl: 'http://127.0.0.1:1/cb' }),
    });
    expect(put.status).toBe(204);
    const { consentAppId } = await client.generateConsent(B.clientId, {
      apiKey: 'b-key-0001',
      apiSecret: 'b-secret-0001',
    });
    expect(sim.approveConsent(consentAppId).location).toMatch(/^http:\/\/127\.0\.0\.1:1\/cb\?tokenId=/);
    const bad = await fetch(`${sim.baseUrl}/__sim/accounts/${B.clientId}/app`, {
      method: 'PUT',
      body: JSON.stringify({ apiKey: 'x' }),
    });
    expect(bad.status).toBe(400);
  });
});

describe('consumeApp-consent', () => {
  it('exchanges an approved tokenId once for a live token of the account; a reused or unknown one is refused', async () => {
    const { consentAppId } = await client.generateConsent(A.clientId, creds);
    const { tokenId } = sim.approveConsent(consentAppId);
    const token = await client.consumeConsent(tokenId, creds);
    expect(token.dhanClientId).toBe(A.clientId);
    expect(token.expiresAt).toBe(T0 + 86_400_000 - (T0 % 1000));
    expect(sim.isLive(token.accessToken)).toBe(true);
    expect(await kindOf(client.consumeConsent(tokenId, creds))).toBe('unknown');
    expect(await kindOf(client.consumeConsent('00000000-0000-4000-8000-000000000000', creds))).toBe('unknown');
  });

  it('refuses a wrong secret without spending the tokenId; takes POST and tokenid too', async () => {
    const { consentAppId } = await client.generateConsent(A.clientId, creds);
    const { tokenId } = sim.approveConsent(consentAppId);
    expect(await kindOf(client.consumeConsent(tokenId, { ...creds, apiSecret: 'nope-nope' }))).toBe(
      'credentials-rejected',
    );
    const res = await fetch(`${sim.baseUrl}/app/consumeApp-consent?tokenid=${tokenId}`, {
      method: 'POST',
      headers: { app_id: APP.apiKey, app_secret: APP.apiSecret },
    });
    expect(res.status).toBe(200);
    expect(Object.keys((await res.json()) as object).sort()).toEqual([
      'accessToken',
      'dhanClientId',
      'dhanClientName',
      'dhanClientUcc',
      'expiryTime',
      'givenPowerOfAttorney',
    ]);
  });

  it('a consent token kills the older token, and is not renewable unless the account allows it', async () => {
    const web = sim.issueWebToken(A.clientId);
    const { consentAppId } = await client.generateConsent(A.clientId, creds);
    const token = await client.consumeConsent(sim.approveConsent(consentAppId).tokenId, creds);
    expect(sim.isLive(web.accessToken)).toBe(false);
    const refused = await client
      .renewToken({ clientId: A.clientId, accessToken: token.accessToken })
      .catch((err: unknown) => err);
    expect(refused).toMatchObject({ kind: 'renew-refused', dhanCode: 'DH-905', httpStatus: 500 });
    expect(sim.isLive(token.accessToken)).toBe(true);
    sim.setAccountOptions(A.clientId, { renewableConsentTokens: true });
    const renewed = await client.renewToken({ clientId: A.clientId, accessToken: token.accessToken });
    expect(sim.isLive(renewed.accessToken)).toBe(true);
    expect(sim.isLive(token.accessToken)).toBe(false);
  });

  it('faults apply to the consent endpoints too', async () => {
    sim.addFault({ endpoint: 'consent-generate', action: { type: 'status', status: 503 } });
    expect(await kindOf(client.generateConsent(A.clientId, creds))).toBe('transient');
    expect(await kindOf(client.generateConsent(A.clientId, creds))).toBe('success');
  });
});
