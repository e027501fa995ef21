import cron from 'node-cron';
import type { Clock } from '../clock.js';
import type { Config } from '../config/config.js';
import type { Keeper } from './keeper.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { AsyncStore } from '../store/contract.js';
import { summaryEvent } from '../notify/summary.js';
import { Notifier } from '../notify/notifier.js';
import { StateWatcher } from '../notify/watcher.js';

/** How often account state is looked at for news; from memory, and only accounts that may have some. */
const WATCH_MS = 1_000;

export interface RunningNotifications {
  readonly notifier: Notifier;
  stop(): Promise<void>;
}

/** The daemon's notifications: a watcher over committed state, the optional daily summary. */
export function startNotifications(deps: {
  readonly config: Config;
  readonly store: AsyncStore;
  readonly clock: Clock;
  readonly log: Logger;
  readonly keeper: Keeper;
  readonly metrics: Metrics;
}): RunningNotifications | undefined {
  const { config, store, clock, keeper, metrics } = deps;
  if (config.notify.channels.length === 0) return undefined;
  const log = deps.log.child({ component: 'notify' });
  for (const channel of config.notify.channels) {
    metrics.recordNotify(channel.name, 'success', 0);
    metrics.recordNotify(channel.name, 'failure', 0);
  }
  const notifier = new Notifier({
    config: config.notify,
    accounts: config.accounts,
    store,
    clock,
    log,
    onResult: (channel, result) => metrics.recordNotify(channel, result),
  });
  const consent = keeper.consent;
  const watcher = new StateWatcher({
    accounts: config.accounts,
    facts: (clientId) => keeper.facts(clientId),
    store,
    clock,
    log,
    notifier,
    ...(consent
      ? {
          loginLink: async (clientId: string) => {
            const started = await consent.start(clientId);
            return started.ok ? started.loginUrl : undefined;
          },
        }
      : {}),
  });
  // Only the keeper that acts tells people (several keepers on one database would each send).
  const look = (): void => {
    if (keeper.isActing) void watcher.look();
  };
  const timer = setInterval(look, WATCH_MS);
  timer.unref();
  look();
  const summary =
    config.notify.dailySummary === undefined
      ? undefined
      : cron.schedule(
          config.notify.dailySummary,
          () => {
            if (keeper.isActing) notifier.notify(summaryEvent(keeper.statuses(), clock.now()));
          },
          {
            name: 'dhan-token-keeper-summary',
          },
        );
  return {
    notifier,
    stop: async () => {
      clearInterval(timer);
      await summary?.destroy();
      await notifier.stop();
    },
  };
}
