import { systemClock, type Clock } from '../clock.js';
import type { Config } from '../config/config.js';
import { errorMessage } from '../errors.js';
import { startHeapTrim } from '../heap-trim.js';
import type { Logger } from '../log.js';
import { createMetrics, type AccountMetricsSnapshot, type Metrics } from '../metrics.js';
import { checkSinks, sinkNames } from '../publish/index.js';
import { consentCallbackFor } from './consent-callback-wiring.js';
import { startNotifications, type RunningNotifications } from './notifications.js';
import { startServer, type RunningServer } from '../server/index.js';
import { Store } from '../store/index.js';
import { storageKey } from '../config/storage-key.js';
import { VERSION } from '../version.js';
import { assembleKeeper } from './assemble.js';
import type { Keeper } from './keeper.js';
import { Lease } from './lease.js';
import { REQUEST_FALLBACK_POLL_MS, watchRequests } from './request-watch.js';
import { cronSweep, type SweepStarter } from './sweep.js';
import { UiFeed } from './ui-feed.js';

export interface DaemonOptions {
  readonly log: Logger;
  readonly clock?: Clock;
  readonly startSweep?: SweepStarter;
  /** How often the daemon looks for commands the CLI queued (`renew`, `import`, …) when the file watch says nothing. */
  readonly requestPollMs?: number;
}

export interface RunningDaemon {
  readonly url: string;
  readonly keeper: Keeper;
  /** Resolves if another process took the database lease: this daemon must stop at once. */
  readonly leaseLost: Promise<void>;
  stop(): Promise<void>;
}

const PRUNE_EVERY_MS = 60 * 60_000;

function metricsSnapshot(config: Config, store: Store): AccountMetricsSnapshot[] {
  return config.accounts.map((account) => {
    const record = store.getAccount(account.clientId);
    const token = store.currentToken(account.clientId);
    return {
      clientId: account.clientId,
      name: account.name,
      expiresAt: token?.expiresAt ?? null,
      obtainedAt: token?.obtainedAt ?? null,
      nextActionAt: record?.nextActionAt ?? null,
      attention: Boolean(record?.attention),
      loginNeeded: store.consents.loginRequest(account.clientId) !== undefined,
      consecutiveFailures: record?.consecutiveFailures ?? 0,
      lastSuccessAt: record?.lastSuccessAt ?? null,
      sinks: sinkNames(account.sinks),
    };
  });
}

function wireMetrics(config: Config, store: Store, clock: Clock): Metrics {
  return createMetrics({ version: VERSION, clock, snapshot: () => metricsSnapshot(config, store) });
}

/**
 * The long-running keeper: takes the single-instance lease, serves the token API and metrics,
 * keeps every account alive, carries out queued CLI commands, prunes history. The HTTP server
 * comes up before recovery so that /healthz answers while stored tokens are being checked.
 */
