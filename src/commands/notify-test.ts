import type { Command } from 'commander';
import { systemClock } from '../clock.js';
import { KeeperError, UsageError } from '../errors.js';
import { silentLogger } from '../log.js';
import { Notifier } from '../notify/notifier.js';
import { openStorage } from '../store/open-storage.js';
import { loadCommandConfig, withConfigOption, type ConfigOption } from './command-config.js';

/** `notify-test`: one test message on every channel, each result reported; exit 1 if any failed. */
export function registerNotifyTest(program: Command): void {
  withConfigOption(
    program
      .command('notify-test')
      .description('send one test message on each notify channel (Telegram, ntfy, webhook) and report each result'),
  ).action(async (opts: ConfigOption) => {
    const config = await loadCommandConfig(opts);
    if (config.notify.channels.length === 0) {
      throw new UsageError(
        'no notify.channels in the config: add a telegram, ntfy or webhook channel (see config.example.yaml)',
      );
    }
    const { store } = await openStorage(config.storage);
    try {
      const notifier = new Notifier({
        config: config.notify,
        accounts: config.accounts,
        store,
        clock: systemClock,
        log: silentLogger(),
        retryDelaysMs: [1_000],
      });
      const outcomes = await notifier.sendTest({
        kind: 'test',
        clientId: null,
        name: null,
        title: 'dhan-token-keeper: test message',
        text: `This channel works: dhan-token-keeper will tell you here when an account needs you (${config.accounts.length} account(s) configured).`,
        at: systemClock.now(),
      });
      for (const o of outcomes)
        process.stdout.write(
          `${o.channel}: ${o.ok ? 'sent' : `FAILED (${o.error ?? 'unknown error'}, ${o.attempts} attempt(s))`}\n`,
        );
      const failed = outcomes.filter((o) => !o.ok).length;
      if (failed > 0) throw new KeeperError('notify-failed', `${failed} of ${outcomes.length} channel(s) failed`);
    } finally {
      await store.close();
    }
  });
}
