import type { AccountMode } from '../types.js';
import { at, type Ctx } from './context.js';
import { UNRESOLVED } from './env.js';
import { checkKeys, isAbsent, isObject, kindOf, oneOf, show } from './fields.js';
import { credentialsFingerprint } from './fingerprint.js';
import { readSecret, type Secret } from './secrets.js';
import { sinks } from './sinks.js';
import type { AccountConfig } from './types.js';

const KEYS = ['clientId', 'name', 'mode', 'pin', 'pinFile', 'totpSecret', 'totpSecretFile', 'sinks'] as const;
const MODES = ['auto', 'renew-only', 'generate-only'] as const satisfies readonly AccountMode[];
const NAME = /^[A-Za-z0-9_.-]+$/;
// 80 bits, the shortest secret common authenticator apps take (RFC 4226 asks for 128):
// anything shorter is a truncated copy, and the fingerprint relies on this entropy.
const MIN_BASE32_CHARS = 16;

export function accounts(ctx: Ctx, value: unknown): AccountConfig[] {
  if (value === UNRESOLVED) return [];
  if (isAbsent(value) || (Array.isArray(value) && value.length === 0)) {
    ctx.problems.error('accounts', `${isAbsent(value) ? 'missing' : 'is empty'} — list at least one account with its clientId`);
    return [];
  }
  if (!Array.isArray(value)) {
    ctx.problems.error('accounts', `must be a list of accounts, not ${kindOf(value)}`);
    return [];
  }
  const out: AccountConfig[] = [];
  const byClientId = new Map<string, string>();
  const byName = new Map<string, string>();
  const sinkFiles = new Map<string, string>();
  value.forEach((item: unknown, i) => {
    const path = at('accounts', i);
    const account = oneAccount(ctx, path, item, sinkFiles);
    if (account === undefined) return;
    const sameId = byClientId.get(account.clientId);
    if (sameId !== undefined) {
      ctx.problems.error(at(path, 'clientId'), `${account.clientId} is already used by ${sameId} — list each account once`);
      // Its default name (the clientId) clashes too; that is the same mistake, already reported.
      if (isObject(item) && isAbsent(item['name'])) return;
    } else if (account.clientId !== '') byClientId.set(account.clientId, path);
    const sameName = byName.get(account.name);
    if (sameName !== undefined) ctx.problems.error(at(path, 'name'), `${show(account.name)} is already used by ${sameName} — names must be unique`);
    else if (account.name !== '') byName.set(account.name, path);
    out.push(account);
  });
  return out;
}

function oneAccount(ctx: Ctx, path: string, value: unknown, sinkFiles: Map<string, string>): AccountConfig | undefined {
  if (value === UNRESOLVED) return undefined;
  if (!isObject(value)) {
    ctx.problems.error(path, `must be a mapping with clientId, pin, totpSecret…, not ${kindOf(value)}`);
    return undefined;
  }
  checkKeys(ctx, path, value, KEYS);
  const clientId = parseClientId(ctx, at(path, 'clientId'), value['clientId']);
  const name = isAbsent(value['name']) ? clientId : parseName(ctx, at(path, 'name'), value['name']);
  const mode = isAbsent(value['mode']) ? 'auto' : oneOf(ctx, at(path, 'mode'), value['mode'], MODES);
  // With an invalid mode, whether credentials are missing cannot be told: one problem is enough.
  const needsCredentials = mode === 'auto' || mode === 'generate-only';
  const pin = checkPin(ctx, readSecret(ctx, value, path, 'pin', 'pinFile'));
  const totpSecret = checkTotpSecret(ctx, readSecret(ctx, value, path, 'totpSecret', 'totpSecretFile'));
  if (needsCredentials) {
    const why = `mode ${mode} generates tokens with the PIN and TOTP`;
    const alternative = 'or use mode: renew-only for a token imported from Dhan Web';
    if (pin === 'absent') ctx.problems.error(at(path, 'pin'), `missing — ${why}; set pin or pinFile, ${alternative}`);
    if (totpSecret === 'absent') {
      ctx.problems.error(at(path, 'totpSecret'), `missing — ${why}; set totpSecret or totpSecretFile, ${alternative}`);
    }
  }
  const pinValue = typeof pin === 'object' ? pin.value : undefined;
  const secretValue = typeof totpSecret === 'object' ? totpSecret.value : undefined;
  return {
    clientId: clientId ?? '',
    name: name ?? clientId ?? '',
    mode: mode ?? 'auto',
    pin: pinValue,
    totpSecret: secretValue,
    credentialsFingerprint: credentialsFingerprint(clientId ?? '', pinValue, secretValue),
    sinks: sinks(ctx, at(path, 'sinks'), value['sinks'], sinkFiles),
  };
}

/** Dhan client ids are digits; YAML reads an unquoted one as a number, which is fine. */
function parseClientId(ctx: Ctx, path: string, value: unknown): string | undefined {
  if (value === UNRESOLVED) return undefined;
  if (isAbsent(value)) {
    ctx.problems.error(path, 'missing — give the Dhan client id, like "1000000001"');
    return undefined;
  }
  if (typeof value === 'number') {
    if (Number.isSafeInteger(value) && value > 0) return String(value);
    ctx.problems.error(path, `${value} is not a client id — quote it, like clientId: "1000000001"`);
    return undefined;
  }
  if (typeof value === 'string' && /^\d{1,20}$/.test(value.trim())) return value.trim();
  const shown = typeof value === 'string' ? show(value) : kindOf(value);
  ctx.problems.error(path, `${shown} is not a client id — Dhan client ids are digits, like "1000000001"`);
  return undefined;
}

export function parseName(ctx: Ctx, path: string, value: unknown): string | undefined {
  if (value === UNRESOLVED) return undefined;
  const text = typeof value === 'number' && Number.isInteger(value) ? String(value) : value;
  if (typeof text === 'string' && NAME.test(text)) return text;
  const shown = typeof text === 'string' ? show(text) : kindOf(text);
  ctx.problems.error(path, `${shown} is not a valid name — use letters, digits, _, . and - only`);
  return undefined;
}

/** A usable secret, or why there is none (already reported when invalid). */
type Checked = { readonly value: string } | 'absent' | 'invalid';

function checkPin(ctx: Ctx, secret: Secret): Checked {
  if (secret.state !== 'ok') return secret.state;
  if (/^\d{6}$/.test(secret.value)) return { value: secret.value };
  const quoting = secret.wasNumber ? ' (quote it: YAML drops the leading zeros of a number)' : '';
  ctx.problems.error(secret.path, `must be 6 digits${quoting}`);
  return 'invalid';
}

/** Normalised as otplib expects it: no spaces, upper case, no `=` padding. */
function checkTotpSecret(ctx: Ctx, secret: Secret): Checked {
  if (secret.state !== 'ok') return secret.state;
  const compact = secret.value.replace(/\s+/g, '').toUpperCase();
  if (!/^[A-Z2-7]+=*$/.test(compact)) {
    const uri = /^otpauth:/i.test(compact) ? ' (from an otpauth:// link, take only its secret= value)' : '';
    ctx.problems.error(secret.path, `is not a base32 TOTP secret (letters A-Z and digits 2-7)${uri}`);
    return 'invalid';
  }
  const normalised = compact.replace(/=+$/, '');
  if (normalised.length < MIN_BASE32_CHARS) {
    ctx.problems.error(secret.path, `is too short for a TOTP secret — need at least ${MIN_BASE32_CHARS} base32 characters (80 bits)`);
    return 'invalid';
  }
  return { value: normalised };
}
