import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../../src/clock.js';
import {
  loadSimAccounts,
  startSimulator,
  type SimAccount,
  type Simulator,
  type SimulatorOptions,
} from '../../src/sim/index.js';
import { decodeBase32Secret, hotp } from '../../src/sim/totp-verify.js';
import { totpAt } from '../helpers/totp.js';

const A: SimAccount = { clientId: '1000000401', pin: '123456', totpSecret: 'JBSWY3DPEHPK3PXP', name: 'JOHN DOE' };
// Lower case with spaces, as users paste it.
const B: SimAccount = { clientId: '1000000402', pin: '654321', totpSecret: 'gezd gnbv gy3t qojq' };

/** 09:00:00.284 IST on 5 Jan 2026, 0.284 s into a TOTP step. */
const T0 = Date.UTC(2026, 0, 5, 3, 30, 0, 284);
const DAY = 86_400_000;

const SIX_FIELDS = [
  'accessToken',
  'dhanClientId',
  'dhanClientName',
  'dhanClientUcc',
  'expiryTime',
  'givenPowerOfAttorney',
];
const DH901 = {
  errorType: 'Invalid_Authentication',
  errorCode: 'DH-901',
  errorMessage: 'Client ID or user generated access token is invalid or expired.',
};
const DH905 = {
  errorType: 'Input_Exception',
  errorCode: 'DH-905',
  errorMessage: 'Missing required fields, bad values for parameters etc.',
};
const RATE_LIMITED = { status: 'error', message: 'Token can be generated once every 2 minutes.' };

let clock: FakeClock;
let sim: Simulator;

async function start(options: Partial<SimulatorOptions> = {}): Promise<Simulator> {
  await sim?.close();
  sim = await startSimulator({ accounts: [A, B], clock, ...options });
  return sim;
}

beforeEach(async () => {
  clock = new FakeClock(T0);
  await start();
});

afterEach(async () => {
  await sim.close();
});

function totp(account: SimAccount, stepOffset = 0): string {
  return totpAt(account.totpSecret, clock.now(), stepOffset);
}

interface Answer {
  status: number;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the assertions read arbitrary fields of JSON whose shape is what is under test.
  body: any;
  headers: Headers;
}

async function answer(res: Response): Promise<Answer> {
  const text = await res.text();
  return { status: res.status, body: text === '' ? undefined : (JSON.parse(text) as unknown), headers: res.headers };
}

async function generate(account: SimAccount, overrides: { pin?: string; totp?: string; clientId?: string } = {}) {
  const query = new URLSearchParams({
    dhanClientId: overrides.clientId ?? account.clientId,
    pin: overrides.pin ?? account.pin,
    totp: overrides.totp ?? totp(account),
  });
  return answer(await fetch(`${sim.baseUrl}/app/generateAccessToken?${query.toString()}`, { method: 'POST' }));
}

/** Refusals come with HTTP 200 too: success is a token in the body. */
function expectToken(res: Answer): string {
  expect(res.status).toBe(200);
  expect(typeof res.body.accessToken).toBe('string');
  return res.body.accessToken as string;
}

async function token(account: SimAccount = A): Promise<string> {
  return expectToken(await generate(account));
}

function renewRequest(accessToken: string, clientId: string = A.clientId, method = 'GET'): Promise<Response> {
  return fetch(`${sim.baseUrl}/v2/RenewToken`, {
    method,
    headers: { 'access-token': accessToken, dhanClientId: clientId },
  });
}

async function renew(accessToken: string, clientId: string = A.clientId, method = 'GET'): Promise<Answer> {
  return answer(await renewRequest(accessToken, clientId, method));
}

async function profile(accessToken: string): Promise<Answer> {
  return answer(await fetch(`${sim.baseUrl}/v2/profile`, { headers: { 'access-token': accessToken } }));
}

function jwtPart(jwt: string, index: number): Record<string, unknown> {
  const part = jwt.split('.')[index];
  if (part === undefined) throw new Error('not a JWT');
  return JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as Record<string, unknown>;
}

async function control(method: string, path: string, body?: unknown): Promise<Answer> {
  const init: RequestInit = { method };
  if (body !== undefined) init.body = JSON.stringify(body);
  return answer(await fetch(`${sim.baseUrl}${path}`, init));
}

