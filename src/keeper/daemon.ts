import { hostname } from 'node:os';
import { systemClock, type Clock } from '../clock.js';
import type { Config } from '../config/config.js';
import { errorMessage } from '../errors.js';
import { startHeapTrim } from '../heap-trim.js';
import type { Logger } from '../log.js';
import { createMetrics, type AccountMetricsSnapshot, type Metrics } from '../metrics.js';
import { checkSinks, sinkNames } from '../publish/index.js';
import { consentCallbackFor } from './consent-callback-wiring.js';
import { CONSENT_TTL_MS } from './consent-login.js';
import { startNotifications, type RunningNotifications } from './notifications.js';
import { startServer, type RunningServer } from '../server/index.js';
import type { AsyncStore } from '../store/contract.js';
import { openStorage, type OpenedStorage } from '../store/open-storage.js';
import type { Leadership, LeadershipState } from '../store/postgres/leadership.js';
import { isoInZone } from '../time-format.js';
import { VERSION } from '../version.js';
import { assembleKeeper } from './assemble.js';
import { actingKeeper, handToDaemon } from './handoff.js';
import type { Keeper } from './keeper.js';
import { Lease } from './lease.js';
import { REQUEST_FALLBACK_POLL_MS, watchRequests } from './request-watch.js';
import { cronSweep, type SweepStarter } from './sweep.js';
import { UiFeed } from './ui-feed.js';

export interface DaemonOptions {
  readonly log: Logger;
  readonly clock?: Clock;
  readonly startSweep?: SweepStarter;
  /** How often the daemon looks for commands the CLI queued (`renew`, `import`, …) when nothing wakes it. */
  readonly requestPollMs?: number;
}

export interface RunningDaemon {
  readonly url: string;
  readonly keeper: Keeper;
  /** Resolves if another process took the database lease (SQLite): this daemon must stop at once. */
  readonly leaseLost: Promise<void>;
  stop(): Promise<void>;
}

const PRUNE_EVERY_MS = 60 * 60_000;

/** Read at every scrape, from what the keeper holds in memory (no database round trip). */
function metricsSnapshot(config: Config, keeper: Keeper): AccountMetricsSnapshot[] {
  return config.accounts.map((account) => {
    const worker = keeper.worker(account.clientId);
    const record = worker?.state;
    const token = worker?.current;
    return {
      clientId: account.clientId,
      name: account.name,
      expiresAt: token?.expiresAt ?? null,
      obtainedAt: token?.obtainedAt ?? null,
      nextActionAt: record?.nextActionAt ?? null,
      attention: Boolean(record?.attention),
      loginNeeded: keeper.loginNeeded(account.clientId),
      consecutiveFailures: record?.consecutiveFailures ?? 0,
      lastSuccessAt: record?.lastSuccessAt ?? null,
      sinks: sinkNames(account.sinks),
    };
  });
}

function wireMetrics(config: Config, keeper: () => Keeper | undefined, clock: Clock): Metrics {
  return createMetrics({
    version: VERSION,
    clock,
    snapshot: () => {
      const k = keeper();
      return k ? metricsSnapshot(config, k) : [];
    },
  });
}

/**
 * The long-running keeper. On SQLite it takes the single-instance lease and acts at once. On
 * PostgreSQL several keepers may share the database: each serves the token API, metrics and its
 * own sinks from the shared store, and only the leader (leadership.ts) acts on Dhan and carries
 * out CLI commands; a standby hears of the leader's swaps through LISTEN/NOTIFY. The HTTP server
 * comes up before recovery so that /healthz answers while stored tokens are being checked.
 */
