import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { decodeBase32Secret } from './totp-verify.js';
import type { SimAccount, SimAccountOptions, SimApp } from './simulator-api.js';

export const DEFAULT_ACCOUNT_OPTIONS: SimAccountOptions = Object.freeze({
  renewableTotpTokens: true,
  renewRefusal: 'invalid-token-906',
  nightlyLogoutAt: null,
  tokenFormat: 'jwt',
  renewField: 'accessToken',
  dataAccess: true,
  totpEnabled: true,
  expiryTimeFormat: 'millis',
  renewableConsentTokens: false,
  generateWindow: 'every-attempt',
  rateLimitStatus: 200,
  generateRefusal: 'status-error',
});

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Reads the accounts a simulator should know: a YAML list of `{clientId, pin, totpSecret, name?}`.
 * Errors name the entry and the key, never the PIN or secret itself.
 */
export function loadSimAccounts(path: string): SimAccount[] {
  let doc: unknown;
  try {
    doc = parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new Error(`${path}: cannot read simulator accounts: ${err instanceof Error ? err.message : String(err)}`, {
      cause: err,
    });
  }
  if (!Array.isArray(doc)) {
    throw new Error(`${path}: expected a YAML list of accounts ({clientId, pin, totpSecret, name?})`);
  }
  return doc.map((entry: unknown, index) => parseAccount(entry, `${path}: entry ${index + 1}`));
}

function parseAccount(entry: unknown, where: string): SimAccount {
  if (!isRecord(entry)) throw new Error(`${where}: expected a mapping with clientId, pin and totpSecret`);
  const rawId = entry['clientId'];
  let clientId: string;
  if (typeof rawId === 'string' && rawId.trim() !== '') clientId = rawId.trim();
  else if (typeof rawId === 'number' && Number.isSafeInteger(rawId) && rawId >= 0) clientId = String(rawId);
  else throw new Error(`${where}: clientId must be a non-empty string or a whole number`);
  const named = `${where} (clientId ${clientId})`;

  const known = new Set(['clientId', 'pin', 'totpSecret', 'name', 'apiKey', 'apiSecret', 'redirectUrl']);
  const unknown = Object.keys(entry).filter((key) => !known.has(key));
  if (unknown.length > 0) throw new Error(`${named}: unknown key(s) ${unknown.join(', ')}`);

  const rawPin = entry['pin'];
  let pin: string;
  if (typeof rawPin === 'string' && rawPin !== '') pin = rawPin;
  // YAML reads `pin: 012345` as the number 12345; only a number that keeps all its digits is safe.
  else if (typeof rawPin === 'number' && Number.isSafeInteger(rawPin) && String(rawPin).length === 6)
    pin = String(rawPin);
  else throw new Error(`${named}: pin must be a quoted string of digits, e.g. pin: "012345"`);

  const totpSecret = entry['totpSecret'];
  if (typeof totpSecret !== 'string') throw new Error(`${named}: totpSecret must be a base32 string`);
  try {
    decodeBase32Secret(totpSecret);
  } catch (err) {
    throw new Error(`${named}: totpSecret: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }

  const name = entry['name'];
  if (name !== undefined && typeof name !== 'string') throw new Error(`${named}: name must be a string`);
  const app = parseApp(entry, named);
  return { clientId, pin, totpSecret, ...(name === undefined ? {} : { name }), ...app };
}

/** apiKey and apiSecret come together; redirectUrl needs them. */
function parseApp(entry: Record<string, unknown>, where: string): Partial<SimApp> {
  const { apiKey, apiSecret, redirectUrl } = entry;
  if (apiKey === undefined && apiSecret === undefined && redirectUrl === undefined) return {};
  if (typeof apiKey !== 'string' || apiKey === '' || typeof apiSecret !== 'string' || apiSecret === '') {
    throw new Error(`${where}: apiKey and apiSecret must both be non-empty strings (the API-key login's app)`);
  }
  if (redirectUrl === undefined) return { apiKey, apiSecret };
  if (typeof redirectUrl !== 'string' || !URL.canParse(redirectUrl))
    throw new Error(`${where}: redirectUrl must be an absolute URL`);
  return { apiKey, apiSecret, redirectUrl };
}

/** An app arriving over the control surface. */
export function parseAppBody(value: unknown): SimApp {
  if (!isRecord(value)) throw new Error('the app must be a JSON object {apiKey, apiSecret, redirectUrl?}');
  const unknown = Object.keys(value).filter((key) => !['apiKey', 'apiSecret', 'redirectUrl'].includes(key));
  if (unknown.length > 0) throw new Error(`unknown app key(s) ${unknown.join(', ')}`);
  const app = parseApp(value, 'app');
  if (app.apiKey === undefined || app.apiSecret === undefined) throw new Error('the app needs apiKey and apiSecret');
  return app.redirectUrl === undefined
    ? { apiKey: app.apiKey, apiSecret: app.apiSecret }
    : { apiKey: app.apiKey, apiSecret: app.apiSecret, redirectUrl: app.redirectUrl };
}

type EnumOptions = Omit<SimAccountOptions, 'nightlyLogoutAt'>;

const OPTION_VALUES: { readonly [K in keyof EnumOptions]: readonly EnumOptions[K][] } = {
  renewableTotpTokens: [true, false],
  renewRefusal: ['invalid-token-906', 'not-allowed-905', 'no-token-200'],
  tokenFormat: ['jwt', 'opaque'],
  renewField: ['accessToken', 'token'],
  dataAccess: [true, false],
  totpEnabled: [true, false],
  expiryTimeFormat: ['millis', 'no-millis'],
  renewableConsentTokens: [true, false],
  generateWindow: ['every-attempt', 'success-only'],
  rateLimitStatus: [200, 400],
  generateRefusal: ['status-error', 'message-200', 'message-401', 'error-403'],
};

/** Validates options arriving over the control surface (or from untyped callers). */
export function parseAccountOptions(value: unknown): Partial<SimAccountOptions> {
  if (!isRecord(value)) throw new Error('account options must be a JSON object');
  for (const [key, option] of Object.entries(value)) {
    if (key === 'nightlyLogoutAt') {
      if (option !== null && (typeof option !== 'string' || !/^([01]\d|2[0-3]):[0-5]\d$/.test(option))) {
        throw new Error('account option "nightlyLogoutAt" must be "HH:mm" (IST) or null');
      }
      continue;
    }
    const allowed: readonly unknown[] | undefined = (OPTION_VALUES as Record<string, readonly unknown[]>)[key];
    if (!allowed) throw new Error(`unknown account option "${key}"`);
    if (!allowed.includes(option)) {
      throw new Error(`account option "${key}" must be one of ${allowed.map((v) => JSON.stringify(v)).join(', ')}`);
    }
  }
  // Every key and value was checked against OPTION_VALUES above.
  return value;
}
