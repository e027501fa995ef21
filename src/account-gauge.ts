import type { Metric, Registry } from 'prom-client';

export interface AccountLabels {
  readonly client_id: string;
  readonly name: string;
}

export interface AccountGaugeValue {
  readonly value: number;
  readonly labels: AccountLabels;
}

/**
 * A gauge per account whose values are read afresh at each scrape, as a metric object the
 * prom-client registry serves like its own. A prom-client Gauge would be reset and then set
 * once per account per scrape, hashing every label set into a fresh map: with 10,000 accounts
 * and eight such gauges, most of a scrape's CPU. There is nothing to keep between scrapes.
 */
export class AccountGauge {
  readonly type = 'gauge';
  readonly aggregator = 'sum';
  readonly labelNames = ['client_id', 'name'];

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly read: () => AccountGaugeValue[],
  ) {}

  get(): { name: string; help: string; type: 'gauge'; aggregator: 'sum'; values: AccountGaugeValue[] } {
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values: this.read() };
  }

  /** Values are computed at every scrape: nothing to reset (registry.resetMetrics() calls this). */
  reset(): void {}

  register(registry: Registry): this {
    // The registry only reads name, get() and reset(); prom-client types a metric by its own classes.
    registry.registerMetric(this as unknown as Metric);
    return this;
  }
}