describe('TOTP verification (own RFC 6238 implementation)', () => {
  it('matches the RFC 6238 SHA-1 test vector and otplib', () => {
    // RFC 6238 Appendix B: T = 59 s gives 94287082; the 6-digit code is its last six digits.
    expect(hotp(Buffer.from('12345678901234567890'), 1)).toBe('287082');
    const key = decodeBase32Secret(B.totpSecret);
    for (let step = 58_919_000; step < 58_919_050; step++) {
      expect(hotp(key, step)).toBe(totpAt('GEZDGNBVGY3TQOJQ', step * 30_000));
    }
  });

  it('refuses secrets that are not base32', () => {
    expect(() => decodeBase32Secret('JBSWY3DP1')).toThrow(/base32/);
    expect(() => decodeBase32Secret('  ')).toThrow(/empty/);
  });
});

describe('generateAccessToken', () => {
  it('answers the six fields with a JWT whose exp - iat is the lifetime and an IST expiryTime', async () => {
    const res = await generate(A);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json');
    expect(Object.keys(res.body).sort()).toEqual(SIX_FIELDS);
    expect(res.body).toMatchObject({
      dhanClientId: A.clientId,
      dhanClientName: 'JOHN DOE',
      givenPowerOfAttorney: false,
    });
    expect(res.body.dhanClientUcc).toMatch(/^[A-Z]{5}\d{4}[A-Z]$/);
    // 03:30:00.284 UTC + 24 h, written as IST wall-clock time without an offset.
    expect(res.body.expiryTime).toBe('2026-01-06T09:00:00.284');
    expect(jwtPart(res.body.accessToken, 0)).toEqual({ alg: 'HS512', typ: 'JWT' });
    const payload = jwtPart(res.body.accessToken, 1);
    expect(payload).toEqual({
      iss: 'dhan',
      partnerId: '',
      exp: Math.floor(T0 / 1000) + 86_400,
      iat: Math.floor(T0 / 1000),
      // PIN+TOTP tokens are APP tokens; Dhan Web's are SELF.
      tokenConsumerType: 'APP',
      webhookUrl: '',
      dhanClientId: A.clientId,
    });
    expect(sim.isLive(res.body.accessToken)).toBe(true);
    expect(sim.stats().liveTokens[A.clientId]).toBe(1);
    expect(sim.stats().calls.generate[A.clientId]).toBe(1);
  });

  it('uses the configured lifetime', async () => {
    await start({ tokenLifetimeMs: 3_600_000 });
    const payload = jwtPart(await token(), 1);
    expect((payload['exp'] as number) - (payload['iat'] as number)).toBe(3600);
    await clock.advance(3_600_000);
    expect(sim.stats().liveTokens[A.clientId]).toBe(0);
  });

  it('refuses a wrong PIN, a wrong TOTP and an unknown client without revealing the PIN', async () => {
    // Credentials judged before the window, and only a token arms it: each refusal is seen.
    sim.setAccountOptions(A.clientId, { generateWindow: 'success-only' });
    const wrongPin = await generate(A, { pin: '000000' });
    expect(wrongPin.body).toEqual({ status: 'error', message: 'Invalid Pin' });
    const wrongTotp = await generate(A, { totp: totp(A) === '000000' ? '111111' : '000000' });
    expect(wrongTotp.body).toEqual({ status: 'error', message: 'Invalid TOTP' });
    const unknown = await generate(A, { clientId: '999' });
    expect(unknown.body).toEqual({ status: 'error', message: 'Invalid client id' });
    for (const res of [wrongPin, wrongTotp, unknown]) expect(JSON.stringify(res.body)).not.toContain(A.pin);
    expect(sim.stats().generationsRefused).toEqual({ [A.clientId]: 2, [B.clientId]: 0, '': 1 });
    expect(sim.stats().credentialRefusals).toEqual({ [A.clientId]: 2, [B.clientId]: 0 });
    expect(sim.stats().calls.generate).toEqual({ [A.clientId]: 2, [B.clientId]: 0, '': 1 });
    // With 'success-only', refusals do not start the 2-minute interval.
    expectToken(await generate(A));
  });

  it('by default, as the field reports: every attempt re-arms the 2-minute window, judged before the PIN', async () => {
    const wrongPin = { pin: '000000' };
    expect(await generate(A, wrongPin)).toMatchObject({
      status: 200,
      body: { status: 'error', message: 'Invalid Pin' },
    });
    await clock.advance(60_000);
    // Retried within the window: the rate-limit answer, under HTTP 200, and the window starts again.
    expect(await generate(A, wrongPin)).toMatchObject({ status: 200, body: RATE_LIMITED });
    await clock.advance(60_000);
    expect((await generate(A, wrongPin)).body).toEqual(RATE_LIMITED);
    await clock.advance(119_999);
    expect((await generate(A, wrongPin)).body).toEqual(RATE_LIMITED);
    // Two minutes after the last attempt, whatever it was: the PIN is judged again.
    await clock.advance(120_000);
    expect((await generate(A, wrongPin)).body).toEqual({ status: 'error', message: 'Invalid Pin' });
    await clock.advance(120_000);
    expectToken(await generate(A));
    await clock.advance(119_999);
    expect((await generate(A)).body).toEqual(RATE_LIMITED);
    expect(sim.stats()).toMatchObject({
      credentialRefusals: { [A.clientId]: 2 },
      rateLimitAnswers: { [A.clientId]: 4 },
      generationsRefused: { [A.clientId]: 6 },
    });
    // Per account.
    await token(B);
  });

  it('refuses the PIN or TOTP in each shape seen from the auth tier, when asked', async () => {
    const shapes = [
      ['status-error', 200, { status: 'error', message: 'Invalid Pin' }],
      ['message-200', 200, { message: 'Invalid Pin' }],
      ['message-401', 401, { message: 'Invalid Pin' }],
      ['error-403', 403, { error: 'Invalid Pin' }],
    ] as const;
    for (const [shape, status, body] of shapes) {
      sim.setAccountOptions(A.clientId, { generateRefusal: shape });
      const res = await generate(A, { pin: '000000' });
      expect({ shape, status: res.status, body: res.body as unknown }).toEqual({ shape, status, body });
      await clock.advance(120_000);
    }
    sim.setAccountOptions(A.clientId, { generateRefusal: 'message-401', totpEnabled: false });
    expect(await generate(A)).toMatchObject({ status: 401, body: { message: 'TOTP is not enabled for this account' } });
    expect(sim.stats().credentialRefusals[A.clientId]).toBe(5);
  });

  it('accepts the previous step, refuses older and future steps', async () => {
    sim.setAccountOptions(A.clientId, { generateWindow: 'success-only' });
    expect((await generate(A, { totp: totp(A, -2) })).body.message).toBe('Invalid TOTP');
    expect((await generate(A, { totp: totp(A, 1) })).body.message).toBe('Invalid TOTP');
    expectToken(await generate(A, { totp: totp(A, -1) }));
  });

  it('refuses a TOTP code already used for the account', async () => {
    await start({ generateIntervalMs: 0 });
    const code = totp(A);
    expectToken(await generate(A, { totp: code }));
    expect((await generate(A, { totp: code })).body).toEqual({ status: 'error', message: 'Invalid TOTP' });
    // Once a step is spent, the older step's unused code is refused too (RFC 6238 §5.2).
    expect((await generate(A, { totp: totp(A, -1) })).body.message).toBe('Invalid TOTP');
    await clock.advance(30_000);
    expectToken(await generate(A));
  });

  it('lists the TOTP step of every code sent, faults and refusals included, so a test sees a code sent twice', async () => {
    sim.setAccountOptions(A.clientId, { generateWindow: 'success-only' });
    const step = Math.floor(T0 / 30_000);
    sim.addFault({
      endpoint: 'generate',
      clientId: A.clientId,
      action: { type: 'dhan-error', code: 'DH-908', status: 500 },
    });
    expect((await generate(A)).status).toBe(500);
    expectToken(await generate(A));
    expect((await generate(A, { totp: totp(A, -1) })).body.message).toBe('Invalid TOTP');
    expect((await generate(A, { totp: '000000x' })).body.message).toBe('Invalid TOTP');
    await generate(A, { clientId: '999' });
    expect(sim.stats().generationCodeSteps).toEqual({ [A.clientId]: [step, step, step - 1, null], [B.clientId]: [] });
  });

  it("with 'success-only' and a 400: allows one generation every 2 minutes from the last token, then lifts the limit", async () => {
    sim.setAccountOptions(A.clientId, { generateWindow: 'success-only', rateLimitStatus: 400 });
    await token();
    await clock.advance(60_000);
    const limited = await generate(A);
    expect(limited.status).toBe(400);
    expect(limited.body).toEqual(RATE_LIMITED);
    await clock.advanceTo(T0 + 119_999);
    const code = totp(A);
    expect((await generate(A, { totp: code })).body).toEqual(RATE_LIMITED);
    await clock.advanceTo(T0 + 120_000);
    // Same step as the refused attempt: a rate-limited code was not spent.
    expect(totp(A)).toBe(code);
    expectToken(await generate(A, { totp: code }));
    // The limit is per account.
    await token(B);
    expect(sim.stats().generationsRefused).toEqual({ [A.clientId]: 2, [B.clientId]: 0 });
  });

  it('kills all older tokens of the account', async () => {
    await start({ generateIntervalMs: 0 });
    const web = sim.issueWebToken(A.clientId).accessToken;
    const other = await token(B);
    const first = await token(A);
    expect(sim.isLive(web)).toBe(false);
    await clock.advance(30_000);
    const second = await token(A);
    expect(sim.isLive(first)).toBe(false);
    expect(sim.isLive(second)).toBe(true);
    expect(sim.isLive(other)).toBe(true);
    expect(sim.stats().liveTokens).toEqual({ [A.clientId]: 1, [B.clientId]: 1 });
  });

  it('refuses generation when TOTP is not enabled', async () => {
    sim.setAccountOptions(A.clientId, { totpEnabled: false });
    const res = await generate(A);
    expect(res.body.status).toBe('error');
    expect(res.body.message).toMatch(/TOTP/);
    expect(sim.stats().liveTokens[A.clientId]).toBe(0);
  });

  it('writes expiryTime without milliseconds when asked', async () => {
    sim.setAccountOptions(A.clientId, { expiryTimeFormat: 'no-millis' });
    expect((await generate(A)).body.expiryTime).toBe('2026-01-06T09:00:00');
  });

  it('issues opaque tokens when asked, and they work like JWTs', async () => {
    sim.setAccountOptions(A.clientId, { tokenFormat: 'opaque' });
    const opaque = await token();
    expect(opaque).toMatch(/^[\x21-\x7e]{64}$/);
    expect(opaque.split('.')).toHaveLength(1);
    expect((await profile(opaque)).status).toBe(200);
    const renewed = await renew(opaque);
    expect(renewed.status).toBe(200);
    expect(renewed.body.accessToken).toHaveLength(64);
  });
});

