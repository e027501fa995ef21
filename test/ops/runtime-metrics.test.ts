import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/repo-root.js';

const RUNTIME_METRICS = pathToFileURL(join(REPO_ROOT, 'dist', 'runtime-metrics.js')).href;

async function metricNames(registry: Registry): Promise<string[]> {
  return (await registry.getMetricsAsJSON()).map((m) => m.name).sort();
}

/**
 * A Node process that registers the runtime metrics one way or the other, then makes
 * short-lived garbage across event-loop turns (as a server does); V8's own trace says what
 * each young collection promoted.
 */
function promotedPerYoungCollection(how: 'ours' | 'prom-client defaults'): number[] {
  const script = `
    const { Registry, collectDefaultMetrics } = await import('prom-client');
    const { collectRuntimeMetrics } = await import(${JSON.stringify(RUNTIME_METRICS)});
    const registry = new Registry();
    if (process.env.HOW === 'ours') collectRuntimeMetrics(registry, { eventLoopMonitoringPrecision: 5000 });
    else collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 5000 });
    let sink;
    for (let turn = 0; turn < 600; turn++) {
      for (let i = 0; i < 20000; i++) sink = { i, s: 'x' + i };
      await new Promise((resolve) => setImmediate(resolve));
    }
  `;
  const out = execFileSync(process.execPath, ['--trace-gc-nvp', '--input-type=module', '-e', script], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    env: { ...process.env, HOW: how },
    timeout: 60_000,
  });
  return out
    .split('\n')
    .filter((line) => / gc=s /.test(line))
    .map((line) => Number(/ promoted=(\d+)/.exec(line)?.[1]));
}

const median = (values: number[]): number =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN;

describe("Node's process metrics on /metrics", () => {
  it("are prom-client's defaults but nodejs_gc_duration_seconds", async () => {
    const { collectRuntimeMetrics } = (await import(RUNTIME_METRICS)) as typeof import('../../src/runtime-metrics.js');
    const ours = new Registry();
    collectRuntimeMetrics(ours, { eventLoopMonitoringPrecision: 5_000 });
    const defaults = new Registry();
    collectDefaultMetrics({ register: defaults, eventLoopMonitoringPrecision: 5_000 });
    const expected = (await metricNames(defaults)).filter((name) => name !== 'nodejs_gc_duration_seconds');
    expect(expected.length).toBeGreaterThan(20);
    expect(await metricNames(ours)).toEqual(expected);
  });

  it('make young collections promote nothing, where a GC observer makes each promote about 3 KB', () => {
    // The first collections promote what a start keeps; from then on only the observer's garbage would.
    const ours = promotedPerYoungCollection('ours').slice(5);
    const defaults = promotedPerYoungCollection('prom-client defaults').slice(5);
    expect(ours.length).toBeGreaterThan(10);
    expect(defaults.length).toBeGreaterThan(10);
    expect(median(defaults)).toBeGreaterThan(1_000);
    expect(median(ours)).toBe(0);
  });
});
