import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { ENV, problemsOf, tempDir, writeConfig, writeFile } from '../helpers/config-fixtures.js';

/* The API-key (consent) keys: apiKey/apiSecret twins, mode consent, the consent section. */

const API_KEY = 'a1b2c3d4-api-key';
const API_SECRET = 's3cr3t-api-secret-value';
const ENV_APP = { ...ENV, DHAN_API_KEY: API_KEY, DHAN_API_SECRET: API_SECRET };

function consentAccount(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    clientId: '1000000001',
    name: 'main',
    mode: 'consent',
    apiKey: '${DHAN_API_KEY}',
    apiSecret: '${DHAN_API_SECRET}',
    ...extra,
  };
}

describe('consent accounts', () => {
  it('loads mode consent with the key and secret, and the consent defaults', () => {
    const config = loadConfig(writeConfig(tempDir(), { accounts: [consentAccount()] }), ENV_APP).config;
    expect(config.accounts[0]).toMatchObject({
      mode: 'consent',
      app: { apiKey: API_KEY, apiSecret: API_SECRET },
      pin: undefined,
    });
    expect(config.consent).toEqual({ askBeforeMs: 2 * 3_600_000, redirectUrl: undefined });
  });

  it('reads the key and secret from files, like the PIN', () => {
    const dir = tempDir();
    writeFile(join(dir, 'secrets', 'key'), `${API_KEY}\n`);
    writeFile(join(dir, 'secrets', 'secret'), API_SECRET);
    const account = {
      clientId: '1000000001',
      mode: 'consent',
      apiKeyFile: 'secrets/key',
      apiSecretFile: 'secrets/secret',
    };
    const { config } = loadConfig(writeConfig(dir, { accounts: [account] }), ENV);
    expect(config.accounts[0]?.app).toEqual({ apiKey: API_KEY, apiSecret: API_SECRET });
  });

  it('an auto account may have TOTP credentials and an API key (TOTP first)', () => {
    const account = {
      clientId: '1000000001',
      pin: '${DHAN_PIN}',
      totpSecret: '${DHAN_TOTP_SECRET}',
      apiKey: '${DHAN_API_KEY}',
      apiSecret: '${DHAN_API_SECRET}',
    };
    const { config } = loadConfig(writeConfig(tempDir(), { accounts: [account] }), ENV_APP);
    expect(config.accounts[0]).toMatchObject({ mode: 'auto', app: { apiKey: API_KEY } });
    expect(config.accounts[0]?.pin).toBe(ENV.DHAN_PIN);
  });

  it('reads consent.askBefore and a redirect URL on the callback path', () => {
    const { config } = loadConfig(
      writeConfig(tempDir(), {
        consent: { askBefore: '90m', redirectUrl: 'http://127.0.0.1:9470/v1/consent/callback' },
        accounts: [consentAccount()],
      }),
      ENV_APP,
    );
    expect(config.consent).toEqual({
      askBeforeMs: 90 * 60_000,
      redirectUrl: 'http://127.0.0.1:9470/v1/consent/callback',
    });
  });

  const cases: [string, Record<string, unknown>, string][] = [
    [
      'mode consent without a key',
      { accounts: [consentAccount({ apiKey: undefined })] },
      'accounts[0].apiKey: missing — mode consent logs in with the API key and secret; set apiKey or apiKeyFile',
    ],
    [
      'a key without its secret',
      { accounts: [{ clientId: '1', pin: '${DHAN_PIN}', totpSecret: '${DHAN_TOTP_SECRET}', apiKey: 'k-1234' }] },
      'accounts[0].apiSecret: missing — the API key and secret work only together',
    ],
    [
      'both twins',
      { accounts: [consentAccount({ apiSecretFile: 'x' })] },
      'accounts[0].apiSecret: both apiSecret and apiSecretFile are set — keep only one',
    ],
    [
      'auto with only an API key',
      { accounts: [{ clientId: '1', apiKey: 'k-1234', apiSecret: 's-1234' }] },
      'accounts[0].mode: is auto, which generates with the PIN and TOTP, but only an API key is set — use mode: consent',
    ],
    [
      'a key with spaces',
      { accounts: [consentAccount({ apiKey: 'two words' })] },
      'accounts[0].apiKey: contains spaces',
    ],
    [
      'a redirect URL elsewhere',
      { consent: { redirectUrl: 'http://127.0.0.1:9470/callback' }, accounts: [consentAccount()] },
      'consent.redirectUrl: must end in /v1/consent/callback',
    ],
    [
      'a redirect URL with a query',
      { consent: { redirectUrl: 'http://127.0.0.1:9470/v1/consent/callback?x=1' }, accounts: [consentAccount()] },
      'consent.redirectUrl: must not have a query',
    ],
    [
      'an askBefore that is not a duration',
      { consent: { askBefore: 'soon' }, accounts: [consentAccount()] },
      'consent.askBefore:',
    ],
  ];
  for (const [what, raw, want] of cases) {
    it(`refuses ${what}, naming the key and the fix`, () => {
      const problems = problemsOf(
        writeConfig(tempDir(), JSON.parse(JSON.stringify(raw)) as Record<string, unknown>),
        ENV_APP,
      );
      expect(problems.join('\n')).toContain(want);
      expect(problems.join('\n')).not.toContain(API_SECRET);
    });
  }

  it('commands without secrets know an account has an app, never its values', () => {
    const path = writeConfig(tempDir(), { accounts: [consentAccount()] });
    const { config } = loadConfig(path, {}, { secrets: 'skip' });
    expect(config.accounts[0]?.app).toEqual({ apiKey: '', apiSecret: '' });
  });
});