describe('RenewToken', () => {
  it('renews with GET: the old token dies at once, the new one has a fresh full lifetime', async () => {
    const old = await token();
    await clock.advance(3_600_000);
    const res = await renew(old);
    expect(res.status).toBe(200);
    expect(Object.keys(res.body).sort()).toEqual(SIX_FIELDS);
    expect(res.body.expiryTime).toBe('2026-01-06T10:00:00.284');
    const payload = jwtPart(res.body.accessToken, 1);
    expect(payload['iat']).toBe(Math.floor((T0 + 3_600_000) / 1000));
    expect((payload['exp'] as number) - (payload['iat'] as number)).toBe(86_400);
    expect(sim.isLive(old)).toBe(false);
    expect(sim.isLive(res.body.accessToken)).toBe(true);
    expect((await renew(old)).body).toEqual(DH901);
    expect((await profile(old)).status).toBe(401);
    expect(sim.stats().calls.renew[A.clientId]).toBe(2);
  });

  it('answers POST with 400 DH-905 and does nothing', async () => {
    const live = await token();
    const res = await renew(live, A.clientId, 'POST');
    expect(res.status).toBe(400);
    expect(res.body).toEqual(DH905);
    expect(sim.isLive(live)).toBe(true);
    expect(sim.stats().wrongMethod).toBe(1);
    expect((await renew(live, A.clientId, 'PUT')).body.errorCode).toBe('DH-905');
    expect(sim.stats().wrongMethod).toBe(2);
  });

  it('refuses dead, expired, unknown and mismatched tokens with 401 DH-901', async () => {
    const killed = await token();
    sim.killTokens(A.clientId);
    const r1 = await renew(killed);
    expect(r1.status).toBe(401);
    expect(r1.body).toEqual(DH901);

    const expiring = sim.issueWebToken(A.clientId).accessToken;
    await clock.advance(DAY);
    expect(sim.isLive(expiring)).toBe(false);
    expect((await renew(expiring)).body).toEqual(DH901);

    expect((await renew('not-a-token')).body).toEqual(DH901);
    const live = sim.issueWebToken(A.clientId).accessToken;
    expect((await renew(live, B.clientId)).body).toEqual(DH901);
    expect(sim.isLive(live)).toBe(true);
  });

  it('needs the dhanClientId header', async () => {
    const live = await token();
    const res = await answer(await fetch(`${sim.baseUrl}/v2/RenewToken`, { headers: { 'access-token': live } }));
    expect(res.status).toBe(400);
    expect(res.body).toEqual(DH905);
    expect(sim.isLive(live)).toBe(true);
  });

  it('refuses TOTP tokens with DH-906 when they are not renewable, while web tokens renew', async () => {
    await start({ generateIntervalMs: 0 });
    const totpToken = await token();
    const renewedTotp = (await renew(totpToken)).body.accessToken as string;
    sim.setAccountOptions(A.clientId, { renewableTotpTokens: false });

    // A renewed TOTP token is still a TOTP token.
    const refused = await renew(renewedTotp);
    expect(refused.status).toBe(400);
    expect(refused.body).toEqual({ errorType: 'Order_Error', errorCode: 'DH-906', errorMessage: 'Invalid Token' });
    expect(sim.isLive(renewedTotp)).toBe(true);

    const web = sim.issueWebToken(A.clientId).accessToken;
    expect(jwtPart(web, 1)['tokenConsumerType']).toBe('SELF');
    const once = expectToken(await renew(web));
    expectToken(await renew(once));
  });

  it('refuses TOTP renewals in each field-reported shape; the token stays live in all of them', async () => {
    await start({ generateIntervalMs: 0 });
    const totpToken = await token();
    sim.setAccountOptions(A.clientId, { renewableTotpTokens: false, renewRefusal: 'not-allowed-905' });
    const refused500 = await renew(totpToken);
    expect(refused500.status).toBe(500);
    expect(refused500.body).toEqual({
      errorType: 'Input_Exception',
      errorCode: 'DH-905',
      errorMessage: 'Renewal of token not allowed for this token type',
    });
    sim.setAccountOptions(A.clientId, { renewRefusal: 'no-token-200' });
    const noToken = await renew(totpToken);
    expect(noToken.status).toBe(200);
    expect(noToken.body).toEqual({ status: 'success' });
    expect(sim.isLive(totpToken)).toBe(true);
    expect(() => sim.setAccountOptions(A.clientId, { renewRefusal: 'teapot' as never })).toThrow(/renewRefusal/);
  });

  it('nightly logout: every token dies at the configured IST time each day, and only from the next occurrence', async () => {
    // T0 is 09:00:00.284 IST; tokens live two days here, so only the logout can kill them.
    await start({ generateIntervalMs: 0, tokenLifetimeMs: 2 * DAY });
    const before = await token();
    sim.setAccountOptions(A.clientId, { nightlyLogoutAt: '03:00' });
    expect(sim.isLive(before)).toBe(true);
    await clock.advance(17 * 3_600_000 + 59 * 60_000); // 02:59 IST next day
    expect(sim.isLive(before)).toBe(true);
    await clock.advance(60_000); // 03:00 IST
    expect(sim.isLive(before)).toBe(false);
    const after = await token();
    expect(sim.isLive(after)).toBe(true);
    await clock.advance(DAY - 1_000); // 02:59:59.284 IST
    expect(sim.isLive(after)).toBe(true);
    await clock.advance(1_000);
    expect(sim.isLive(after)).toBe(false);
    expect(() => sim.setAccountOptions(A.clientId, { nightlyLogoutAt: '25:00' })).toThrow(/HH:mm/);
  });

  it('answers {token, expiryTime} in the token-field variant', async () => {
    sim.setAccountOptions(A.clientId, { renewField: 'token' });
    const old = await token();
    const res = await renew(old);
    expect(Object.keys(res.body).sort()).toEqual(['expiryTime', 'token']);
    expect(res.body.expiryTime).toBe('2026-01-06T09:00:00.284');
    expect(sim.isLive(res.body.token)).toBe(true);
    expect(sim.isLive(old)).toBe(false);
  });
});

