import { createRequire } from 'node:module';
import { collectDefaultMetrics, type Registry } from 'prom-client';

/**
 * prom-client's `gc` collector: `nodejs_gc_duration_seconds`, fed by a PerformanceObserver on
 * Node's `gc` entries. With such an observer Node builds an entry for every collection (and
 * wraps its deprecated fields in fresh closures), and about 3 KB of that outlives the young
 * collection it describes, so every young collection moves 3 KB into the old generation.
 * Under load (a young collection every few milliseconds) that alone filled the old generation
 * by 0.3 to 1 MB a second and brought full collections, each a run of marking steps on the
 * request thread. The other collectors cost nothing per collection.
 */
const LEFT_OUT = new Set(['gc']);

type Collector = (registry: Registry, config: RuntimeMetricsConfig) => void;

interface RuntimeMetricsConfig {
  readonly eventLoopMonitoringPrecision: number;
}

const requireHere = createRequire(import.meta.url);

/**
 * Node's process metrics (`process_*`, `nodejs_*`) as prom-client's collectDefaultMetrics
 * registers them, without `nodejs_gc_duration_seconds`. prom-client offers no way to leave one
 * out, so its collectors are called one by one by the names it lists; should a later version
 * move them, every default is registered instead (the GC cost comes back, nothing breaks).
 */
export function collectRuntimeMetrics(registry: Registry, config: RuntimeMetricsConfig): void {
  let collectors: Collector[];
  try {
    collectors = collectDefaultMetrics.metricsList
      .filter((name) => !LEFT_OUT.has(name))
      .map((name) => requireHere(`prom-client/lib/metrics/${name}`) as Collector);
  } catch {
    collectDefaultMetrics({ register: registry, ...config });
    return;
  }
  for (const collect of collectors) collect(registry, config);
}
