import { Registry } from 'prom-client';
import { AccountCounter } from './account-counter.js';
import type { AccountLabels } from './account-gauge.js';

/** What prom-client's metrics hand the registry at a scrape (its typings leave these out). */
interface ScrapedValue {
  readonly value: number;
  readonly labels?: Readonly<Record<string, string | number>>;
  readonly metricName?: string;
  readonly sharedLabels?: unknown;
  readonly exemplar?: unknown;
}
interface ScrapedMetric {
  readonly name: string;
  readonly help: string;
  readonly type: string;
  readonly values?: readonly ScrapedValue[];
}
interface Scrapeable {
  get(): Promise<ScrapedMetric> | ScrapedMetric;
  getForPromString?: () => Promise<ScrapedMetric> | ScrapedMetric;
}

/**
 * A registry that writes the Prometheus text format itself, byte for byte what prom-client
 * writes, for the cases we use (no default labels, no shared labels, no exemplars; anything
 * else goes to prom-client's own writer).
 *
 * Why: with per-account series a scrape of 10,000 accounts is 170,000 lines, and prom-client's
 * writer spent about a second on it, much of it formatting a fresh empty shared-label object
 * per line. Here a label set that many series share (see shareLabels) is formatted once.
 */
export class PrometheusRegistry extends Registry {
  /** Shared label sets, with their text once formatted. */
  readonly #labelText = new WeakMap<object, string | undefined>();

  // Overrides prom-client's per-metric writer, which its typings do not declare.
  async getMetricsAsString(metric: Scrapeable): Promise<string> {
    if (!this.#plain()) return this.#prometheusClientWriter(metric);
    if (metric instanceof AccountCounter) {
      const lines = [
        `# HELP ${escapeText(metric.name)} ${escapeText(metric.help)}`,
        `# TYPE ${escapeText(metric.name)} ${metric.type}`,
      ];
      return [...lines, ...metric.textLines((account) => this.#labels(account), labelValueText, valueText)].join('\n');
    }
    const data = typeof metric.getForPromString === 'function' ? await metric.getForPromString() : await metric.get();
    const values = data.values ?? [];
    if (
      values.some(
        (v) =>
          v.exemplar !== undefined ||
          (v.sharedLabels !== undefined && Object.keys(v.sharedLabels as object).length > 0),
      )
    ) {
      return this.#prometheusClientWriter(metric);
    }
    const name = escapeText(data.name);
    const lines = [`# HELP ${name} ${escapeText(data.help)}`, `# TYPE ${name} ${data.type}`];
    for (const v of values) lines.push(`${v.metricName ?? name}${this.#labels(v.labels)} ${valueText(v.value)}`);
    return lines.join('\n');
  }

  /** Without default labels: the only case written here (the type fixes the Prometheus text format). */
  #plain(): boolean {
    const defaults = (this as unknown as { _defaultLabels?: object })._defaultLabels;
    return defaults === undefined || Object.keys(defaults).length === 0;
  }

  #prometheusClientWriter(metric: Scrapeable): Promise<string> {
    return (
      Registry.prototype as unknown as { getMetricsAsString(m: Scrapeable): Promise<string> }
    ).getMetricsAsString.call(this, metric);
  }

  /**
   * Marks a labels object that many series share from scrape to scrape (an account's), so that
   * its text is formatted once. Only these are remembered: remembering every counter's label set
   * would hold about 8 MB more at 10,000 accounts for little gain.
   */
  shareLabels<T extends Readonly<Record<string, string | number>>>(labels: T): T {
    this.#labelText.set(labels, undefined);
    return labels;
  }

  #labels(labelSet: Readonly<Record<string, string | number>> | AccountLabels | undefined): string {
    if (labelSet === undefined) return '';
    const known = this.#labelText.get(labelSet);
    if (known !== undefined) return known;
    // An interface has no index signature; every label value is a string or a number either way.
    const labels = labelSet as Readonly<Record<string, string | number>>;
    let text = '';
    for (const label of Object.keys(labels)) {
      const value = labels[label];
      text += `${text === '' ? '{' : ','}${label}="${typeof value === 'string' ? labelValueText(value) : value}"`;
    }
    if (text !== '') text += '}';
    if (this.#labelText.has(labelSet)) this.#labelText.set(labelSet, text);
    return text;
  }
}

const NEEDS_ESCAPE = /[\\\n"]/;

function labelValueText(value: string): string {
  return NEEDS_ESCAPE.test(value) ? escapeText(value).replace(/"/g, '\\"') : value;
}

function escapeText(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

// prom-client's spelling, "Nan" included, so that nothing a scraper sees changes.
function valueText(value: number): string {
  if (Number.isNaN(value)) return 'Nan';
  if (!Number.isFinite(value)) return value < 0 ? '-Inf' : '+Inf';
  return `${value}`;
}