describe('profile', () => {
  it('describes a live token, with tokenValidity in IST', async () => {
    const live = await token();
    const res = await profile(live);
    expect(res.status).toBe(200);
    expect(Object.keys(res.body).sort()).toEqual(
      ['activeSegment', 'dataPlan', 'dataValidity', 'ddpi', 'dhanClientId', 'mtf', 'tokenValidity'].sort(),
    );
    expect(res.body.dhanClientId).toBe(A.clientId);
    expect(res.body.tokenValidity).toBe('06/01/2026 09:00');
    expect(res.body.dataValidity).toMatch(/^\d{4}-\d{2}-\d{2} 23:59:59\.0$/);
    expect(sim.stats().calls.profile[A.clientId]).toBe(1);
  });

  it('answers 401 DH-901 for a dead or missing token', async () => {
    const live = await token();
    sim.killTokens(A.clientId);
    expect(await profile(live)).toMatchObject({ status: 401, body: DH901 });
    const missing = await answer(await fetch(`${sim.baseUrl}/v2/profile`));
    expect(missing).toMatchObject({ status: 401, body: DH901 });
    expect(sim.stats().calls.profile).toEqual({ [A.clientId]: 1, [B.clientId]: 0, '': 1 });
  });

  it('answers DH-902 to profile and renewal when the data plan lapsed, while generation still works', async () => {
    sim.setAccountOptions(A.clientId, { dataAccess: false });
    const fresh = await token();
    expect(sim.isLive(fresh)).toBe(true);
    const p = await profile(fresh);
    expect(p.status).toBe(400);
    expect(p.body.errorCode).toBe('DH-902');
    expect((await renew(fresh)).body.errorCode).toBe('DH-902');
    expect(sim.isLive(fresh)).toBe(true);
  });
});

