import { z } from 'zod';
import { at, type Ctx, type Warn } from './problems.js';
import { describe, firstUser, isObject, kindOf, passed, required, show } from './issues.js';
import { given, inlineSecret, secretFile, twins } from './secrets.js';
import type { AccountConfig, ServerConfig } from './config.js';
import { listenAddress, name, wholeNumber } from './values.js';
import { isLoopbackHost } from '../loopback.js';

// Short keys can be guessed over the network; 16 random characters are well out of reach.
const MIN_KEY_LENGTH = 16;

const notAClient = (value: unknown) => `${describe(value)} is not a client id — use digits, or "*" for all`;

/** Client ids a key may read, or '*' for all; a single one needs no list. */
const clients = z
  .preprocess(
    (value) => (typeof value === 'string' || typeof value === 'number' ? [value] : value),
    z
      .array(
        z.preprocess(
          (value) => (typeof value === 'number' && Number.isSafeInteger(value) && value > 0 ? String(value) : value),
          z
            .string({ error: (issue) => notAClient(issue.input) })
            .regex(/^(\d+|\*)$/, { error: (issue) => notAClient(issue.input) }),
        ),
      )
      .min(1, 'is empty — list the client ids this key may read, or ["*"] for all'),
  )
  .transform((ids): readonly string[] | '*' => (ids.includes('*') ? '*' : [...new Set(ids)]));

function apiKeySchema(ctx: Ctx) {
  return twins(
    [['key', 'keyFile']],
    z
      .strictObject(
        {
          name: required(name, 'name the consumer, like bot'),
          key: inlineSecret('key', 'keyFile').optional(),
          keyFile: secretFile(ctx).optional(),
          clients: required(clients, 'list the client ids this key may read, or ["*"] for all'),
          ui: z
            .boolean({
              error: (issue) =>
                `${describe(issue.input)} is not true or false — set ui: true to let this key open the status page`,
            })
            .optional(),
        },
        {
          error: (issue) =>
            issue.code === 'invalid_type'
              ? `must be a mapping with name, key (or keyFile) and clients, not ${kindOf(issue.input)}`
              : undefined,
        },
      )
      .refine((key) => key.key !== undefined || key.keyFile !== undefined, {
        path: ['key'],
        error: 'missing — set key (e.g. ${BOT_KEY}) or keyFile',
        when: (payload) => isObject(payload.value),
      }),
  );
}

type ParsedApiKey = z.output<ReturnType<typeof apiKeySchema>>;

export function serverSchema(ctx: Ctx) {
  return z
    .strictObject({
      listen: listenAddress.prefault('127.0.0.1:9470'),
      apiKeys: z
        .array(apiKeySchema(ctx))
        .superRefine(noSharedKeys, { when: (payload) => Array.isArray(payload.value) })
        .prefault([]),
      // A parked long-poll holds a connection; the server takes at most 1,024, so some stay free for others.
      maxLongPolls: wholeNumber(1, 1000).optional(),
    })
    .superRefine(openBindNeedsKeys);
}

/**
 * The same rule the server enforces at start (assertSafeBind), as a config error: check-config
 * must refuse what run would refuse, and run must exit 2 so that systemd does not restart it.
 */
function openBindNeedsKeys(
  server: { listen: { host: string; port: number }; apiKeys: readonly unknown[] },
  issues: z.core.$RefinementCtx,
): void {
  if (server.apiKeys.length > 0 || isLoopbackHost(server.listen.host)) return;
  issues.addIssue({
    code: 'custom',
    path: ['listen'],
    message: `${server.listen.host} is reachable from other machines and no API key is configured — use 127.0.0.1:PORT, or add server.apiKeys (and a TLS proxy in front)`,
  });
}

/** A name and a key per consumer: shared keys make the log's "who read the token" meaningless. */
function noSharedKeys(keys: readonly ParsedApiKey[], issues: z.core.$RefinementCtx): void {
  const names = new Map<string, number>();
  const secrets = new Map<string, number>();
  const report = (path: PropertyKey[], message: string) => issues.addIssue({ code: 'custom', path, message });
  keys.forEach((key, i) => {
    if (!isObject(key)) return;
    const sameName = firstUser(names, passed(issues, i, 'name') ? key.name : undefined, i);
    if (sameName !== undefined)
      report([i, 'name'], `${show(key.name)} is already used by server.apiKeys[${sameName}] — names must be unique`);
    const secret =
      passed(issues, i, 'key') && passed(issues, i, 'keyFile') ? (key.key ?? key.keyFile)?.value : undefined;
    const sameSecret = firstUser(secrets, secret, i);
    if (sameSecret !== undefined)
      report([i, 'key'], `is the same key as server.apiKeys[${sameSecret}] — give each consumer its own key`);
  });
}

export function toServerConfig(server: z.output<ReturnType<typeof serverSchema>>, warn: Warn): ServerConfig {
  if (!isLoopbackHost(server.listen.host)) {
    warn(
      'server.listen',
      `${server.listen.host} is reachable from other machines over plain HTTP — keep 127.0.0.1 unless a TLS proxy sits in front`,
    );
  }
  const apiKeys = server.apiKeys.map((key, i) => {
    const secret = given(at('server.apiKeys', i), 'key', 'keyFile', key.key, key.keyFile, warn);
    if (secret === undefined) throw new Error('bug: an api key without a key passed the schema');
    if (secret.value.length < MIN_KEY_LENGTH) {
      warn(secret.path, `is shorter than ${MIN_KEY_LENGTH} characters — use a long random key (openssl rand -hex 32)`);
    }
    return {
      name: key.name,
      key: secret.value,
      clients: key.clients,
      ...(key.ui === true ? { ui: true as const } : {}),
    };
  });
  // Left out when not given, so the server's own default (256) applies.
  return {
    listen: server.listen,
    apiKeys,
    ...(server.maxLongPolls !== undefined ? { maxLongPolls: server.maxLongPolls } : {}),
  };
}

/**
 * A warning, not an error: an account may be taken out of the config for a while without
 * editing every key that reads it.
 */
export function warnUnknownClients(server: ServerConfig, accounts: readonly AccountConfig[], warn: Warn): void {
  const known = new Set(accounts.map((account) => account.clientId));
  server.apiKeys.forEach((key, i) => {
    if (key.clients === '*') return;
    key.clients.forEach((id, j) => {
      if (!known.has(id))
        warn(at(at(at('server.apiKeys', i), 'clients'), j), `${id} is not the clientId of any configured account`);
    });
  });
}
