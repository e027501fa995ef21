import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { PrometheusRegistry } from './prometheus-registry.js';
import { AccountGauge, type AccountGaugeValue, type AccountLabels } from './account-gauge.js';
import { AccountCounter } from './account-counter.js';
import type { Clock } from './clock.js';
import type { DhanCallReport, DhanEndpoint } from './dhan/dhan-api.js';
import { REJECTION_REASONS, type RejectionReason } from './rejection-reasons.js';
import { collectRuntimeMetrics } from './runtime-metrics.js';

/**
 * One account as the metrics see it, read at scrape time. Times are epoch ms. Nothing in
 * here may be secret: every field ends up in a label or a value.
 */
export interface AccountMetricsSnapshot {
  readonly clientId: string;
  readonly name: string;
  readonly expiresAt: number | null;
  readonly obtainedAt: number | null;
  readonly nextActionAt: number | null;
  readonly attention: boolean;
  /** A consent account waits for a person to log in with the API key. */
  readonly loginNeeded?: boolean;
  readonly consecutiveFailures: number;
  readonly lastSuccessAt: number | null;
  /**
   * The `sink` label values this account will report failures under (its sinks' kinds or
   * names, never a URL or a path with a secret in it), so their counters start at 0.
   */
  readonly sinks?: readonly string[];
}

export type RefreshMethod = 'renew' | 'generate' | 'import';
export type RefreshResult = 'success' | 'failure';
export type ProbeResult = 'live' | 'dead' | 'error';

export interface MetricsOptions {
  readonly version: string;
  /** Called at every scrape; must be cheap and synchronous. */
  readonly snapshot: () => readonly AccountMetricsSnapshot[];
  /** `dhan_token_valid` compares expiry with this clock's now, at scrape time. */
  readonly clock: Clock;
}

export interface Metrics {
  /** Our own registry: serve it at /metrics. */
  readonly registry: Registry;
  recordRefresh(clientId: string, name: string, method: RefreshMethod, result: RefreshResult): void;
  /** `sink` is the sink's kind or configured name, never its URL or path. */
  recordSinkFailure(clientId: string, name: string, sink: string): void;
  recordProbe(clientId: string, name: string, result: ProbeResult): void;
  recordDhanCall(report: DhanCallReport): void;
  /** One notification outcome on one channel; `by` 0 only creates the series. */
  recordNotify(channel: string, result: 'success' | 'failure', by?: number): void;
  /** A request the token API refused, or a stranger's connection it dropped. */
  recordApiRejection(reason: RejectionReason): void;
  /**
   * Whether this keeper leads: holds the PostgreSQL leadership, or (alone on SQLite) the lease.
   * A flip counts in dhan_token_keeper_leader_changes_total; the same value again does not.
   */
  setLeader(leading: boolean): void;
}

/**
 * Every metric we define, for dashboards and alerts to be checked against. The histogram
 * is listed by its base name; Prometheus adds _bucket, _sum and _count.
 */
export const METRIC_NAMES = [
  'dhan_token_expiry_timestamp_seconds',
  'dhan_token_obtained_timestamp_seconds',
  'dhan_token_next_refresh_timestamp_seconds',
  'dhan_token_valid',
  'dhan_token_attention',
  'dhan_token_login_needed',
  'dhan_token_notify_total',
  'dhan_token_refresh_total',
  'dhan_token_refresh_failures_consecutive',
  'dhan_token_last_success_timestamp_seconds',
  'dhan_token_sink_failures_total',
  'dhan_token_probe_total',
  'dhan_api_request_duration_seconds',
  'dhan_api_clock_skew_seconds',
  'dhan_token_keeper_info',
  'dhan_token_api_rejected_total',
  'dhan_token_keeper_leader',
  'dhan_token_keeper_leader_changes_total',
] as const satisfies readonly string[];

export type MetricName = (typeof METRIC_NAMES)[number];

const REFRESH_METHODS: readonly RefreshMethod[] = ['renew', 'generate', 'import'];
const REFRESH_RESULTS: readonly RefreshResult[] = ['success', 'failure'];
const PROBE_RESULTS: readonly ProbeResult[] = ['live', 'dead', 'error'];
const ENDPOINTS: readonly DhanEndpoint[] = ['generate', 'renew', 'profile', 'consent-generate', 'consent-consume'];
// Dhan answers in ~100 ms on a good day; the client's timeout ends a call at 30 s at most.
const DURATION_BUCKETS = [0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 30];

const seconds = (ms: number): number => ms / 1000;