describe('faults', () => {
  it('status: answers without doing the work, `times` times, then behaves', async () => {
    sim.addFault({ endpoint: 'generate', times: 2, action: { type: 'status', status: 503, body: { oops: true } } });
    expect(await generate(A)).toMatchObject({ status: 503, body: { oops: true } });
    const second = await generate(A);
    expect(second.status).toBe(503);
    expect(sim.stats().liveTokens[A.clientId]).toBe(0);
    expectToken(await generate(A));
  });

  it('matches by endpoint and client id, in the order faults were added', async () => {
    const live = await token(A);
    sim.addFault({ endpoint: 'renew', clientId: B.clientId, action: { type: 'status', status: 502 } });
    sim.addFault({ endpoint: 'any', action: { type: 'dhan-error', code: 'DH-904' } });
    sim.addFault({ endpoint: 'any', action: { type: 'dhan-error', code: 'DH-908', status: 503 } });
    const first = await profile(live);
    expect(first.status).toBe(429);
    expect(first.body).toEqual({
      errorType: 'Rate_Limit',
      errorCode: 'DH-904',
      errorMessage: 'Too many requests on server from single user breaching rate limits.',
    });
    expect(await profile(live)).toMatchObject({ status: 503, body: { errorCode: 'DH-908' } });
    expect((await renew(live)).status).toBe(200);
    sim.clearFaults();
    const b = await token(B);
    expect((await renew(b, B.clientId)).status).toBe(200);
  });

  it('rate-limit-body: the 2-minute body with the chosen status', async () => {
    sim.addFault({ endpoint: 'generate', action: { type: 'rate-limit-body', status: 200 } });
    expect(await generate(A)).toMatchObject({ status: 200, body: RATE_LIMITED });
    expect(sim.stats().liveTokens[A.clientId]).toBe(0);
  });

  it('delay: waits real time, then does the work even if the client gave up', async () => {
    sim.addFault({ endpoint: 'generate', action: { type: 'delay', ms: 250 } });
    const query = new URLSearchParams({ dhanClientId: A.clientId, pin: A.pin, totp: totp(A) });
    const url = `${sim.baseUrl}/app/generateAccessToken?${query.toString()}`;
    await expect(fetch(url, { method: 'POST', signal: AbortSignal.timeout(50) })).rejects.toThrow();
    expect(sim.stats().liveTokens[A.clientId]).toBe(0);
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(sim.stats().liveTokens[A.clientId]).toBe(1);

    sim.addFault({ endpoint: 'profile', action: { type: 'delay', ms: 200 } });
    const started = performance.now();
    const live = sim.issueWebToken(A.clientId).accessToken;
    expect((await profile(live)).status).toBe(200);
    expect(performance.now() - started).toBeGreaterThanOrEqual(190);
  });

  it("delay with onDisconnect 'discard': a client that hangs up during the hold leaves nothing done", async () => {
    const old = await token(A);
    sim.addFault({ endpoint: 'renew', action: { type: 'delay', ms: 250, onDisconnect: 'discard' } });
    const abandoned = fetch(`${sim.baseUrl}/v2/RenewToken`, {
      headers: { 'access-token': old, dhanClientId: A.clientId },
      signal: AbortSignal.timeout(50),
    });
    await expect(abandoned).rejects.toThrow();
    await new Promise((resolve) => setTimeout(resolve, 400));
    // As a server that had not processed it yet: the old token lives, no new one was issued.
    expect(sim.isLive(old)).toBe(true);
    expect(sim.stats().liveTokens[A.clientId]).toBe(1);

    // A client that waits out the same hold gets the renewal.
    sim.addFault({ endpoint: 'renew', action: { type: 'delay', ms: 100, onDisconnect: 'discard' } });
    const renewed = expectToken(await renew(old));
    expect(sim.isLive(renewed)).toBe(true);
    expect(sim.isLive(old)).toBe(false);
  });

  it('delay: refuses an onDisconnect it does not know', async () => {
    expect(() =>
      sim.addFault({ endpoint: 'renew', action: { type: 'delay', ms: 1, onDisconnect: 'maybe' as 'discard' } }),
    ).toThrow(/onDisconnect/);
  });

  it('raw: sends the text as given', async () => {
    sim.addFault({ endpoint: 'generate', action: { type: 'raw', body: '{"accessTo' } });
    sim.addFault({
      endpoint: 'generate',
      action: { type: 'raw', body: '<html>bad gateway</html>', status: 502, contentType: 'text/html' },
    });
    const truncated = await fetch(`${sim.baseUrl}/app/generateAccessToken`, { method: 'POST' });
    expect(truncated.status).toBe(200);
    expect(await truncated.text()).toBe('{"accessTo');
    const html = await fetch(`${sim.baseUrl}/app/generateAccessToken`, { method: 'POST' });
    expect(html.status).toBe(502);
    expect(html.headers.get('content-type')).toBe('text/html');
    expect(await html.text()).toBe('<html>bad gateway</html>');
  });

  it('huge-body: 2 MiB of valid JSON by default, or the bytes asked for', async () => {
    sim.addFault({ endpoint: 'renew', action: { type: 'huge-body' } });
    sim.addFault({ endpoint: 'renew', action: { type: 'huge-body', bytes: 1000 } });
    const huge = await (await renewRequest('x')).text();
    expect(huge.length).toBe(2 * 1024 * 1024);
    expect(() => JSON.parse(huge) as unknown).not.toThrow();
    expect((await (await renewRequest('x')).text()).length).toBe(1000);
  });

  it('drop: destroys the socket without doing the work', async () => {
    const live = await token();
    sim.addFault({ endpoint: 'renew', action: { type: 'drop' } });
    await expect(renewRequest(live)).rejects.toThrow();
    expect(sim.isLive(live)).toBe(true);
    expect(sim.stats().calls.renew[A.clientId]).toBe(1);
  });

  it('drop-after-commit: the renewal happens but the answer is lost', async () => {
    const old = await token();
    sim.addFault({ endpoint: 'renew', action: { type: 'drop-after-commit' } });
    await expect(renewRequest(old)).rejects.toThrow();
    expect(sim.isLive(old)).toBe(false);
    expect(sim.stats().liveTokens[A.clientId]).toBe(1);
  });

  it('drop-after-commit on generation: a token is live and the interval has started', async () => {
    sim.addFault({ endpoint: 'generate', action: { type: 'drop-after-commit' } });
    await expect(generate(A)).rejects.toThrow();
    expect(sim.stats().liveTokens[A.clientId]).toBe(1);
    await clock.advance(30_000);
    expect((await generate(A)).body).toEqual(RATE_LIMITED);
  });

  it('no-token: 200 without a token; with commit the old token is dead and a new one is live', async () => {
    const old = await token();
    sim.addFault({ endpoint: 'renew', action: { type: 'no-token' } });
    expect(await renew(old)).toMatchObject({ status: 200, body: { status: 'success' } });
    expect(sim.isLive(old)).toBe(true);

    sim.addFault({ endpoint: 'renew', action: { type: 'no-token', commit: true } });
    expect(await renew(old)).toMatchObject({ status: 200, body: { status: 'success' } });
    expect(sim.isLive(old)).toBe(false);
    expect(sim.stats().liveTokens[A.clientId]).toBe(1);
  });

  it('refuses malformed faults', () => {
    expect(() => sim.addFault({ endpoint: 'renew', times: 0, action: { type: 'drop' } })).toThrow(/times/);
    // @ts-expect-error -- an untyped caller's mistake
    expect(() => sim.addFault({ endpoint: 'renew', action: { type: 'explode' } })).toThrow(/type must be/);
  });
});

