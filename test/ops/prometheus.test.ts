/*
 * Issue 5 §4, "Real Prometheus in CI": the keeper as users run it (`node dist/cli.js run`),
 * a simulated Dhan, and Debian's real Prometheus scraping it every second with the shipped
 * alert rules loaded. Everything is asserted through Prometheus's HTTP API, so this catches
 * what unit tests of the registry cannot: exposition that Prometheus rejects, label sets that
 * collide, rules that do not evaluate against real series, and an alert that never fires.
 *
 * Two accounts: GOOD (right PIN) gets a token at once and renews it 15 s later (60 s tokens);
 * BAD is configured with a wrong PIN, is refused twice (the keeper retries once, after the
 * simulator's 5-s generation window and on the next TOTP step, so up to ~30 s) and is then
 * parked for a person: DhanTokenNeedsAttention.
 *
 * Prometheus is optional on a developer machine (skipped, with a message) but required in CI
 * (process.env.CI), where .ci/run installs Debian's prometheus package.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/clock.js';
import { METRIC_NAMES } from '../../src/metrics.js';
import { startSimulator } from '../../src/sim/index.js';
import type { Simulator } from '../../src/sim/simulator-api.js';
import { onPath, Prometheus, waitFor } from '../helpers/prometheus.js';
import { REPO_ROOT } from '../helpers/repo-root.js';

const ROOT = REPO_ROOT;
const CLI = join(ROOT, 'dist', 'cli.js');
const ALERTS_YML = join(ROOT, 'deploy', 'prometheus', 'alerts.yml');
const IN_CI = Boolean(process.env['CI']);
const PROMETHEUS = onPath('prometheus');
const JOB = 'dhan-token-keeper';
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

const GOOD = '1000000501';
const BAD = '1000000502';
const PIN = '123456';
const WRONG_PIN = '654321';
const GOOD_SECRET = 'JBSWY3DPEHPK3PXP';
const BAD_SECRET = 'KRSXG5CTMVRXEZLU';
// Short tokens so that a renewal happens within the test: with renewBefore 75% and no jitter
// the keeper renews 15 s after obtaining a token.
const TOKEN_LIFETIME_MS = 60_000;

if (!PROMETHEUS && !IN_CI) {
  process.stderr.write(
    'prometheus-e2e: skipped, `prometheus` is not on PATH (apt-get install --no-install-recommends prometheus); CI requires it\n',
  );
}

const execFileAsync = promisify(execFile);

/** The CLI must never pick up a developer's config or secrets from the environment. */
function keeperEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of ['DHAN_TOKEN_KEEPER_CONFIG', 'DHAN_TOKEN_KEEPER_DEBUG', 'DHAN_PIN', 'DHAN_TOTP_SECRET'])
    delete env[name];
  return env;
}

interface StatusRow {
  clientId: string;
  state: string;
  expiresAt: string | null;
  attention: string | null;
}

