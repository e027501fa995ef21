import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../src/clock.js';
import { createMetrics, METRIC_NAMES, type AccountMetricsSnapshot } from '../../src/metrics.js';

const T0 = Date.UTC(2026, 0, 5, 3, 30, 0);
const HOUR = 3600_000;

const account = (overrides: Partial<AccountMetricsSnapshot> = {}): AccountMetricsSnapshot => ({
  clientId: '1000000001',
  name: 'main',
  expiresAt: T0 + 2 * HOUR,
  obtainedAt: T0 - 22 * HOUR,
  nextActionAt: T0 + HOUR,
  attention: false,
  consecutiveFailures: 0,
  lastSuccessAt: T0 - 22 * HOUR,
  ...overrides,
});

function setup(accounts: AccountMetricsSnapshot[] = [account()]) {
  const clock = new FakeClock(T0);
  const state = { accounts };
  let reads = 0;
  const metrics = createMetrics({
    version: '9.9.9-test',
    clock,
    snapshot: () => {
      reads++;
      return state.accounts;
    },
  });
  return { metrics, clock, state, reads: () => reads };
}

/** `name{labels} value` lines → value, keyed by the line up to the value. */
async function scrape(
  metrics: ReturnType<typeof createMetrics>,
): Promise<{ text: string; value: (series: string) => number | undefined }> {
  const text = await metrics.registry.metrics();
  const values = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line === '') continue;
    const cut = line.lastIndexOf(' ');
    values.set(line.slice(0, cut), Number(line.slice(cut + 1)));
  }
  return { text, value: (series) => values.get(series) };
}

const MAIN = 'client_id="1000000001",name="main"';