export async function startDaemon(config: Config, options: DaemonOptions): Promise<RunningDaemon> {
  const clock = options.clock ?? systemClock;
  const log = options.log;
  const opened = await openStorage(config.storage);
  const store = opened.store;
  const lease = opened.kind === 'sqlite' ? new Lease(store) : undefined;
  try {
    await lease?.acquire();
  } catch (err) {
    await store.close();
    throw err;
  }

  const timers: NodeJS.Timeout[] = [];
  let server: RunningServer | undefined;
  let keeper: Keeper | undefined;
  let notifications: RunningNotifications | undefined;
  let ha: HaParts | undefined;
  const metrics = wireMetrics(config, () => keeper, clock);
  try {
    for (const problem of await checkSinks(config.accounts)) {
      log.error({ problem }, `sink problem: ${problem}`);
      await store.addEvent({ clientId: null, at: clock.now(), kind: 'sink', result: 'failure', message: problem });
    }
    const nameOf = new Map(config.accounts.map((a) => [a.clientId, a.name]));
    const name = (clientId: string): string => nameOf.get(clientId) ?? clientId;
    ha = opened.kind === 'postgres' ? await haParts(config, opened, log, clock) : undefined;
    const haRole = ha;
    const feed = new UiFeed(config, store, clock, {
      current: (clientId) => keeper?.worker(clientId)?.current,
      submit: (clientId, action) =>
        handToDaemon(store, clientId, { action }, clock, {
          alive: async () => (await actingKeeper(opened, Date.now())) !== undefined,
        }),
      role: () => (haRole === undefined ? 'single' : haRole.leadership.isLeader() ? 'leader' : 'standby'),
    });
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
      ...(ha ? { leadership: ha.leadership } : {}),
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
      ...consentCallbackFor(
        config,
        keeper,
        ha &&
          (async (tokenId) => {
            // The leader started the login: its consent row names the account.
            const open = await store.consents.newestOpen(clock.now() - CONSENT_TTL_MS);
            if (tokenId === undefined || open === undefined)
              return {
                status: 404,
                stored: false,
                message: 'no login started in the last 10 minutes: start one with `dhan-token-keeper login`',
              };
            const outcome = await handToDaemon(store, open.clientId, { action: 'consent-finish', tokenId }, clock, {
              timeoutMs: 60_000,
              alive: async () => (await actingKeeper(opened, Date.now())) !== undefined,
            });
            return { status: outcome.ok ? 200 : 502, stored: outcome.ok, message: outcome.message };
          }),
      ),
    });
    await store.addEvent({
      clientId: null,
      at: clock.now(),
      kind: 'start',
      result: 'info',
      message: `keeper ${VERSION} started, serving ${server.url}`,
    });
    log.info(
      { url: server.url, accounts: config.accounts.length, version: VERSION, storage: store.location },
      'dhan-token-keeper started',
    );
    await keeper.open();
    if (ha === undefined) {
      await beginActing(keeper, store, log);
      metrics.setLeader(true);
    } else {
      await keeper.republishStored();
    }
    notifications = startNotifications({ config, store, clock, log, keeper, metrics });
  } catch (err) {
    await notifications?.stop();
    await keeper?.stop();
    await server?.close();
    await lease?.release();
    await store.close();
    throw err;
  }

  const running = keeper;
  const runningServer = server;
  const runningNotifications = notifications;
  let onLeaseLost: () => void = () => undefined;
  const leaseLost = new Promise<void>((resolve) => {
    onLeaseLost = resolve;
  });
  lease?.keepAlive(() => {
    log.fatal('another process took the database lease; stopping so that two keepers never renew the same account');
    onLeaseLost();
  });

  const requests = watchRequests({
    ...(opened.kind === 'sqlite' ? { walPath: `${opened.sqlite.path}-wal` } : {}),
    fallbackMs: options.requestPollMs ?? REQUEST_FALLBACK_POLL_MS,
    log,
    check: async () => {
      // Only the keeper that acts carries commands out; on a standby they wait for the leader.
      if (!running.isActing) return;
      try {
        for (const request of await store.takeRequests()) {
          log.info({ clientId: request.clientId, action: request.action }, 'carrying out a command from the CLI');
          const outcome = await running.handleRequest(request);
          await store.completeRequest(request.id, outcome.ok ? 'done' : 'failed', outcome.message);
        }
      } catch (err) {
        log.error({ err: errorMessage(err) }, 'handling CLI requests failed');
      }
    },
  });
  const haRunning =
    ha === undefined
      ? undefined
      : await startHa(ha, running, store, log, metrics, () => requests.poke(), config.dhan.timezone);
  const prune = (): void => {
    if (!running.isActing) return;
    const cutoff = clock.now() - config.storage.historyRetentionMs;
    Promise.all([store.pruneHistory(cutoff), store.pruneTokenSecrets(cutoff)])
      .then(([events, secrets]) => {
        if (events + secrets > 0) log.info({ events, tokens: secrets }, 'pruned history older than the retention');
      })
      .catch((err: unknown) => log.warn({ err: errorMessage(err) }, 'pruning history failed; will try again'));
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
        await haRunning?.stop();
        await running.stop();
        await runningServer.close();
        await store
          .addEvent({ clientId: null, at: clock.now(), kind: 'stop', result: 'info', message: 'keeper stopped' })
          .catch(() => {
            // The database may be the reason we are stopping; the lease expires by itself.
          });
        await lease?.release();
        await store.close();
        log.info('dhan-token-keeper stopped');
      })();
      return stopping;
    },
  };
}

/**
 * Starts acting: commands a previous keeper took and never finished get their end (its CLI
 * already said so; the history shows what the call did, if anything), then recovery and the
 * schedule, as at a start.
 */
