import { parseName } from './accounts.js';
import { at, type Ctx } from './context.js';
import { UNRESOLVED } from './env.js';
import { checkKeys, isAbsent, isObject, kindOf, list, section, show } from './fields.js';
import { readSecret } from './secrets.js';
import type { AccountConfig, ApiKeyConfig, ServerConfig } from './types.js';
import { isLoopback, listenAddress } from './values.js';

const KEYS = ['listen', 'apiKeys'] as const;
const API_KEY_KEYS = ['name', 'key', 'keyFile', 'clients'] as const;
const DEFAULT_LISTEN = { host: '127.0.0.1', port: 9470 };
// Short keys can be guessed over the network; 16 random characters are well out of reach.
const MIN_KEY_LENGTH = 16;

export function server(ctx: Ctx, value: unknown): ServerConfig {
  const obj = section(ctx, 'server', value, KEYS);
  const listen = isAbsent(obj['listen']) ? DEFAULT_LISTEN : listenAddress(ctx, 'server.listen', obj['listen']);
  if (listen !== undefined && !isLoopback(listen.host)) {
    ctx.problems.warn('server.listen', `${listen.host} is reachable from other machines over plain HTTP — keep 127.0.0.1 unless a TLS proxy sits in front`);
  }
  const keys = list(ctx, 'server.apiKeys', obj['apiKeys']).flatMap((item, i) => {
    const key = apiKey(ctx, at('server.apiKeys', i), item);
    return key === undefined ? [] : [{ key, path: at('server.apiKeys', i) }];
  });
  const names = new Map<string, string>();
  const secrets = new Map<string, string>();
  for (const { key, path } of keys) {
    const sameName = names.get(key.name);
    if (sameName !== undefined) ctx.problems.error(at(path, 'name'), `${show(key.name)} is already used by ${sameName} — names must be unique`);
    else names.set(key.name, path);
    // Shared keys make the log's "who read the token" meaningless.
    const sameKey = secrets.get(key.key);
    if (sameKey !== undefined) ctx.problems.error(at(path, 'key'), `is the same key as ${sameKey} — give each consumer its own key`);
    else secrets.set(key.key, path);
  }
  return { listen: listen ?? DEFAULT_LISTEN, apiKeys: keys.map(({ key }) => key) };
}

function apiKey(ctx: Ctx, path: string, value: unknown): ApiKeyConfig | undefined {
  if (value === UNRESOLVED) return undefined;
  if (!isObject(value)) {
    ctx.problems.error(path, `must be a mapping with name, key (or keyFile) and clients, not ${kindOf(value)}`);
    return undefined;
  }
  checkKeys(ctx, path, value, API_KEY_KEYS);
  let name: string | undefined;
  if (isAbsent(value['name'])) ctx.problems.error(at(path, 'name'), 'missing — name the consumer, like bot');
  else name = parseName(ctx, at(path, 'name'), value['name']);
  const secret = readSecret(ctx, value, path, 'key', 'keyFile');
  if (secret.state === 'absent') ctx.problems.error(at(path, 'key'), 'missing — set key (e.g. ${BOT_KEY}) or keyFile');
  if (secret.state === 'ok' && secret.value.length < MIN_KEY_LENGTH) {
    ctx.problems.warn(secret.path, `is shorter than ${MIN_KEY_LENGTH} characters — use a long random key (openssl rand -hex 32)`);
  }
  const clients = clientList(ctx, at(path, 'clients'), value['clients']);
  if (name === undefined || secret.state !== 'ok' || clients === undefined) return undefined;
  return { name, key: secret.value, clients };
}

function clientList(ctx: Ctx, path: string, value: unknown): ApiKeyConfig['clients'] | undefined {
  if (value === UNRESOLVED) return undefined;
  if (isAbsent(value)) {
    ctx.problems.error(path, 'missing — list the client ids this key may read, or ["*"] for all');
    return undefined;
  }
  if (value === '*') return '*';
  const items = Array.isArray(value) ? (value as readonly unknown[]) : [value];
  if (items.length === 0) {
    ctx.problems.error(path, 'is empty — list the client ids this key may read, or ["*"] for all');
    return undefined;
  }
  const out: string[] = [];
  let ok = true;
  items.forEach((item, i) => {
    const itemPath = Array.isArray(value) ? at(path, i) : path;
    const id = typeof item === 'number' && Number.isSafeInteger(item) && item > 0 ? String(item) : item;
    if (id === UNRESOLVED) ok = false;
    else if (id === '*') out.push('*');
    else if (typeof id === 'string' && /^\d+$/.test(id)) out.push(id);
    else {
      ctx.problems.error(itemPath, `${typeof id === 'string' ? show(id) : kindOf(id)} is not a client id — use digits, or "*" for all`);
      ok = false;
    }
  });
  if (!ok) return undefined;
  return out.includes('*') ? '*' : [...new Set(out)];
}

/**
 * A warning, not an error: an account may be taken out of the config for a while without
 * editing every key that reads it. Runs once the accounts are known; paths assume valid keys,
 * which holds whenever warnings are shown at all.
 */
export function warnUnknownClients(ctx: Ctx, config: ServerConfig, accounts: readonly AccountConfig[]): void {
  const known = new Set(accounts.map((account) => account.clientId));
  config.apiKeys.forEach((key, i) => {
    if (key.clients === '*') return;
    key.clients.forEach((id, j) => {
      if (!known.has(id)) ctx.problems.warn(at(at(at('server.apiKeys', i), 'clients'), j), `${id} is not the clientId of any configured account`);
    });
  });
}
