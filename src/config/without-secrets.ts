import { accessSync, constants } from 'node:fs';
import type { Config } from './config.js';
import { interpolate } from './env.js';
import { isAbsolute, resolve } from 'node:path';

/*
 * Commands that only read the store (status, token, history, healthcheck) or hand work to a
 * running daemon need no secret. Under systemd the secrets live in ${CREDENTIALS_DIRECTORY},
 * which exists only inside the service: an admin shell could not even load the config. So the
 * secret keys are swapped for well-formed placeholders before interpolation and validation,
 * and blanked in the result, so that nothing can use them by mistake.
 */

const PLACEHOLDER_PIN = '000000';
const PLACEHOLDER_TOTP_SECRET = 'AAAAAAAAAAAAAAAA';

type Tree = Record<string, unknown>;

function isTree(value: unknown): value is Tree {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Replaces `key`/`keyFile` twins by one inline placeholder, only where the user gave either. */
function swap(node: Tree, key: string, placeholder: string): void {
  const fileKey = `${key}File`;
  if (node[key] === undefined && node[fileKey] === undefined) return;
  delete node[fileKey];
  node[key] = placeholder;
}

export function withPlaceholderSecrets(raw: unknown): unknown {
  if (!isTree(raw)) return raw;
  const tree: Tree = structuredClone(raw);
  const server = tree['server'];
  if (isTree(server) && Array.isArray(server['apiKeys'])) {
    server['apiKeys'].forEach((apiKey, i) => {
      // Distinct values: the validator refuses two API keys with the same key.
      if (isTree(apiKey)) swap(apiKey, 'key', `placeholder-api-key-${i}-${'x'.repeat(16)}`);
    });
  }
  const notify = tree['notify'];
  if (isTree(notify) && Array.isArray(notify['channels'])) {
    for (const channel of notify['channels']) {
      if (!isTree(channel)) continue;
      swap(channel, 'botToken', 'placeholder-bot-token');
      swap(channel, 'token', 'placeholder-token');
      swap(channel, 'secret', 'placeholder-secret');
    }
  }
  if (Array.isArray(tree['accounts'])) {
    for (const account of tree['accounts']) {
      if (!isTree(account)) continue;
      swap(account, 'pin', PLACEHOLDER_PIN);
      swap(account, 'totpSecret', PLACEHOLDER_TOTP_SECRET);
      swap(account, 'apiKey', 'placeholder-api-key');
      swap(account, 'apiSecret', 'placeholder-api-secret');
      if (!Array.isArray(account['sinks'])) continue;
      for (const sink of account['sinks'])
        if (isTree(sink)) swap(sink, 'secret', `placeholder-secret-${'x'.repeat(16)}`);
    }
  }
  return tree;
}

/** Leaves `storage.encryptionKeyFile` out, so that a command that prints no token never needs the key. */
export function withoutStorageKey(raw: unknown): unknown {
  if (!isTree(raw) || !isTree(raw['storage']) || raw['storage']['encryptionKeyFile'] === undefined) return raw;
  const tree: Tree = structuredClone(raw);
  delete (tree['storage'] as Tree)['encryptionKeyFile'];
  return tree;
}

/**
 * `storage.passwordFile` for a command loaded without secrets: it still connects to PostgreSQL,
 * so the password is read when it can be. Under systemd the file is a credential that exists
 * only inside the service (and ${CREDENTIALS_DIRECTORY} is unset in an admin shell): then the
 * key is left out, and node-postgres falls back to PGPASSWORD or ~/.pgpass, as psql does.
 */
export function withReachablePasswordFile(raw: unknown, env: NodeJS.ProcessEnv, baseDir: string): unknown {
  if (!isTree(raw) || !isTree(raw['storage'])) return raw;
  const file = raw['storage']['passwordFile'];
  if (typeof file !== 'string') return raw;
  const path = interpolate(file, env);
  if ('value' in path) {
    try {
      accessSync(isAbsolute(path.value) ? path.value : resolve(baseDir, path.value), constants.R_OK);
      return raw;
    } catch {
      // Unreadable here: fall through and leave it out.
    }
  }
  const tree: Tree = structuredClone(raw);
  delete (tree['storage'] as Tree)['passwordFile'];
  return tree;
}

/**
 * The validated config with every secret blanked, but for the database password (and TLS key),
 * which the command needs to read the store: only for commands that never use another.
 */
export function blankSecrets(config: Config): Config {
  return {
    ...config,
    server: { ...config.server, apiKeys: config.server.apiKeys.map((k) => ({ ...k, key: '' })) },
    notify: {
      ...config.notify,
      channels: config.notify.channels.map((c) =>
        c.type === 'telegram'
          ? { ...c, botToken: '' }
          : c.type === 'ntfy'
            ? { ...c, token: undefined }
            : { ...c, secret: undefined },
      ),
    },
    accounts: config.accounts.map((a) => ({
      ...a,
      pin: undefined,
      totpSecret: undefined,
      credentialsFingerprint: '',
      // Whether an account has an app is kept (login asks the daemon only then), never its values.
      app: a.app === undefined ? undefined : { apiKey: '', apiSecret: '' },
      sinks: a.sinks.map((s) => (s.type === 'webhook' ? { ...s, secret: undefined } : s)),
    })),
  };
}
