import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parkAndWake, percentile, type WakeResult } from './long-poll.js';
import { cpuSeconds, rssMb } from './proc-stats.js';
import {
  CLI,
  clientIdOf,
  freePort,
  liveTokensInDb,
  simCalls,
  sleep,
  spawnCli,
  shippedEnvironment,
  startSim,
  status,
  stop,
  writeKeeperConfig,
  writeSimAccounts,
  type Setup,
} from './keeper-procs.js';
import { compare, haveWrk, WRK, type Comparison, type LoadResult } from './wrk.js';

/*
 * The keeper as a user runs it, from outside: `dist/cli.js run` and `dist/cli.js simulate` as
 * separate processes, wrk as the client, and a bare node:http server answering the same JSON
 * in the same run as the baseline. Every figure that depends on the machine is printed beside
 * its baseline; read the ratios. Never part of the test suite.
 */

const sizes = (process.env['BENCH_SIZES'] ?? '1,20,100,1000,10000').split(',').map(Number);
const loadSizes = new Set((process.env['BENCH_LOAD_SIZES'] ?? '20,1000,10000').split(',').map(Number));
const LONG_POLL_SIZE = Number(process.env['BENCH_LONG_POLL_SIZE'] ?? 20);
const PARKED = 1000;
// One fan-out is a few tens of ms on a machine whose other processes take turns with it: single
// runs of the same build measured 38 to 160 ms. The median of a few alternating rounds is read.
const WAKE_ROUNDS = Number(process.env['BENCH_WAKE_ROUNDS'] ?? 3);
// From 1,000 accounts on, the probes' garbage makes V8 run a full collection every 40 s or so
// (fetch alone promotes about 15 KB a call), so a window shorter than a few of those measures where
// the cycle happens to be rather than what idle costs: 60 s windows of one keeper read 0.8 to 1.6%.
const idleWindowSeconds = (accounts: number): number =>
  process.env['BENCH_IDLE_SECONDS'] !== undefined
    ? Number(process.env['BENCH_IDLE_SECONDS'])
    : accounts >= 1_000
      ? 120
      : 30;
// Start-up leaves work behind (sinks, history, JIT, the garbage of loading 10,000 accounts, and
// V8's memory-reducing collections that return it): idle is what follows. After a cold start of
// 10,000 accounts those collections still cost about 4% of a core a minute later, and V8 is
// still optimising the probe path after two and a half.
const settleSeconds = (accounts: number): number =>
  process.env['BENCH_SETTLE_SECONDS'] !== undefined
    ? Number(process.env['BENCH_SETTLE_SECONDS'])
    : accounts >= 10_000
      ? 300
      : 60;
const COLD_START_LIMIT_MS = 600_000;
const POLL_MS = 200;

interface Row {
  accounts: number;
  coldHealthzMs: number;
  coldReadyzMs: number;
  coldCallsAtReadyz: number;
  coldAllLiveMs: number;
  idleCpuPct: number;
  idleDhanCallsPerS: number;
  /** A bare Node process making the same probe calls: the part of idle CPU that is the calls. */
  probeFloorCpuPct: number;
  /** One Prometheus scrape of /metrics: its size and the keeper's CPU for it. */
  scrape: { kb: number; cpuMs: number };
  rssMb: number;
  warmReadyzMs: number;
  warmTokenMs: number;
  warmCallsFirst10s: number;
  token?: Comparison;
  healthz?: Comparison;
  /** One result per round, bare and keeper alternating. */
  wake?: { bare: WakeResult[]; keeper: WakeResult[] };
}

const bareScript = fileURLToPath(new URL('./bare-server.js', import.meta.url));
const proberScript = fileURLToPath(new URL('./bare-prober.js', import.meta.url));

function probeFloor(simUrl: string, callsPerS: number, seconds: number): number {
  if (callsPerS <= 0) return 0;
  const out = execFileSync(process.execPath, [proberScript, simUrl, String(callsPerS), String(seconds)], {
    encoding: 'utf8',
    timeout: (seconds + 60) * 1000,
  });
  return (JSON.parse(out) as { cpuPct: number }).cpuPct;
}

async function startBare(body: string): Promise<{ proc: ChildProcess; url: string }> {
  const port = await freePort();
  // The keeper's environment on both sides, so that neither is measured with malloc settings the other lacks.
  const proc = spawn(process.execPath, [bareScript, String(port), body], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, ...shippedEnvironment() },
  });
  await new Promise<void>((resolve) => proc.stdout?.once('data', () => resolve()));
  return { proc, url: `http://127.0.0.1:${port}` };
}