describe('metrics', () => {
  it('exports exactly the names in METRIC_NAMES, besides process metrics', async () => {
    const { metrics } = setup();
    const names = (await metrics.registry.getMetricsAsJSON()).map((m) => m.name);
    const ours = names.filter((n) => n.startsWith('dhan_'));
    expect(new Set(ours)).toEqual(new Set(METRIC_NAMES));
    expect(ours).toHaveLength(METRIC_NAMES.length);
    const others = names.filter((n) => !n.startsWith('dhan_'));
    expect(others.length).toBeGreaterThan(0);
    for (const name of others) expect(name).toMatch(/^(process|nodejs)_/);
  });

  it('keeps to its own registry, so two instances can live side by side', async () => {
    const a = setup();
    const b = setup();
    expect(a.metrics.registry).not.toBe(b.metrics.registry);
    expect((await scrape(a.metrics)).value(`dhan_token_keeper_info{version="9.9.9-test"}`)).toBe(1);
  });

  it('fills account gauges from the snapshot at scrape time', async () => {
    const a = account();
    const { metrics, reads } = setup([
      a,
      account({
        clientId: '1000000002',
        name: 'alt',
        expiresAt: null,
        obtainedAt: null,
        nextActionAt: null,
        lastSuccessAt: null,
        attention: true,
        consecutiveFailures: 3,
      }),
    ]);
    const before = reads();
    const { value } = await scrape(metrics);
    expect(reads() - before).toBe(1);
    expect(value(`dhan_token_expiry_timestamp_seconds{${MAIN}}`)).toBe((a.expiresAt ?? 0) / 1000);
    expect(value(`dhan_token_obtained_timestamp_seconds{${MAIN}}`)).toBe((a.obtainedAt ?? 0) / 1000);
    expect(value(`dhan_token_next_refresh_timestamp_seconds{${MAIN}}`)).toBe((a.nextActionAt ?? 0) / 1000);
    expect(value(`dhan_token_last_success_timestamp_seconds{${MAIN}}`)).toBe((a.lastSuccessAt ?? 0) / 1000);
    expect(value(`dhan_token_valid{${MAIN}}`)).toBe(1);
    expect(value(`dhan_token_attention{${MAIN}}`)).toBe(0);
    expect(value(`dhan_token_refresh_failures_consecutive{${MAIN}}`)).toBe(0);

    const ALT = 'client_id="1000000002",name="alt"';
    expect(value(`dhan_token_expiry_timestamp_seconds{${ALT}}`)).toBeUndefined();
    expect(value(`dhan_token_valid{${ALT}}`)).toBe(0);
    expect(value(`dhan_token_attention{${ALT}}`)).toBe(1);
    expect(value(`dhan_token_refresh_failures_consecutive{${ALT}}`)).toBe(3);
  });

  it('flips dhan_token_valid with the clock, and drops removed accounts', async () => {
    const { metrics, clock, state } = setup();
    expect((await scrape(metrics)).value(`dhan_token_valid{${MAIN}}`)).toBe(1);
    await clock.advance(2 * HOUR);
    expect((await scrape(metrics)).value(`dhan_token_valid{${MAIN}}`)).toBe(0);
    state.accounts = [];
    const { text } = await scrape(metrics);
    expect(text).not.toMatch(/^dhan_token_valid\{/m);
    expect(text).not.toMatch(/^dhan_token_expiry_timestamp_seconds\{/m);
  });

  it('starts every account counter at 0 from the first scrape, and counts', async () => {
    const { metrics } = setup([{ ...account(), sinks: ['file', 'webhook'] }]);
    const first = await scrape(metrics);
    for (const method of ['renew', 'generate', 'import']) {
      for (const result of ['success', 'failure']) {
        expect(first.value(`dhan_token_refresh_total{${MAIN},method="${method}",result="${result}"}`)).toBe(0);
      }
    }
    for (const result of ['live', 'dead', 'error'])
      expect(first.value(`dhan_token_probe_total{${MAIN},result="${result}"}`)).toBe(0);
    expect(first.value(`dhan_token_sink_failures_total{${MAIN},sink="file"}`)).toBe(0);
    expect(first.value(`dhan_token_sink_failures_total{${MAIN},sink="webhook"}`)).toBe(0);
    expect(first.value(`dhan_api_request_duration_seconds_count{endpoint="renew",outcome="success"}`)).toBe(0);

    metrics.recordRefresh('1000000001', 'main', 'renew', 'success');
    metrics.recordRefresh('1000000001', 'main', 'renew', 'success');
    metrics.recordRefresh('1000000001', 'main', 'generate', 'failure');
    metrics.recordSinkFailure('1000000001', 'main', 'webhook');
    metrics.recordProbe('1000000001', 'main', 'dead');
    metrics.recordDhanCall({
      endpoint: 'renew',
      outcome: 'success',
      durationMs: 150,
      httpStatus: 200,
      clockSkewMs: -1500,
    });
    metrics.recordDhanCall({
      endpoint: 'generate',
      outcome: 'rate-limited',
      durationMs: 40,
      httpStatus: 429,
      clockSkewMs: undefined,
    });

    const after = await scrape(metrics);
    expect(after.value(`dhan_token_refresh_total{${MAIN},method="renew",result="success"}`)).toBe(2);
    expect(after.value(`dhan_token_refresh_total{${MAIN},method="generate",result="failure"}`)).toBe(1);
    expect(after.value(`dhan_token_refresh_total{${MAIN},method="import",result="success"}`)).toBe(0);
    expect(after.value(`dhan_token_sink_failures_total{${MAIN},sink="webhook"}`)).toBe(1);
    expect(after.value(`dhan_token_probe_total{${MAIN},result="dead"}`)).toBe(1);
    expect(after.value(`dhan_api_request_duration_seconds_count{endpoint="renew",outcome="success"}`)).toBe(1);
    expect(after.value(`dhan_api_request_duration_seconds_bucket{le="0.2",endpoint="renew",outcome="success"}`)).toBe(
      1,
    );
    expect(after.value(`dhan_api_request_duration_seconds_bucket{le="0.1",endpoint="renew",outcome="success"}`)).toBe(
      0,
    );
    expect(after.value(`dhan_api_request_duration_seconds_count{endpoint="generate",outcome="rate-limited"}`)).toBe(1);
    // A call without a Date header leaves the last known skew in place.
    expect(after.value('dhan_api_clock_skew_seconds')).toBe(-1.5);
  });

  it('seeds an account first seen through an event', async () => {
    const { metrics } = setup([]);
    metrics.recordProbe('1000000009', 'late', 'live');
    const { value } = await scrape(metrics);
    const LATE = 'client_id="1000000009",name="late"';
    expect(value(`dhan_token_probe_total{${LATE},result="live"}`)).toBe(1);
    expect(value(`dhan_token_probe_total{${LATE},result="error"}`)).toBe(0);
    expect(value(`dhan_token_refresh_total{${LATE},method="renew",result="failure"}`)).toBe(0);
  });

  it('never shows a token', async () => {
    const token = 'eyJhbGciOi.secret-token-body.sig';
    const { metrics } = setup();
    metrics.recordRefresh('1000000001', 'main', 'renew', 'success');
    const { text } = await scrape(metrics);
    expect(text).not.toContain(token);
    expect(text).not.toMatch(/eyJ/);
  });
  it('shows whether this keeper leads, and counts each flip once', async () => {
    const { metrics } = setup();
    let m = await scrape(metrics);
    expect(m.value('dhan_token_keeper_leader')).toBe(0);
    expect(m.value('dhan_token_keeper_leader_changes_total')).toBe(0);
    metrics.setLeader(true);
    metrics.setLeader(true);
    m = await scrape(metrics);
    expect(m.value('dhan_token_keeper_leader')).toBe(1);
    expect(m.value('dhan_token_keeper_leader_changes_total')).toBe(1);
    metrics.setLeader(false);
    metrics.setLeader(false);
    metrics.setLeader(true);
    m = await scrape(metrics);
    expect(m.value('dhan_token_keeper_leader')).toBe(1);
    expect(m.value('dhan_token_keeper_leader_changes_total')).toBe(3);
  });
});
