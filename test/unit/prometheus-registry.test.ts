import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../src/clock.js';
import { createMetrics } from '../../src/metrics.js';
import { PrometheusRegistry } from '../../src/prometheus-registry.js';

/** The same metrics written by prom-client's own writer, for comparison. */
function promClientText(registry: Registry): Promise<string> {
  const plain = new Registry();
  for (const metric of registry.getMetricsAsArray())
    plain.registerMetric(metric as unknown as Parameters<Registry['registerMetric']>[0]);
  return plain.metrics();
}

function fill(registry: Registry): void {
  const registers = [registry];
  const counter = new Counter({
    name: 'c_total',
    help: 'a counter with a \\ and a\nnewline',
    labelNames: ['who', 'n'] as const,
    registers,
  });
  counter.inc({ who: 'plain', n: 1 });
  counter.inc({ who: 'quote " backslash \\ newline \n end', n: 2 }, 3);
  const gauge = new Gauge({ name: 'g', help: 'odd values', labelNames: ['v'] as const, registers });
  gauge.set({ v: 'nan' }, Number.NaN);
  gauge.set({ v: 'inf' }, Number.POSITIVE_INFINITY);
  gauge.set({ v: '-inf' }, Number.NEGATIVE_INFINITY);
  gauge.set({ v: 'small' }, 1e-7);
  new Gauge({ name: 'unlabelled', help: 'no labels', registers }).set(42);
  const histogram = new Histogram({
    name: 'h_seconds',
    help: 'a histogram',
    labelNames: ['endpoint'] as const,
    buckets: [0.1, 1],
    registers,
  });
  histogram.observe({ endpoint: 'profile' }, 0.5);
  histogram.observe({ endpoint: 'renew' }, 3);
}

describe('PrometheusRegistry', () => {
  it('writes exactly what prom-client writes: escapes, NaN and infinities, histograms, unlabelled series', async () => {
    const registry = new PrometheusRegistry();
    fill(registry);
    const ours = await registry.metrics();
    expect(ours).toBe(await promClientText(registry));
    // A second scrape reuses remembered label texts and still agrees.
    expect(await registry.metrics()).toBe(ours);
  });

  it('leaves default labels to prom-client, which merges them into every line', async () => {
    const registry = new PrometheusRegistry();
    fill(registry);
    registry.setDefaultLabels({ instance: 'a' });
    const ours = await registry.metrics();
    expect(ours).toContain('unlabelled{instance="a"} 42');
    const plain = new Registry();
    fill(plain);
    plain.setDefaultLabels({ instance: 'a' });
    expect(ours).toBe(await plain.metrics());
  });

  it("the keeper's metrics, per-account gauges and counters included, read the same as through prom-client's writer", async () => {
    const T0 = Date.UTC(2026, 0, 5, 3, 30, 0);
    const metrics = createMetrics({
      version: '9.9.9-test',
      clock: new FakeClock(T0),
      snapshot: () =>
        ['main', 'spare "one"'].map((name, i) => ({
          clientId: String(1_000_000_001 + i),
          name,
          expiresAt: T0 + 3_600_000,
          obtainedAt: T0 - 3_600_000,
          nextActionAt: i === 0 ? T0 + 60_000 : null,
          attention: i === 1,
          consecutiveFailures: i,
          lastSuccessAt: null,
          sinks: ['file'],
        })),
    });
    metrics.recordProbe('1000000001', 'main', 'live');
    metrics.recordRefresh('1000000002', 'spare "one"', 'generate', 'failure');
    metrics.recordSinkFailure('1000000002', 'spare "one"', 'webhook');
    metrics.recordSinkFailure('1000000009', 'gone from the snapshot', 'file');
    metrics.recordDhanCall({
      endpoint: 'profile',
      outcome: 'success',
      durationMs: 120,
      httpStatus: 200,
      clockSkewMs: undefined,
    });
    const ours = await metrics.registry.metrics();
    const dhanOnly = (text: string): string =>
      text
        .split('\n\n')
        .filter((block) => block.includes('# HELP dhan_'))
        .join('\n\n');
    expect(dhanOnly(ours)).toBe(dhanOnly(await promClientText(metrics.registry)));
    expect(ours).toContain('dhan_token_expiry_timestamp_seconds{client_id="1000000002",name="spare \\"one\\""} ');
    expect(ours).not.toContain('dhan_token_next_refresh_timestamp_seconds{client_id="1000000002"');
    expect(ours).toContain(
      'dhan_token_refresh_total{client_id="1000000002",name="spare \\"one\\"",method="generate",result="failure"} 1',
    );
    expect(ours).toContain(
      'dhan_token_sink_failures_total{client_id="1000000002",name="spare \\"one\\"",sink="webhook"} 1',
    );
    expect(ours).toContain(
      'dhan_token_sink_failures_total{client_id="1000000002",name="spare \\"one\\"",sink="file"} 0',
    );
    expect(ours).toContain(
      'dhan_token_probe_total{client_id="1000000009",name="gone from the snapshot",result="live"} 0',
    );
  });
});
