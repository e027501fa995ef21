import type { Command } from 'commander';
import { systemClock } from '../clock.js';
import { KeeperError } from '../errors.js';
import {
  findAccount,
  loadConfigWithoutSecrets,
  openStoreForReading,
  withConfigOption,
  type ConfigOption,
} from './command-config.js';

export function registerToken(program: Command): void {
  withConfigOption(
    program
      .command('token')
      .argument('<clientId>', 'client id (or account name)')
      .description('print the live access token and nothing else (exit 1 when none is live)'),
  ).action(async (clientIdOrName: string, opts: ConfigOption) => {
    const config = await loadConfigWithoutSecrets(opts);
    const account = findAccount(config, clientIdOrName);
    const store = await openStoreForReading(config);
    try {
      const token = await store?.currentToken(account.clientId);
      if (!token || token.expiresAt <= systemClock.now()) {
        throw new KeeperError('no-live-token', `no live token for ${account.clientId} (${account.name})`, {
          hint: 'run `dhan-token-keeper status` to see why, or `import` a token from Dhan Web',
        });
      }
      process.stdout.write(`${token.accessToken}\n`);
    } finally {
      await store?.close();
    }
  });
}
