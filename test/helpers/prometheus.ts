import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { freePort } from './http.js';

/**
 * A real Prometheus server for end-to-end tests: Debian's `prometheus` package, started on
 * loopback in a temp folder and driven only through its HTTP API, the way Grafana and
 * Alertmanager see it. Nothing here knows about the keeper beyond the job name.
 */

/** Absolute path of `command` on PATH, or undefined. */
export function onPath(command: string): string | undefined {
  for (const dir of (process.env['PATH'] ?? '').split(delimiter)) {
    if (dir !== '' && existsSync(join(dir, command))) return join(dir, command);
  }
  return undefined;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `check` until it returns something other than undefined/false; `describe` explains a timeout. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined | false> | T | undefined | false,
  options: { timeoutMs: number; intervalMs?: number; describe?: () => string | Promise<string> },
): Promise<T> {
  const deadline = Date.now() + options.timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (err) {
      // A server that is still starting refuses connections: keep polling, but say why at the end.
      lastError = err;
    }
    if (Date.now() > deadline) {
      const detail = options.describe ? `\n${await options.describe()}` : '';
      const cause = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
      throw new Error(`timed out after ${options.timeoutMs} ms waiting for ${what}${cause}${detail}`);
    }
    await sleep(options.intervalMs ?? 250);
  }
}

/** One element of an instant vector from /api/v1/query. */
export interface Sample {
  readonly metric: Record<string, string>;
  readonly value: number;
  /** Evaluation time, Unix seconds. */
  readonly at: number;
}

/** One alert from /api/v1/alerts. */
export interface PromAlert {
  readonly labels: Record<string, string>;
  readonly annotations: Record<string, string>;
  readonly state: 'pending' | 'firing' | 'inactive';
  readonly activeAt: string;
  readonly value: string;
}

export interface PromRule {
  readonly name: string;
  readonly type: 'alerting' | 'recording';
  readonly health: string;
  readonly lastError?: string;
  readonly duration?: number;
}

export interface PrometheusOptions {
  readonly binary: string;
  /** Temp folder owned by the caller; config, rules and TSDB go under it. */
  readonly dir: string;
  readonly jobName: string;
  /** host:port of the scrape target. */
  readonly target: string;
  /** Rule files copied next to the generated prometheus.yml (Prometheus resolves them relative to it). */
  readonly ruleFiles: readonly string[];
  readonly intervalSeconds?: number;
}

interface ApiEnvelope<T> {
  status: 'success' | 'error';
  data: T;
  errorType?: string;
  error?: string;
}

export class Prometheus {
  private output = '';