async function until<T>(
  what: string,
  limitMs: number,
  check: () => Promise<T | undefined> | T | undefined,
): Promise<T> {
  const deadline = Date.now() + limitMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what} after ${limitMs} ms`);
    await sleep(POLL_MS);
  }
}

async function idleCpu(pid: number, seconds: number): Promise<number> {
  const before = cpuSeconds(pid);
  await sleep(seconds * 1000);
  return ((cpuSeconds(pid) - before) / seconds) * 100;
}

/** What a Prometheus scrape costs the keeper: the mean of a few, after one to warm up. */
async function scrapeCost(pid: number, url: string): Promise<{ kb: number; cpuMs: number }> {
  const SCRAPES = 5;
  await (await fetch(url)).arrayBuffer();
  const before = cpuSeconds(pid);
  let bytes = 0;
  for (let i = 0; i < SCRAPES; i++) bytes = (await (await fetch(url)).arrayBuffer()).byteLength;
  return { kb: bytes / 1024, cpuMs: ((cpuSeconds(pid) - before) * 1000) / SCRAPES };
}

async function scenario(count: number): Promise<Row> {
  const dir = mkdtempSync(join(tmpdir(), `dtk-bench-${count}-`));
  const sim = await startSim(dir, writeSimAccounts(dir, count));
  const setup: Setup = writeKeeperConfig(dir, count, sim.url, await freePort());
  const auth = { authorization: `Bearer ${setup.key}` };
  const run = (): ChildProcess => spawnCli(['run', '--config', setup.configPath], join(dir, 'keeper.log'));
  try {
    // Cold start: an empty database, every account must generate.
    const coldStart = Date.now();
    let keeper = run();
    await until('/healthz', 60_000, async () => ((await status(`${setup.url}/healthz`)) === 200 ? true : undefined));
    const coldHealthzMs = Date.now() - coldStart;
    let coldReadyzMs = Number.NaN;
    let coldCallsAtReadyz = Number.NaN;
    const coldAllLiveMs = await until('every account live', COLD_START_LIMIT_MS, async () => {
      if (Number.isNaN(coldReadyzMs) && (await status(`${setup.url}/readyz`)) === 200) {
        coldReadyzMs = Date.now() - coldStart;
        coldCallsAtReadyz = await simCalls(sim.url);
      }
      return liveTokensInDb(setup.dbPath) >= count ? Date.now() - coldStart : undefined;
    });
    if (Number.isNaN(coldReadyzMs)) {
      await until('/readyz 200', 60_000, async () =>
        (await status(`${setup.url}/readyz`)) === 200 ? true : undefined,
      );
      coldReadyzMs = Date.now() - coldStart;
      coldCallsAtReadyz = await simCalls(sim.url);
    }

    // Idle: every token live, nothing to do but probes and housekeeping.
    await sleep(settleSeconds(count) * 1000);
    const callsBefore = await simCalls(sim.url);
    const idleWindow = idleWindowSeconds(count);
    const idleCpuPct = await idleCpu(keeper.pid!, idleWindow);
    const idleDhanCallsPerS = ((await simCalls(sim.url)) - callsBefore) / idleWindow;
    const rss = rssMb(keeper.pid!);
    const probeFloorCpuPct = probeFloor(sim.url, idleDhanCallsPerS, idleWindow);
    const scrape = await scrapeCost(keeper.pid!, `${setup.url}/metrics`);
    const row: Row = {
      accounts: count,
      coldHealthzMs,
      coldReadyzMs,
      coldCallsAtReadyz,
      coldAllLiveMs,
      idleCpuPct,
      idleDhanCallsPerS,
      probeFloorCpuPct,
      scrape,
      rssMb: rss,
      warmReadyzMs: Number.NaN,
      warmTokenMs: Number.NaN,
      warmCallsFirst10s: Number.NaN,
    };

    if (loadSizes.has(count)) {
      const id = clientIdOf(Math.floor(count / 2));
      const tokenUrl = `${setup.url}/v1/tokens/${id}`;
      const body = await (await fetch(tokenUrl, { headers: auth })).text();
      const bare = await startBare(body);
      try {
        const barePid = bare.proc.pid!;
        const keeperPid = keeper.pid!;
        row.token = compare(
          { url: `${bare.url}/v1/tokens/${id}`, pid: barePid },
          { url: tokenUrl, pid: keeperPid },
          auth,
        );
        row.healthz = compare(
          { url: `${bare.url}/healthz`, pid: barePid },
          { url: `${setup.url}/healthz`, pid: keeperPid },
        );
        if (count === LONG_POLL_SIZE) {
          row.wake = { bare: [], keeper: [] };
          for (let round = 0; round < WAKE_ROUNDS; round++) {
            row.wake.bare.push(
              await parkAndWake(`${bare.url}/park`, PARKED, {}, async () => {
                await fetch(`${bare.url}/wake`);
              }),
            );
            // Each round's renewal changes the token: park after the one held now.
            const held = (await (await fetch(tokenUrl, { headers: auth })).json()) as { fingerprint: string };
            row.wake.keeper.push(
              await parkAndWake(`${tokenUrl}?after=${held.fingerprint}&wait=60`, PARKED, auth, async () => {
                execFileSync(process.execPath, [CLI, 'renew', id, '--config', setup.configPath], {
                  stdio: 'ignore',
                  timeout: 60_000,
                });
              }),
            );
          }
        }
      } finally {
        await stop(bare.proc);
      }
    }

    // Warm start: tokens stored, the keeper restarts.
    await stop(keeper);
    const warmCalls = await simCalls(sim.url);
    const warmStart = Date.now();
    keeper = run();
    const lastUrl = `${setup.url}/v1/tokens/${clientIdOf(count - 1)}`;
    row.warmTokenMs = await until('a stored token served', 60_000, async () =>
      (await status(lastUrl, auth)) === 200 ? Date.now() - warmStart : undefined,
    );
    row.warmReadyzMs = await until('/readyz 200 after a restart', 120_000, async () =>
      (await status(`${setup.url}/readyz`)) === 200 ? Date.now() - warmStart : undefined,
    );
    await sleep(Math.max(0, warmStart + 10_000 - Date.now()));
    row.warmCallsFirst10s = (await simCalls(sim.url)) - warmCalls;
    await stop(keeper);
    return row;
  } finally {
    await stop(sim.proc);
    if (process.env['BENCH_KEEP'] !== '1') rmSync(dir, { recursive: true, force: true });
  }
}

const f0 = (n: number): string => (Number.isFinite(n) ? n.toFixed(0) : '—');
const f1 = (n: number): string => (Number.isFinite(n) ? n.toFixed(1) : '—');
const f2 = (n: number): string => (Number.isFinite(n) ? n.toFixed(2) : '—');
const s1 = (ms: number): string => (Number.isFinite(ms) ? `${(ms / 1000).toFixed(1)} s` : '—');

const side = (l: LoadResult): string => `${f0(l.rps)} rps, p99 ${f2(l.p99Ms)} ms, ${f1(l.cpuUsPerRequest)} µs CPU/req`;

function loadLines(name: string, r: Comparison): string {
  return `| ${name} | ${side(r.bare)} | ${side(r.keeper)}${r.keeper.non2xx ? ` (${r.keeper.non2xx} non-2xx!)` : ''} | ${f2(r.keeper.rps / r.bare.rps)}× rps, ${f1(r.keeper.p99Ms / r.bare.p99Ms)}× p99, ${f2(r.bare.cpuUsPerRequest / r.keeper.cpuUsPerRequest)}× requests per CPU-second |`;
}

const median = (values: readonly number[]): number =>
  percentile(
    [...values].sort((a, b) => a - b),
    50,
  );

/** The rounds of one side: median p50 and p99 of the spread, every round's p99, the least woken. */
function wakeSide(rounds: readonly WakeResult[]): { p99Ms: number; parked: number; refused: number; text: string } {
  const p99Ms = median(rounds.map((r) => r.spreadP99Ms));
  const p50Ms = median(rounds.map((r) => r.spreadP50Ms));
  const each = rounds.map((r) => f1(r.spreadP99Ms)).join(', ');
  return {
    p99Ms,
    parked: Math.min(...rounds.map((r) => r.parked)),
    refused: Math.max(...rounds.map((r) => r.refused)),
    text: `p50 ${f1(p50Ms)} ms, p99 ${f1(p99Ms)} ms (rounds: ${each})`,
  };
}

/** The keeper's warm-up run beside the bare server's best round: what the first seconds of load cost. */
function warmingLine(name: string, r: Comparison): string {
  const k = r.keeperWarming;
  return `| ${name}, the keeper's first ${WRK.warmSeconds} s of it | | ${side(k)} | ${f2(k.rps / r.bare.rps)}× rps, ${f1(k.p99Ms / r.bare.p99Ms)}× p99 |`;
}