export async function startDaemon(config: Config, options: DaemonOptions): Promise<RunningDaemon> {
  const clock = options.clock ?? systemClock;
  const log = options.log;
  const store = Store.open(config.storage.path, { key: storageKey(config.storage) });
  const lease = new Lease(store);
  try {
    lease.acquire();
  } catch (err) {
    store.close();
    throw err;
  }
  // A CLI command the previous daemon took and died carrying out: its CLI already said so;
  // here the row gets its end (the history shows what the call did, if anything).
  const abandoned = store.failAbandonedRequests('the keeper stopped while carrying out the command; see history for what happened');
  if (abandoned > 0) log.warn({ count: abandoned }, 'marked CLI commands failed that the previous keeper took and never finished');

  const timers: NodeJS.Timeout[] = [];
  let server: RunningServer | undefined;
  let keeper: Keeper | undefined;
  let notifications: RunningNotifications | undefined;
  try {
    for (const problem of await checkSinks(config.accounts)) {
      log.error({ problem }, `sink problem: ${problem}`);
      store.addEvent({ clientId: null, at: clock.now(), kind: 'sink', result: 'failure', message: problem });
    }
    const nameOf = new Map(config.accounts.map((a) => [a.clientId, a.name]));
    const name = (clientId: string): string => nameOf.get(clientId) ?? clientId;
    const metrics = wireMetrics(config, store, clock);
    const feed = new UiFeed(config, store, clock);
    keeper = assembleKeeper(config, store, {
      clock,
      log,
      hooks: {
        refreshed: (clientId, method, result) => metrics.recordRefresh(clientId, name(clientId), method, result),
        probed: (clientId, result) => metrics.recordProbe(clientId, name(clientId), result),
      },
      onDhanCall: (report) => {
        metrics.recordDhanCall(report);
        feed.recordDhanCall(report);
      },
      onSinkResult: (result) => {
        if (!result.ok) metrics.recordSinkFailure(result.clientId, name(result.clientId), result.sink);
        feed.recordSink(result);
      },
      startSweep: options.startSweep ?? cronSweep(config.renewal.sweep),
    });
    server = await startServer({
      config: config.server,
      timezone: config.dhan.timezone,
      provider: keeper,
      metricsRegistry: metrics.registry,
      onRejected: (reason) => metrics.recordApiRejection(reason),
      ui: feed,
      log,
      clock,
      ...consentCallbackFor(config, keeper),
    });
    store.addEvent({ clientId: null, at: clock.now(), kind: 'start', result: 'info', message: `keeper ${VERSION} started, serving ${server.url}` });
    log.info({ url: server.url, accounts: config.accounts.length, version: VERSION }, 'dhan-token-keeper started');
    await keeper.start();
    notifications = startNotifications({ config, store, clock, log, keeper, metrics });
  } catch (err) {
    await notifications?.stop();
    await keeper?.stop();
    await server?.close();
    lease.release();
    store.close();
    throw err;
  }

  const running = keeper;
  const runningServer = server;
  const runningNotifications = notifications;
  let onLeaseLost: () => void = () => undefined;
  const leaseLost = new Promise<void>((resolve) => {
    onLeaseLost = resolve;
  });
  lease.keepAlive(() => {
    log.fatal('another process took the database lease; stopping so that two keepers never renew the same account');
    onLeaseLost();
  });

  const requests = watchRequests({
    walPath: `${store.path}-wal`,
    fallbackMs: options.requestPollMs ?? REQUEST_FALLBACK_POLL_MS,
    log,
    check: async () => {
      try {
        for (const request of store.takeRequests()) {
          log.info({ clientId: request.clientId, action: request.action }, 'carrying out a command from the CLI');
          const outcome = await running.handleRequest(request);
          store.completeRequest(request.id, outcome.ok ? 'done' : 'failed', outcome.message);
        }
      } catch (err) {
        log.error({ err: errorMessage(err) }, 'handling CLI requests failed');
      }
    },
  });
  const prune = (): void => {
    try {
      const cutoff = clock.now() - config.storage.historyRetentionMs;
      const events = store.pruneHistory(cutoff);
      const secrets = store.pruneTokenSecrets(cutoff);
      if (events + secrets > 0) log.info({ events, tokens: secrets }, 'pruned history older than the retention');
    } catch (err) {
      log.warn({ err: errorMessage(err) }, 'pruning history failed; will try again');
    }
  };
  prune();
  timers.push(setInterval(prune, PRUNE_EVERY_MS));
  timers.push(startHeapTrim(log));
  for (const t of timers) t.unref();

  let stopping: Promise<void> | undefined;
  return {
    url: runningServer.url,
    keeper: running,
    leaseLost,
    stop: () => {
      stopping ??= (async () => {
        for (const t of timers) clearInterval(t);
        await runningNotifications?.stop();
        requests.close();
        await running.stop();
        await runningServer.close();
        try {
          store.addEvent({ clientId: null, at: clock.now(), kind: 'stop', result: 'info', message: 'keeper stopped' });
        } catch {
          // The database may be the reason we are stopping; the lease expires by itself.
        }
        lease.release();
        store.close();
        log.info('dhan-token-keeper stopped');
      })();
      return stopping;
    },
  };
}
