import type { Command } from 'commander';
import { readSecretFile } from '../config/files.js';
import { KeeperError, UsageError } from '../errors.js';
import { actingKeeper } from '../keeper/handoff.js';
import { Lease } from '../keeper/lease.js';
import { openStorage } from '../store/open-storage.js';
import { parseKey } from '../store/token-seal.js';
import { loadConfigWithoutSecrets, withConfigOption, type ConfigOption } from './command-config.js';

interface RotateOptions extends ConfigOption {
  newKeyFile: string;
}

function readNewKey(file: string): Buffer {
  const read = readSecretFile(file);
  if ('problem' in read) throw new UsageError(`--new-key-file: ${read.problem}`);
  const key = parseKey(read.text);
  if (!Buffer.isBuffer(key)) throw new UsageError(`--new-key-file: ${file} ${key.problem}`);
  return key;
}

/**
 * Re-seals every stored token with a new key, in one transaction. It takes the keeper's lease
 * for the while: a running keeper still holding the old key would seal its next token with it.
 */
export function registerRotateKey(program: Command): void {
  withConfigOption(
    program
      .command('rotate-key')
      .description(
        're-seal every stored token with a new encryption key (stop the keeper first), then point storage.encryptionKeyFile at it',
      )
      .requiredOption('--new-key-file <file>', 'the new key: 32 random bytes as hex or base64 (openssl rand -hex 32)'),
  ).action(async (opts: RotateOptions) => {
    const config = await loadConfigWithoutSecrets(opts);
    const next = readNewKey(opts.newKeyFile);
    const opened = await openStorage(config.storage);
    const { store } = opened;
    try {
      if (opened.kind === 'postgres' && (await actingKeeper(opened, Date.now())) !== undefined) {
        throw new KeeperError(
          'lease-held',
          'a keeper leads on this database: stop every keeper first, or one would seal its next token with the old key',
        );
      }
      const lease = new Lease(store);
      await lease.acquire();
      try {
        const { tokens, requests } = await store.rotateKey(next);
        process.stdout.write(
          `re-sealed ${tokens} token(s) and ${requests} queued request(s) with key ${store.keyId ?? '?'}\n` +
            `now set storage.encryptionKeyFile to ${opts.newKeyFile} and start the keeper\n`,
        );
      } finally {
        await lease.release();
      }
    } finally {
      await store.close();
    }
  });
}
