import type { Metric, Registry } from 'prom-client';
import type { AccountLabels } from './account-gauge.js';

export interface AccountCounterValue {
  readonly value: number;
  readonly labels: Readonly<Record<string, string>>;
}

interface Row {
  readonly account: AccountLabels;
  /**
   * Values of the counter's own labels, one tuple per series, in the order they appeared: the
   * shared `startWith` list until the account gets a series of its own.
   */
  tuples: ReadonlyArray<readonly string[]>;
  readonly counts: number[];
}

/**
 * A counter per account and per value of its own labels (method and result, result, sink),
 * written out at scrape time like AccountGauge. prom-client's Counter kept each of these series
 * as a label object, a hash key and an entry in one big map: at 10,000 accounts and nine
 * series each, about 20 MB that a quiet keeper held for nothing but zeros. Here an account is
 * one row of numbers. The text served is the one prom-client would write.
 */
export class AccountCounter {
  readonly type = 'counter';
  readonly aggregator = 'sum';
  readonly labelNames: readonly string[];
  // Keyed by client id and name: a renamed account starts new series, as prom-client's would.
  private readonly rows = new Map<string, Row>();

  /**
   * @param ownLabels the labels besides client_id and name
   * @param startWith the tuples of their values every account starts with at 0
   */
  constructor(
    readonly name: string,
    readonly help: string,
    private readonly ownLabels: readonly string[],
    private readonly startWith: ReadonlyArray<readonly string[]> = [],
    /** Runs before each scrape reads the values (to seed accounts not counted yet). */
    private readonly collect?: () => void,
  ) {
    this.labelNames = ['client_id', 'name', ...ownLabels];
  }

  /** Makes the account's series exist (at 0), with `tuple`'s too when given. */
  seed(account: AccountLabels, tuple?: readonly string[]): void {
    if (tuple === undefined && this.startWith.length === 0) return;
    const row = this.row(account);
    if (tuple !== undefined) this.index(row, tuple);
  }

  inc(account: AccountLabels, tuple: readonly string[], by = 1): void {
    const row = this.row(account);
    const i = this.index(row, tuple);
    row.counts[i] = (row.counts[i] ?? 0) + by;
  }

  get(): { name: string; help: string; type: 'counter'; aggregator: 'sum'; values: AccountCounterValue[] } {
    this.collect?.();
    const values: AccountCounterValue[] = [];
    for (const row of this.rows.values()) {
      row.tuples.forEach((tuple, i) => {
        const labels: Record<string, string> = { client_id: row.account.client_id, name: row.account.name };
        this.ownLabels.forEach((label, j) => (labels[label] = tuple[j] ?? ''));
        values.push({ value: row.counts[i] ?? 0, labels });
      });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  /**
   * The series as Prometheus text lines, for PrometheusRegistry: an account's labels come from
   * `accountText` (`{client_id="…",name="…"}`, formatted once per account by the registry) and
   * each tuple's are formatted once, so that a scrape builds no label objects at all.
   */
  textLines(
    accountText: (account: AccountLabels) => string,
    labelValue: (value: string) => string,
    valueText: (value: number) => string,
  ): string[] {
    this.collect?.();
    const lines: string[] = [];
    for (const row of this.rows.values()) {
      const head = `${this.name}${accountText(row.account).slice(0, -1)},`;
      row.tuples.forEach((tuple, i) => {
        lines.push(`${head}${this.tupleText(tuple, labelValue)}} ${valueText(row.counts[i] ?? 0)}`);
      });
    }
    return lines;
  }

  private readonly tupleTexts = new WeakMap<readonly string[], string>();

  private tupleText(tuple: readonly string[], labelValue: (value: string) => string): string {
    let text = this.tupleTexts.get(tuple);
    if (text === undefined) {
      text = this.ownLabels.map((label, j) => `${label}="${labelValue(tuple[j] ?? '')}"`).join(',');
      this.tupleTexts.set(tuple, text);
    }
    return text;
  }

  /** registry.resetMetrics() calls this, as prom-client's Counter.reset() forgets every series. */
  reset(): void {
    this.rows.clear();
  }

  register(registry: Registry): this {
    // The registry only reads name, get() and reset(); prom-client types a metric by its own classes.
    registry.registerMetric(this as unknown as Metric);
    return this;
  }

  private row(account: AccountLabels): Row {
    const key = `${account.client_id}\0${account.name}`;
    let row = this.rows.get(key);
    if (row === undefined) {
      row = { account, tuples: this.startWith, counts: this.startWith.map(() => 0) };
      this.rows.set(key, row);
    }
    return row;
  }

  private index(row: Row, tuple: readonly string[]): number {
    const found = row.tuples.findIndex((t) => t.length === tuple.length && t.every((v, j) => v === tuple[j]));
    if (found !== -1) return found;
    row.tuples = [...row.tuples, tuple];
    row.counts.push(0);
    return row.tuples.length - 1;
  }
}
