import { z } from 'zod';
import type { AccountMode } from '../tokens.js';
import { at, type Ctx, type Warn } from './problems.js';
import { credentialsFingerprint } from './credentials-fingerprint.js';
import { firstUser, isObject, kindOf, passed, required, show } from './issues.js';
import { given, inlineSecret, secretFile, twins, type SecretRule } from './secrets.js';
import { sinkSchema, toSinkConfig } from './sinks.js';
import type { AccountConfig } from './config.js';
import { clientId, name } from './values.js';

const MODES = ['auto', 'renew-only', 'generate-only', 'consent'] as const satisfies readonly AccountMode[];
// 80 bits, the shortest secret common authenticator apps take (RFC 4226 asks for 128):
// anything shorter is a truncated copy, and the fingerprint relies on this entropy.
const MIN_BASE32_CHARS = 16;

const pinRule: SecretRule = (value, wasNumber) =>
  /^\d{6}$/.test(value)
    ? value
    : { problem: `must be 6 digits${wasNumber ? ' (quote it: YAML drops the leading zeros of a number)' : ''}` };

/** Normalised as otplib expects it: no spaces, upper case, no `=` padding. */
const totpRule: SecretRule = (value) => {
  const compact = value.replace(/\s+/g, '').toUpperCase();
  if (!/^[A-Z2-7]+=*$/.test(compact)) {
    const uri = /^otpauth:/i.test(compact) ? ' (from an otpauth:// link, take only its secret= value)' : '';
    return { problem: `is not a base32 TOTP secret (letters A-Z and digits 2-7)${uri}` };
  }
  const normalised = compact.replace(/=+$/, '');
  if (normalised.length < MIN_BASE32_CHARS) {
    return {
      problem: `is too short for a TOTP secret — need at least ${MIN_BASE32_CHARS} base32 characters (80 bits)`,
    };
  }
  return normalised;
};

const CREDENTIALS = [
  ['pin', 'pinFile'],
  ['totpSecret', 'totpSecretFile'],
] as const;
/** The API key and secret of the account's Dhan app (web.dhan.co → Access DhanHQ APIs). */
const APP_CREDENTIALS = [
  ['apiKey', 'apiKeyFile'],
  ['apiSecret', 'apiSecretFile'],
] as const;

// Key and secret are opaque to us; only what cannot be one is refused (a pasted line with spaces).
const appRule: SecretRule = (value) =>
  /\s/.test(value) ? { problem: 'contains spaces — paste the value alone' } : value;

function accountSchema(ctx: Ctx) {
  return twins(
    [...CREDENTIALS, ...APP_CREDENTIALS],
    z
      .strictObject(
        {
          clientId: required(clientId, 'give the Dhan client id, like "1000000001"'),
          name: name.optional(),
          mode: z.enum(MODES).default('auto'),
          pin: inlineSecret('pin', 'pinFile', pinRule).optional(),
          pinFile: secretFile(ctx, pinRule).optional(),
          totpSecret: inlineSecret('totpSecret', 'totpSecretFile', totpRule).optional(),
          totpSecretFile: secretFile(ctx, totpRule).optional(),
          apiKey: inlineSecret('apiKey', 'apiKeyFile', appRule).optional(),
          apiKeyFile: secretFile(ctx, appRule).optional(),
          apiSecret: inlineSecret('apiSecret', 'apiSecretFile', appRule).optional(),
          apiSecretFile: secretFile(ctx, appRule).optional(),
          sinks: z.array(sinkSchema(ctx)).prefault([]),
        },
        {
          error: (issue) =>
            issue.code === 'invalid_type'
              ? `must be a mapping with clientId, pin, totpSecret…, not ${kindOf(issue.input)}`
              : undefined,
        },
      )
      .superRefine(
        (account, issues) => {
          const hasApp = APP_CREDENTIALS.map(
            ([key, fileKey]) => account[key] !== undefined || account[fileKey] !== undefined,
          );
          if (account.mode === 'consent' || hasApp.some(Boolean)) {
            // One without the other cannot log in; for mode consent, neither is a plain mistake.
            APP_CREDENTIALS.forEach(([key, fileKey], i) => {
              if (hasApp[i]) return;
              const why =
                account.mode === 'consent'
                  ? 'mode consent logs in with the API key and secret'
                  : 'the API key and secret work only together';
              issues.addIssue({
                code: 'custom',
                path: [key],
                message: `missing — ${why}; set ${key} or ${fileKey} (web.dhan.co → My Profile → Access DhanHQ APIs)`,
              });
            });
          }
          if (
            account.mode === 'auto' &&
            hasApp.every(Boolean) &&
            CREDENTIALS.every(([key, fileKey]) => account[key] === undefined && account[fileKey] === undefined)
          ) {
            issues.addIssue({
              code: 'custom',
              path: ['mode'],
              message:
                'is auto, which generates with the PIN and TOTP, but only an API key is set — use mode: consent, or add pin and totpSecret',
            });
            return;
          }
          if (account.mode !== 'auto' && account.mode !== 'generate-only') return;
          const why = `mode ${account.mode} generates tokens with the PIN and TOTP`;
          const alternative = 'or use mode: renew-only for a token imported from Dhan Web';
          for (const [key, fileKey] of CREDENTIALS) {
            if (account[key] !== undefined || account[fileKey] !== undefined) continue;
            issues.addIssue({
              code: 'custom',
              path: [key],
              message: `missing — ${why}; set ${key} or ${fileKey}, ${alternative}`,
            });
          }
          // With an invalid mode, whether credentials are missing cannot be told: one problem is enough.
        },
        { when: (payload) => passed(payload, 'mode') },
      ),
  );
}