  private constructor(
    readonly url: string,
    private readonly child: ChildProcess,
    readonly exited: Promise<number | null>,
  ) {
    // Kept for failure messages only: a test that times out should say what Prometheus logged.
    const keep = (chunk: Buffer): void => {
      this.output = (this.output + chunk.toString('utf8')).slice(-20_000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Writes the config, starts the server and waits for /-/ready; retries if the port was taken meanwhile. */
  static async start(options: PrometheusOptions): Promise<Prometheus> {
    const interval = `${options.intervalSeconds ?? 1}s`;
    const rules = options.ruleFiles.map((file) => {
      const name = file.split(/[\\/]/).pop() as string;
      copyFileSync(file, join(options.dir, name));
      return name;
    });
    const configFile = join(options.dir, 'prometheus.yml');
    // JSON is YAML, and JSON.stringify quotes every value correctly.
    writeFileSync(
      configFile,
      JSON.stringify(
        {
          global: { scrape_interval: interval, scrape_timeout: interval, evaluation_interval: interval },
          rule_files: rules,
          scrape_configs: [
            { job_name: options.jobName, metrics_path: '/metrics', static_configs: [{ targets: [options.target] }] },
          ],
        },
        null,
        2,
      ),
    );
    // Debian's defaults point at /etc/prometheus/console*; empty folders of our own keep the
    // test independent of what the package put there.
    for (const sub of ['consoles', 'console_libraries']) mkdirSync(join(options.dir, sub), { recursive: true });

    let lastFailure = '';
    for (let attempt = 1; attempt <= 3; attempt++) {
      const port = await freePort();
      const child = spawn(
        options.binary,
        [
          `--config.file=${configFile}`,
          `--storage.tsdb.path=${join(options.dir, `data-${attempt}`)}`,
          `--web.listen-address=127.0.0.1:${port}`,
          `--web.console.templates=${join(options.dir, 'consoles')}`,
          `--web.console.libraries=${join(options.dir, 'console_libraries')}`,
          '--log.level=warn',
        ],
        { cwd: options.dir, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      const exited = new Promise<number | null>((resolveExit) => {
        child.once('exit', (code) => resolveExit(code));
        child.once('error', () => resolveExit(null));
      });
      const prom = new Prometheus(`http://127.0.0.1:${port}`, child, exited);
      try {
        await waitFor(
          'Prometheus /-/ready',
          async () => {
            if (!prom.running) throw new Error('prometheus exited');
            const res = await fetch(`${prom.url}/-/ready`);
            return res.status === 200;
          },
          { timeoutMs: 20_000, intervalMs: 100, describe: () => prom.log() },
        );
        return prom;
      } catch (err) {
        lastFailure = `${err instanceof Error ? err.message : String(err)}\n${prom.log()}`;
        await prom.stop();
        // Only a lost race for the port is worth another try; anything else is a real problem.
        if (!/address already in use/i.test(prom.log())) break;
      }
    }
    throw new Error(`Prometheus did not start: ${lastFailure}`);
  }

  /** The tail of what Prometheus logged. */
  log(): string {
    return `--- prometheus log ---\n${this.output}`;
  }

  private async api<T>(path: string): Promise<T> {
    const res = await fetch(`${this.url}${path}`);
    const body = (await res.json()) as ApiEnvelope<T>;
    if (body.status !== 'success') throw new Error(`${path}: ${body.errorType ?? ''} ${body.error ?? ''}`);
    return body.data;
  }

  /** An instant query, evaluated now. Throws on a PromQL error or a non-vector result. */
  async query(promql: string): Promise<Sample[]> {
    const data = await this.api<{
      resultType: string;
      result: Array<{ metric: Record<string, string>; value: [number, string] }>;
    }>(`/api/v1/query?query=${encodeURIComponent(promql)}`);
    if (data.resultType !== 'vector') throw new Error(`${promql}: expected a vector, got ${data.resultType}`);
    return data.result.map((r) => ({ metric: r.metric, at: r.value[0], value: Number(r.value[1]) }));
  }

  /** The single sample of `promql`, or undefined while there is none; throws if there are several. */
  async one(promql: string): Promise<Sample | undefined> {
    const result = await this.query(promql);
    if (result.length > 1) throw new Error(`${promql}: expected one series, got ${JSON.stringify(result)}`);
    return result[0];
  }

  async alerts(): Promise<PromAlert[]> {
    return (await this.api<{ alerts: PromAlert[] }>('/api/v1/alerts')).alerts;
  }

  async rules(): Promise<PromRule[]> {
    const data = await this.api<{ groups: Array<{ rules: PromRule[] }> }>('/api/v1/rules');
    return data.groups.flatMap((g) => g.rules);
  }

  async targets(): Promise<Array<{ labels: Record<string, string>; health: string; lastError: string }>> {
    return (
      await this.api<{ activeTargets: Array<{ labels: Record<string, string>; health: string; lastError: string }> }>(
        '/api/v1/targets',
      )
    ).activeTargets;
  }

  async version(): Promise<string> {
    return (await this.api<{ version: string }>('/api/v1/status/buildinfo')).version;
  }

  /** SIGTERM, then SIGKILL if Prometheus has not exited within `graceMs`. */
  async stop(graceMs = 5_000): Promise<void> {
    if (!this.running) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}