async function beginActing(keeper: Keeper, store: AsyncStore, log: Logger): Promise<void> {
  const abandoned = await store.failAbandonedRequests(
    'the keeper stopped while carrying out the command; see history for what happened',
  );
  if (abandoned > 0)
    log.warn({ count: abandoned }, 'marked CLI commands failed that the previous keeper took and never finished');
  await keeper.start();
}

interface HaParts {
  readonly leadership: Leadership;
  readonly roles: LeadershipState[];
  onRole: (state: LeadershipState) => void;
  readonly opened: Extract<OpenedStorage, { kind: 'postgres' }>;
}

/** Loaded on PostgreSQL only (as the store is): a SQLite keeper never holds node-postgres. */
async function haParts(
  config: Config,
  opened: Extract<OpenedStorage, { kind: 'postgres' }>,
  log: Logger,
  clock: Clock,
): Promise<HaParts> {
  const { Leadership } = await import('../store/postgres/leadership.js');
  const parts: HaParts = {
    opened,
    roles: [],
    onRole: (state) => parts.roles.push(state),
    leadership: new Leadership({
      connection: opened.connection,
      schema: opened.schema,
      owner: { host: hostname(), pid: process.pid },
      takeoverAfterMs: config.ha.takeoverAfterMs,
      clock,
      onChange: (state) => {
        if (state.role === 'leader') log.info({ epoch: state.epoch }, 'this keeper leads now');
        else log.warn({ reason: state.reason }, 'this keeper stands by');
        parts.onRole(state);
      },
    }),
  };
  return parts;
}

/**
 * Several keepers on PostgreSQL: role changes are carried out one at a time, in order (acting
 * starts with a re-check of every stored token, as a start does, which finishes whatever the
 * previous leader left pending); swaps committed by another keeper reach this one's memory,
 * long-polls and sinks through LISTEN/NOTIFY.
 */
async function startHa(
  parts: HaParts,
  keeper: Keeper,
  store: AsyncStore,
  log: Logger,
  metrics: Metrics,
  onRequest: () => void,
  zone: string,
): Promise<{ stop(): Promise<void> }> {
  let chain: Promise<void> = Promise.resolve();
  const apply = (state: LeadershipState): void => {
    chain = chain.then(async () => {
      try {
        if (state.role === 'leader') {
          metrics.setLeader(true);
          await beginActing(keeper, store, log);
          onRequest();
        } else {
          metrics.setLeader(false);
          await keeper.stop();
          await keeper.reloadAll();
        }
      } catch (err) {
        log.error({ err: errorMessage(err), role: state.role }, 'changing role failed');
      }
    });
  };
  parts.onRole = apply;
  for (const state of parts.roles.splice(0)) apply(state);
  const { opened } = parts;
  const [{ SwapListener }, { RequestListener }] = await Promise.all([
    import('../store/postgres/swap-listener.js'),
    import('../store/postgres/request-listener.js'),
  ]);
  const swaps = new SwapListener({
    connection: opened.connection,
    schema: opened.schema,
    onSwap: (notice) => {
      keeper
        .tokenSwappedElsewhere(notice.clientId)
        .catch((err: unknown) => log.warn({ err: errorMessage(err) }, 'reading a swapped token failed'));
    },
    onResync: () => {
      keeper
        .reloadAll()
        .catch((err: unknown) => log.warn({ err: errorMessage(err) }, 're-reading tokens after reconnecting failed'));
    },
  });
  // A CLI command queued from any machine is announced at its commit: the leader takes it at once.
  const commands = new RequestListener({ connection: opened.connection, schema: opened.schema, onRequest });
  await swaps
    .start()
    .catch((err: unknown) => log.warn({ err: errorMessage(err) }, 'listening for swaps failed; retrying'));
  await commands
    .start()
    .catch((err: unknown) => log.warn({ err: errorMessage(err) }, 'listening for CLI commands failed; retrying'));
  await parts.leadership.start();
  // Who leads, for status: read as often as the leadership itself is checked.
  const readLeader = (): void => {
    opened.store
      .leader()
      .then((leader) => {
        const fresh = leader !== undefined && leader.heartbeatAgeMs <= parts.leadership.timing.staleHeartbeatMs;
        keeper.setLeader(fresh ? { host: leader.host, pid: leader.pid, since: isoInZone(leader.since, zone) } : null);
      })
      .catch(() => keeper.setLeader(null));
  };
  readLeader();
  const leaderTimer = setInterval(readLeader, parts.leadership.timing.checkEveryMs);
  leaderTimer.unref();
  return {
    stop: async () => {
      clearInterval(leaderTimer);
      await parts.leadership.stop();
      await swaps.stop();
      await commands.stop();
      await chain;
      metrics.setLeader(false);
    },
  };
}