async function main(): Promise<void> {
  if (!haveWrk()) {
    process.stderr.write(
      'wrk is missing: install it (Debian/Ubuntu: apt-get install wrk) and run npm run bench again\n',
    );
    process.exit(2);
  }
  const bare = await startBare('{}');
  await sleep(1_000);
  const bareCpu = await idleCpu(bare.proc.pid!, 5);
  const bareIdle = { cpuPct: bareCpu, rssMb: rssMb(bare.proc.pid!) };
  await stop(bare.proc);
  process.stdout.write(
    `bare node:http baseline: idle CPU ${f2(bareIdle.cpuPct)}% of a core, RSS ${f0(bareIdle.rssMb)} MB\n`,
  );
  process.stdout.write(
    `wrk: ${WRK.threads} thread, ${WRK.connections} connections, ${WRK.seconds} s per run, best of ${process.env['BENCH_ROUNDS'] ?? 3} alternating rounds after a ${WRK.warmSeconds} s warm-up of each side; idle window ${idleWindowSeconds(1)} s (${idleWindowSeconds(1_000)} s from 1,000 accounts) after ${settleSeconds(1)} s of settling (${settleSeconds(10_000)} s at 10,000 accounts)\n`,
  );
  const env = Object.entries(shippedEnvironment())
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
  process.stdout.write(
    `keeper and bare server run with the systemd unit's environment: ${env === '' ? 'none (BENCH_PLAIN_ENV=1)' : env}\n\n`,
  );

  const rows: Row[] = [];
  for (const count of sizes) {
    process.stderr.write(`… ${count} account(s)\n`);
    const row = await scenario(count);
    rows.push(row);
    process.stderr.write(`${JSON.stringify(row)}\n`);
  }

  const out: string[] = [];
  out.push(
    '### Token API against bare node:http (same body, same run)',
    '',
    '| measure | bare | keeper | ratio |',
    '| --- | --- | --- | --- |',
  );
  for (const row of rows) {
    if (row.token) {
      out.push(loadLines(`GET /v1/tokens/{id}, Bearer key, ${row.accounts} accounts`, row.token));
      out.push(warmingLine(`GET /v1/tokens/{id}, ${row.accounts} accounts`, row.token));
    }
    if (row.healthz) out.push(loadLines(`GET /healthz, ${row.accounts} accounts`, row.healthz));
    if (row.wake) {
      const b = wakeSide(row.wake.bare);
      const k = wakeSide(row.wake.keeper);
      out.push(
        `| long-poll wake-up, ${PARKED} parked, spread first→p99, median of ${WAKE_ROUNDS} rounds | ${b.text} (${b.parked} parked) | ${k.text} (${k.parked} woken, ${k.refused} refused) | ${f1(k.p99Ms / b.p99Ms)}× p99 |`,
      );
    }
  }
  out.push(
    '',
    '### Sizing',
    '',
    `bare node:http: idle CPU ${f2(bareIdle.cpuPct)}% of a core, RSS ${f0(bareIdle.rssMb)} MB`,
    '',
  );
  out.push(
    '| accounts | idle CPU (% of a core) | Dhan calls/s idle | the same calls from a bare fetch loop (% of a core) | one /metrics scrape (KB, keeper CPU ms) | RSS (MB, bare +) | cold: /healthz | cold: /readyz 200 (Dhan calls by then) | cold: all live | warm: stored token served | warm: /readyz 200 | warm: Dhan calls in first 10 s |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  );
  for (const r of rows) {
    out.push(
      `| ${r.accounts} | ${f2(r.idleCpuPct)} | ${f2(r.idleDhanCallsPerS)} | ${f2(r.probeFloorCpuPct)} | ${f0(r.scrape.kb)} KB, ${f0(r.scrape.cpuMs)} ms | ${f0(r.rssMb)} (+${f0(r.rssMb - bareIdle.rssMb)}) | ${s1(r.coldHealthzMs)} | ${s1(r.coldReadyzMs)} (${f0(r.coldCallsAtReadyz)}) | ${s1(r.coldAllLiveMs)} | ${s1(r.warmTokenMs)} | ${s1(r.warmReadyzMs)} | ${f0(r.warmCallsFirst10s)} |`,
    );
  }
  process.stdout.write(`${out.join('\n')}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