type ParsedAccount = z.output<ReturnType<typeof accountSchema>>;

export function accountsSchema(ctx: Ctx) {
  return z
    .array(accountSchema(ctx), {
      error: (issue) =>
        issue.input === undefined
          ? 'missing — list at least one account with its clientId'
          : `must be a list of accounts, not ${kindOf(issue.input)}`,
    })
    .min(1, 'is empty — list at least one account with its clientId')
    .superRefine(noDuplicates, { when: (payload) => Array.isArray(payload.value) });
}

/** Each account once, each name once, and no file written by two sinks (each would clobber the other's token). */
function noDuplicates(accounts: readonly ParsedAccount[], issues: z.core.$RefinementCtx): void {
  const files = new Map<string, string>();
  const ids = new Map<string, number>();
  const names = new Map<string, number>();
  const report = (path: PropertyKey[], message: string) => issues.addIssue({ code: 'custom', path, message });
  accounts.forEach((account, i) => {
    if (!isObject(account)) return;
    if (Array.isArray(account.sinks)) {
      account.sinks.forEach((sink, j) => {
        if (!passed(issues, i, 'sinks', j, 'path') || sink.type !== 'file') return;
        const earlier = firstUser(files, sink.path, `accounts[${i}].sinks[${j}].path`);
        if (earlier !== undefined)
          report([i, 'sinks', j, 'path'], `${sink.path} is also written by ${earlier} — give each sink its own file`);
      });
    }
    const id = passed(issues, i, 'clientId') ? account.clientId : undefined;
    const sameId = firstUser(ids, id, i);
    if (sameId !== undefined)
      report([i, 'clientId'], `${id} is already used by accounts[${sameId}] — list each account once`);
    // A default name (the clientId) clashes along with it: the same mistake, already reported.
    if (!passed(issues, i, 'name') || (sameId !== undefined && account.name === undefined)) return;
    const name = account.name ?? id;
    const sameName = firstUser(names, name, i);
    if (name !== undefined && sameName !== undefined)
      report([i, 'name'], `${show(name)} is already used by accounts[${sameName}] — names must be unique`);
  });
}

export function toAccountConfig(account: ParsedAccount, path: string, warn: Warn): AccountConfig {
  const pin = given(path, 'pin', 'pinFile', account.pin, account.pinFile, warn)?.value;
  const totpSecret = given(
    path,
    'totpSecret',
    'totpSecretFile',
    account.totpSecret,
    account.totpSecretFile,
    warn,
  )?.value;
  const apiKey = given(path, 'apiKey', 'apiKeyFile', account.apiKey, account.apiKeyFile, warn)?.value;
  const apiSecret = given(path, 'apiSecret', 'apiSecretFile', account.apiSecret, account.apiSecretFile, warn)?.value;
  return {
    clientId: account.clientId,
    name: account.name ?? account.clientId,
    mode: account.mode,
    pin,
    totpSecret,
    credentialsFingerprint: credentialsFingerprint(account.clientId, pin, totpSecret),
    app: apiKey !== undefined && apiSecret !== undefined ? { apiKey, apiSecret } : undefined,
    sinks: account.sinks.map((sink, i) => toSinkConfig(sink, at(at(path, 'sinks'), i), warn)),
  };
}