// describe.skipIf runs when CI lacks prometheus, so that beforeAll fails loudly instead.
describe.skipIf(!PROMETHEUS && !IN_CI)('a real Prometheus scraping a running keeper', () => {
  let dir: string;
  let configPath: string;
  let sim: Simulator | undefined;
  let keeper: ChildProcess | undefined;
  let keeperOut = '';
  let keeperUrl: string;
  let prom: Prometheus | undefined;
  const started = Date.now();

  const diagnostics = (): string =>
    `--- keeper stdout/stderr (tail) ---\n${keeperOut.slice(-6000)}\n${prom?.log() ?? ''}`;

  /** `status --json` from a separate CLI process, as an operator would run it. Async: the simulator lives in this process. */
  async function status(): Promise<StatusRow[]> {
    const { stdout } = await execFileAsync(process.execPath, [CLI, 'status', '--json', '--config', configPath], {
      env: keeperEnv(),
      timeout: 20_000,
    });
    return JSON.parse(stdout) as StatusRow[];
  }

  async function value(promql: string): Promise<number | undefined> {
    return (await prom!.one(promql))?.value;
  }

  beforeAll(async () => {
    if (!PROMETHEUS)
      throw new Error("prometheus is not on PATH: CI must install Debian's prometheus package (.ci/run does)");
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first (npm test does)`);
    dir = mkdtempSync(join(tmpdir(), 'dtk-prom-e2e-'));

    sim = await startSimulator({
      accounts: [
        { clientId: GOOD, pin: PIN, totpSecret: GOOD_SECRET, name: 'GOOD TRADER' },
        { clientId: BAD, pin: PIN, totpSecret: BAD_SECRET, name: 'BAD TRADER' },
      ],
      clock: systemClock,
      tokenLifetimeMs: TOKEN_LIFETIME_MS,
      generateIntervalMs: 5_000,
    });

    configPath = join(dir, 'config.yaml');
    writeFileSync(
      configPath,
      `storage:
  path: ./keeper.db
dhan:
  authBaseUrl: ${sim.baseUrl}
  apiBaseUrl: ${sim.baseUrl}
  requestTimeout: 5s
  minGenerateInterval: 5s
  generateMargin: 1s
server:
  listen: 127.0.0.1:0
renewal:
  renewBefore: 75%
  jitter: "0"
  probeInterval: "off"
log:
  level: info
accounts:
  - clientId: "${GOOD}"
    name: good
    pin: "${PIN}"
    totpSecret: ${GOOD_SECRET}
    sinks:
      - type: file
        path: ./tokens/good.json
  - clientId: "${BAD}"
    name: bad
    pin: "${WRONG_PIN}"
    totpSecret: ${BAD_SECRET}
    sinks:
      - type: file
        path: ./tokens/bad.json
`,
      { mode: 0o600 },
    );

    keeper = spawn(process.execPath, [CLI, 'run', '--config', configPath], {
      cwd: dir,
      env: keeperEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    keeper.stdout?.on('data', (chunk: Buffer) => (keeperOut += chunk.toString('utf8')));
    keeper.stderr?.on('data', (chunk: Buffer) => (keeperOut += chunk.toString('utf8')));
    // The config binds port 0: the URL is only known from pino's start line.
    keeperUrl = await waitFor(
      'the "dhan-token-keeper started" log line',
      () => {
        if (keeper?.exitCode !== null) throw new Error(`keeper exited with ${String(keeper?.exitCode)}`);
        for (const line of keeperOut.split('\n')) {
          if (!line.startsWith('{')) continue;
          try {
            const entry = JSON.parse(line) as { msg?: string; url?: string };
            if (entry.msg === 'dhan-token-keeper started' && typeof entry.url === 'string') return entry.url;
          } catch {
            // A partial line; the next chunk completes it.
          }
        }
        return undefined;
      },
      { timeoutMs: 20_000, intervalMs: 50, describe: diagnostics },
    );

    prom = await Prometheus.start({
      binary: PROMETHEUS,
      dir,
      jobName: JOB,
      target: new URL(keeperUrl).host,
      ruleFiles: [ALERTS_YML],
    });
    await waitFor('the keeper target to be scraped (up == 1)', async () => (await value(`up{job="${JOB}"}`)) === 1, {
      timeoutMs: 15_000,
      describe: async () => `${JSON.stringify(await prom!.targets())}\n${diagnostics()}`,
    });
  }, 60_000);

  afterAll(async () => {
    // Each step on its own: one failure must not leave the others running.
    await prom?.stop().catch(() => undefined);
    if (keeper && keeper.exitCode === null && keeper.signalCode === null) {
      const exited = new Promise((r) => keeper!.once('exit', r));
      keeper.kill('SIGTERM');
      const timer = setTimeout(() => keeper?.kill('SIGKILL'), 12_000);
      await exited;
      clearTimeout(timer);
    }
    await sim?.close().catch(() => undefined);
    if (dir) rmSync(dir, { recursive: true, force: true });
    process.stdout.write(`prometheus-e2e: wall time ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  }, 30_000);

  it('scrapes the keeper and loads every shipped alert rule without evaluation errors', async () => {
    process.stdout.write(`prometheus-e2e: Prometheus ${await prom!.version()}\n`);
    expect(await value(`up{job="${JOB}"}`)).toBe(1);
    const info = await prom!.query('dhan_token_keeper_info');
    expect(info.map((s) => ({ version: s.metric['version'], value: s.value }))).toEqual([
      { version: VERSION, value: 1 },
    ]);

    const rules = await prom!.rules();
    const alertNames = new Set(rules.filter((r) => r.type === 'alerting').map((r) => r.name));
    expect([...alertNames].sort()).toEqual([
      'DhanClockSkew',
      'DhanTokenExpired',
      'DhanTokenExpiringSoon',
      'DhanTokenKeeperDown',
      'DhanTokenKeeperNoLeader',
      'DhanTokenLoginNeeded',
      'DhanTokenNeedsAttention',
      'DhanTokenRefreshFailing',
    ]);
    // Rules are evaluated every second; give them one round against the real series.
    await waitFor(
      'every rule to be evaluated once',
      async () => (await prom!.rules()).every((r) => r.health !== 'unknown'),
      { timeoutMs: 5_000 },
    );
    for (const rule of await prom!.rules())
      expect({ rule: rule.name, health: rule.health, error: rule.lastError ?? '' }).toMatchObject({
        health: 'ok',
        error: '',
      });
  });

  it('stores every metric the registry defines, labelled by account', async () => {
    // The good account has a token, a plan and a sink by now; every name must reach Prometheus.
    await waitFor(
      'a valid token for the good account',
      async () => (await value(`dhan_token_valid{client_id="${GOOD}"}`)) === 1,
      {
        timeoutMs: 20_000,
        describe: diagnostics,
      },
    );
    const present = new Set((await prom!.query('{__name__=~"dhan_.+"}')).map((s) => s.metric['__name__']));
    for (const name of METRIC_NAMES) {
      // Its series are per notify channel, and this keeper has none.
      if (name === 'dhan_token_notify_total') continue;
      const stored = name === 'dhan_api_request_duration_seconds' ? `${name}_count` : name;
      expect(present.has(stored), `${stored} is not in Prometheus; it has ${[...present].sort().join(', ')}`).toBe(
        true,
      );
    }
    const labels = (await prom!.query(`dhan_token_valid`))
      .map((s) => `${s.metric['client_id']}/${s.metric['name']}`)
      .sort();
    expect(labels).toEqual([`${GOOD}/good`, `${BAD}/bad`]);
  });

  it('reports the good token valid, with the expiry the keeper stored', async () => {
    expect(await value(`dhan_token_valid{client_id="${GOOD}"}`)).toBe(1);
    // A renewal between reading status and Prometheus's last scrape would compare two tokens:
    // read status on both sides of the query and of a full scrape interval, and retry if it moved.
    const measured = await waitFor(
      'status and Prometheus to agree on one token',
      async () => {
        const before = (await status()).find((r) => r.clientId === GOOD);
        await new Promise((r) => setTimeout(r, 2_100));
        const scraped = await value(`dhan_token_expiry_timestamp_seconds{client_id="${GOOD}"}`);
        const after = (await status()).find((r) => r.clientId === GOOD);
        if (!before?.expiresAt || before.expiresAt !== after?.expiresAt || scraped === undefined) return undefined;
        return { statusSeconds: Date.parse(before.expiresAt) / 1000, scraped, iso: before.expiresAt };
      },
      { timeoutMs: 20_000, intervalMs: 0 },
    );
    process.stdout.write(
      `prometheus-e2e: expiry status ${measured.iso} = ${measured.statusSeconds} s, Prometheus ${measured.scraped} s, diff ${(measured.scraped - measured.statusSeconds).toFixed(3)} s\n`,
    );
    expect(Math.abs(measured.scraped - measured.statusSeconds)).toBeLessThanOrEqual(1);
    // And it is a real expiry: in the future, at most one token lifetime away.
    const now = Date.now() / 1000;
    expect(measured.scraped).toBeGreaterThan(now);
    expect(measured.scraped).toBeLessThanOrEqual(now + TOKEN_LIFETIME_MS / 1000 + 1);
  });

  it('counts the generation, then a renewal, in dhan_token_refresh_total', async () => {
    const success = (method: string): Promise<number | undefined> =>
      value(`dhan_token_refresh_total{client_id="${GOOD}",method="${method}",result="success"}`);
    const generated = await success('generate');
    expect(generated).toBeGreaterThanOrEqual(1);
    const totalBefore = await value(`sum(dhan_token_refresh_total{client_id="${GOOD}",result="success"})`);

    const renewed = await waitFor(
      'a successful renewal of the good token',
      async () => {
        const n = await success('renew');
        return n !== undefined && n >= 1 ? n : undefined;
      },
      { timeoutMs: 45_000, intervalMs: 500, describe: diagnostics },
    );
    const totalAfter = await value(`sum(dhan_token_refresh_total{client_id="${GOOD}",result="success"})`);
    process.stdout.write(
      `prometheus-e2e: refresh_total good: generate/success ${generated}, renew/success ${renewed}, all successes ${totalBefore} -> ${totalAfter}\n`,
    );
    // On a busy machine the renewal may already be in totalBefore: the sum holds both kinds either way.
    expect(totalAfter!).toBeGreaterThanOrEqual(generated! + renewed);
    expect(await value(`dhan_token_refresh_total{client_id="${GOOD}",result="failure",method="renew"}`)).toBe(0);
    // Prometheus sees the counter grow, as increase() in a dashboard would.
    expect(
      await value(`increase(dhan_token_refresh_total{client_id="${GOOD}",method="renew",result="success"}[1m])`),
    ).toBeGreaterThan(0);
    expect(await value(`dhan_token_valid{client_id="${GOOD}"}`)).toBe(1);
  }, 60_000);

  it('sets dhan_token_attention for the wrong PIN and fires DhanTokenNeedsAttention', async () => {
    await waitFor(
      'dhan_token_attention for the wrong-PIN account',
      async () => (await value(`dhan_token_attention{client_id="${BAD}"}`)) === 1,
      {
        timeoutMs: 50_000,
        intervalMs: 500,
        describe: diagnostics,
      },
    );
    // The rule has no `for:`, so it goes straight to firing at the next evaluation (1 s).
    const alert = await waitFor(
      'DhanTokenNeedsAttention to fire for the wrong-PIN account',
      async () =>
        (await prom!.alerts()).find(
          (a) =>
            a.labels['alertname'] === 'DhanTokenNeedsAttention' &&
            a.labels['client_id'] === BAD &&
            a.state === 'firing',
        ),
      { timeoutMs: 10_000, describe: async () => `${JSON.stringify(await prom!.alerts(), null, 1)}\n${diagnostics()}` },
    );
    expect(alert.labels).toMatchObject({ severity: 'critical', name: 'bad', job: JOB });
    expect(alert.annotations['description']).toContain(BAD);
    expect(alert.annotations['runbook_url']).toMatch(/#runbook-dhantokenneedsattention$/);
    expect(await value(`ALERTS{alertname="DhanTokenNeedsAttention",client_id="${BAD}",alertstate="firing"}`)).toBe(1);

    // Only the account with the wrong PIN: the good one neither needs a person nor alerts.
    expect(await value(`dhan_token_attention{client_id="${GOOD}"}`)).toBe(0);
    expect(await value(`ALERTS{alertname="DhanTokenNeedsAttention",client_id="${GOOD}"}`)).toBeUndefined();
    expect(await value(`dhan_token_valid{client_id="${BAD}"}`)).toBe(0);
    expect(await value(`dhan_token_refresh_total{client_id="${BAD}",method="generate",result="success"}`)).toBe(0);
    const failures = await value(`dhan_token_refresh_total{client_id="${BAD}",method="generate",result="failure"}`);
    expect(failures).toBeGreaterThanOrEqual(1);
    // What an operator would read next to the alert agrees with it.
    const bad = (await status()).find((r) => r.clientId === BAD);
    expect(bad).toMatchObject({ state: 'attention', expiresAt: null });
    process.stdout.write(
      `prometheus-e2e: bad account: generate failures ${failures}, alert ${alert.state} since ${alert.activeAt}\n`,
    );
  }, 70_000);

  it('measures Dhan calls and clock skew', async () => {
    const calls = await prom!.query('dhan_api_request_duration_seconds_count');
    const total = calls.reduce((sum, s) => sum + s.value, 0);
    process.stdout.write(
      `prometheus-e2e: dhan_api_request_duration_seconds_count ${calls
        .filter((s) => s.value > 0)
        .map((s) => `${s.metric['endpoint']}/${s.metric['outcome']}=${s.value}`)
        .join(' ')}\n`,
    );
    expect(total).toBeGreaterThan(0);
    expect(
      await value('sum(dhan_api_request_duration_seconds_count{endpoint="generate",outcome="success"})'),
    ).toBeGreaterThanOrEqual(1);
    expect(
      await value('sum(dhan_api_request_duration_seconds_count{endpoint="renew",outcome="success"})'),
    ).toBeGreaterThanOrEqual(1);
    // The simulator shares this machine's clock; its Date header has 1 s resolution.
    expect(Math.abs((await value('dhan_api_clock_skew_seconds')) ?? Infinity)).toBeLessThan(2);
  });
});