describe('control surface over HTTP', () => {
  it('adds and clears faults', async () => {
    const added = await control('POST', '/__sim/faults', {
      endpoint: 'profile',
      times: 5,
      action: { type: 'status', status: 500 },
    });
    expect(added.status).toBe(201);
    expect(typeof added.body.id).toBe('number');
    const live = await token();
    expect((await profile(live)).status).toBe(500);
    expect((await control('DELETE', '/__sim/faults')).status).toBe(204);
    expect((await profile(live)).status).toBe(200);
    const bad = await control('POST', '/__sim/faults', { endpoint: 'nowhere', action: { type: 'drop' } });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatch(/endpoint/);
  });

  it('issues web tokens, kills tokens and patches account options', async () => {
    const web = await control('POST', `/__sim/accounts/${A.clientId}/web-token`);
    expect(web.status).toBe(201);
    expect(Object.keys(web.body).sort()).toEqual(['accessToken', 'expiryTime']);
    expect(web.body.expiryTime).toBe('2026-01-06T09:00:00.284');
    expect(sim.isLive(web.body.accessToken)).toBe(true);

    expect((await control('POST', `/__sim/accounts/${A.clientId}/kill`)).status).toBe(204);
    expect(sim.isLive(web.body.accessToken)).toBe(false);

    expect(
      (await control('PATCH', `/__sim/accounts/${A.clientId}`, { renewField: 'token', tokenFormat: 'opaque' })).status,
    ).toBe(204);
    const renewed = await renew(await token());
    expect(renewed.body.token).toHaveLength(64);

    const badOption = await control('PATCH', `/__sim/accounts/${A.clientId}`, { tokenFormat: 'xml' });
    expect(badOption.status).toBe(400);
    expect(badOption.body.error).toMatch(/tokenFormat/);
    expect((await control('POST', '/__sim/accounts/404/kill')).status).toBe(404);
  });

  it('reports stats', async () => {
    await token();
    const res = await control('GET', '/__sim/stats');
    expect(res.status).toBe(200);
    expect(res.body).toEqual(sim.stats());
    expect(res.body.liveTokens[A.clientId]).toBe(1);
  });
});