/**
 * Metrics in a registry of our own: prom-client's global one collides across test suites
 * and with any host application.
 *
 * Gauges about accounts are computed at scrape time from `snapshot()` — reset, then set — so
 * they are never stale and a removed account disappears. Counters are per process: they
 * start at 0 on every start (Prometheus' rate() and increase() handle the reset); history
 * in SQLite is the lasting record.
 */
export function createMetrics(options: MetricsOptions): Metrics {
  const registry = new PrometheusRegistry();
  const registers = [registry];
  const accounts = scrapeSnapshot(options.snapshot);
  // One labels object per account, shared by its gauges from scrape to scrape, so that the
  // registry formats each account's labels once.
  const labelsByClient = new Map<string, AccountLabels>();
  const accountLabels = (clientId: string, name: string): AccountLabels => {
    let labels = labelsByClient.get(clientId);
    if (labels?.name !== name) {
      labels = registry.shareLabels({ client_id: clientId, name });
      labelsByClient.set(clientId, labels);
    }
    return labels;
  };

  const accountGauge = (
    name: MetricName,
    help: string,
    value: (account: AccountMetricsSnapshot, now: number) => number | null,
  ): void => {
    new AccountGauge(name, help, () => {
      const now = options.clock.now();
      const values: AccountGaugeValue[] = [];
      for (const account of accounts()) {
        const v = value(account, now);
        if (v !== null) values.push({ value: v, labels: accountLabels(account.clientId, account.name) });
      }
      return values;
    }).register(registry);
  };

  accountGauge('dhan_token_expiry_timestamp_seconds', 'When the current token expires (Unix seconds).', (a) =>
    a.expiresAt === null ? null : seconds(a.expiresAt),
  );
  accountGauge('dhan_token_obtained_timestamp_seconds', 'When the current token was obtained (Unix seconds).', (a) =>
    a.obtainedAt === null ? null : seconds(a.obtainedAt),
  );
  accountGauge(
    'dhan_token_next_refresh_timestamp_seconds',
    'When the keeper plans to renew or generate next, a due renewal.refreshAt included (Unix seconds).',
    (a) => (a.nextActionAt === null ? null : seconds(a.nextActionAt)),
  );
  accountGauge('dhan_token_valid', '1 while the account has a token that has not expired, else 0.', (a, now) =>
    a.expiresAt !== null && a.expiresAt > now ? 1 : 0,
  );
  accountGauge(
    'dhan_token_attention',
    '1 while automatic refresh is stopped until a person acts (e.g. credentials rejected).',
    (a) => (a.attention ? 1 : 0),
  );
  accountGauge(
    'dhan_token_login_needed',
    '1 while a consent account waits for a person to log in with the API key (`dhan-token-keeper login`).',
    (a) => (a.loginNeeded === true ? 1 : 0),
  );
  accountGauge(
    'dhan_token_refresh_failures_consecutive',
    'Failed refresh attempts since the last success.',
    (a) => a.consecutiveFailures,
  );
  accountGauge('dhan_token_last_success_timestamp_seconds', 'When a refresh last succeeded (Unix seconds).', (a) =>
    a.lastSuccessAt === null ? null : seconds(a.lastSuccessAt),
  );

  // Counters seed their series from the snapshot too, so that a series exists at 0 before
  // its first event: increase() over a series that appears at 1 reads 0 and misses the event.
  // The three counters collect in one pass over the same snapshot: seeding it once is enough.
  let seededSnapshot: readonly AccountMetricsSnapshot[] | undefined;
  const seedFromSnapshot = (): void => {
    const snapshot = accounts();
    if (snapshot === seededSnapshot) return;
    seededSnapshot = snapshot;
    queueMicrotask(() => {
      seededSnapshot = undefined;
    });
    for (const account of snapshot) seed(accountLabels(account.clientId, account.name), account.sinks ?? []);
  };
  const refreshTotal = new AccountCounter(
    'dhan_token_refresh_total',
    'Refresh attempts by method and result, since this process started.',
    ['method', 'result'],
    REFRESH_METHODS.flatMap((method) => REFRESH_RESULTS.map((result) => [method, result])),
    seedFromSnapshot,
  ).register(registry);
  const sinkFailures = new AccountCounter(
    'dhan_token_sink_failures_total',
    'Failed deliveries to a sink (file, exec hook, webhook), since this process started.',
    ['sink'],
    [],
    seedFromSnapshot,
  ).register(registry);
  const probeTotal = new AccountCounter(
    'dhan_token_probe_total',
    'Checks of the live token against Dhan by result, since this process started.',
    ['result'],
    PROBE_RESULTS.map((result) => [result]),
    seedFromSnapshot,
  ).register(registry);

  const seed = (account: AccountLabels, sinks: readonly string[]): void => {
    refreshTotal.seed(account);
    probeTotal.seed(account);
    for (const sink of sinks) sinkFailures.seed(account, [sink]);
  };

  const notifyTotal = new Counter({
    name: 'dhan_token_notify_total',
    help: 'Notifications to people (Telegram, ntfy, webhook) by channel and result, retries included, since this process started.',
    labelNames: ['channel', 'result'] as const,
    registers,
  });

  const duration = new Histogram({
    name: 'dhan_api_request_duration_seconds',
    help: 'Duration of calls to Dhan by endpoint and outcome (success or the error kind).',
    labelNames: ['endpoint', 'outcome'] as const,
    buckets: DURATION_BUCKETS,
    registers,
  });
  for (const endpoint of ENDPOINTS) duration.zero({ endpoint, outcome: 'success' });
  const clockSkew = new Gauge({
    name: 'dhan_api_clock_skew_seconds',
    help: "Dhan's Date header minus our clock at the last call that had one; expiry math trusts our clock.",
    registers,
  });
  const info = new Gauge({
    name: 'dhan_token_keeper_info',
    help: 'Always 1; the version label says what is running.',
    labelNames: ['version'] as const,
    registers,
  });
  info.set({ version: options.version }, 1);
  const apiRejected = new Counter({
    name: 'dhan_token_api_rejected_total',
    help: "Requests the HTTP API refused (and strangers' connections it dropped) by reason, since this process started.",
    labelNames: ['reason'] as const,
    registers,
  });
  for (const reason of REJECTION_REASONS) apiRejected.inc({ reason }, 0);
  // Per process, no labels: Prometheus tells keepers apart by instance, and max() over them
  // says whether any leads (the DhanTokenKeeperNoLeader alert).
  const leader = new Gauge({
    name: 'dhan_token_keeper_leader',
    help: '1 while this keeper leads (the one that calls Dhan: the PostgreSQL leader, or a lone keeper holding its lease), else 0.',
    registers,
  });
  leader.set(0);
  const leaderChanges = new Counter({
    name: 'dhan_token_keeper_leader_changes_total',
    help: 'Times this keeper started or stopped leading, since this process started.',
    registers,
  });
  let leading = false;

  // The event-loop delay histogram samples with a timer; its default 10 ms woke an idle keeper
  // 100 times a second (most of its idle CPU). Every 5 s it sees every stall of 5 s or more and
  // shorter ones in proportion to their length; nodejs_eventloop_lag_seconds is still measured
  // afresh at every scrape.
  collectRuntimeMetrics(registry, { eventLoopMonitoringPrecision: 5_000 });

  return {
    registry,
    recordRefresh(clientId, name, method, result) {
      const account = accountLabels(clientId, name);
      seed(account, []);
      refreshTotal.inc(account, [method, result]);
    },
    recordSinkFailure(clientId, name, sink) {
      const account = accountLabels(clientId, name);
      seed(account, []);
      sinkFailures.inc(account, [sink]);
    },
    recordNotify(channel, result, by = 1) {
      notifyTotal.inc({ channel, result }, by);
    },
    recordProbe(clientId, name, result) {
      const account = accountLabels(clientId, name);
      seed(account, []);
      probeTotal.inc(account, [result]);
    },
    recordDhanCall(report) {
      duration.observe({ endpoint: report.endpoint, outcome: report.outcome }, seconds(report.durationMs));
      if (report.clockSkewMs !== undefined) clockSkew.set(seconds(report.clockSkewMs));
    },
    recordApiRejection(reason) {
      apiRejected.inc({ reason });
    },
    setLeader(now) {
      if (now === leading) return;
      leading = now;
      leader.set(now ? 1 : 0);
      leaderChanges.inc();
    },
  };
}

/**
 * prom-client starts every metric's collect() in one synchronous pass per scrape: reading
 * the snapshot once per pass keeps the gauges of one scrape consistent with each other and
 * spares the store a dozen identical reads.
 */
function scrapeSnapshot(read: () => readonly AccountMetricsSnapshot[]): () => readonly AccountMetricsSnapshot[] {
  let cached: readonly AccountMetricsSnapshot[] | undefined;
  return () => {
    if (cached === undefined) {
      cached = read();
      queueMicrotask(() => {
        cached = undefined;
      });
    }
    return cached;
  };
}