describe('HTTP behaviour', () => {
  it('dates every response by the injected clock', async () => {
    await clock.advance(3 * 3_600_000 + 7_000);
    const expected = new Date(T0 + 3 * 3_600_000 + 7_000).toUTCString();
    const res = await generate(A);
    expect(res.headers.get('date')).toBe(expected);
    expect((await profile('dead')).headers.get('date')).toBe(expected);
    expect((await control('GET', '/__sim/stats')).headers.get('date')).toBe(expected);
  });

  it('answers unknown routes with 404 JSON', async () => {
    const res = await answer(await fetch(`${sim.baseUrl}/v2/orders`));
    expect(res.status).toBe(404);
    expect(res.headers.get('content-type')).toBe('application/json');
    expect(res.body.error).toMatch(/\/v2\/orders/);
  });

  it('closes promptly with open connections and a pending delay', async () => {
    sim.addFault({ endpoint: 'profile', action: { type: 'delay', ms: 30_000 } });
    const pending = profile('x').catch((err: unknown) => err);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const started = performance.now();
    await sim.close();
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(await pending).toBeInstanceOf(Error);
  });
});

describe('loadSimAccounts', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'sim-accounts-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  function load(yaml: string) {
    const path = join(dir, 'accounts.yaml');
    writeFileSync(path, yaml);
    return () => loadSimAccounts(path);
  }

  it('reads a list, turning numeric client ids into strings', () => {
    const accounts = load(`
- clientId: 1000000401
  pin: "012345"
  totpSecret: JBSW Y3DP EHPK 3PXP
  name: JOHN DOE
- clientId: "1000000402"
  pin: 654321
  totpSecret: gezdgnbvgy3tqojq
`)();
    expect(accounts).toEqual([
      { clientId: '1000000401', pin: '012345', totpSecret: 'JBSW Y3DP EHPK 3PXP', name: 'JOHN DOE' },
      { clientId: '1000000402', pin: '654321', totpSecret: 'gezdgnbvgy3tqojq' },
    ]);
  });

  it('names the bad entry without printing secrets', () => {
    expect(load('clientId: 1')).toThrow(/expected a YAML list/);
    expect(load('- pin: "123456"\n  totpSecret: JBSWY3DPEHPK3PXP')).toThrow(/entry 1: clientId/);
    expect(load('- clientId: 7\n  pin: 012345\n  totpSecret: JBSWY3DPEHPK3PXP')).toThrow(
      /entry 1 \(clientId 7\): pin must be a quoted/,
    );
    const badSecret = load('- clientId: 7\n  pin: "123456"\n  totpSecret: JBSWY3DPEHPK3PX1');
    expect(badSecret).toThrow(/entry 1 \(clientId 7\): totpSecret/);
    expect(() => badSecret()).toThrow(expect.objectContaining({ message: expect.not.stringContaining('PX1') }));
    expect(load('- clientId: 7\n  pin: "123456"\n  totpSecret: JBSWY3DPEHPK3PXP\n  pn: 1')).toThrow(
      /unknown key\(s\) pn/,
    );
  });
});
