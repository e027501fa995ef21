import { execFileSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { CLI, clientIdOf, freePort, sleep, spawnCli, startSim, stop, writeSimAccounts } from './keeper-procs.js';

/*
 * Two keepers on one PostgreSQL schema (`dist/cli.js run`, separate processes, against
 * `dist/cli.js simulate`): how long after the leader's commit does a long-poll parked on the
 * standby answer? The commit itself is not visible from outside; the leader's own long-poll,
 * parked on the same swap, wakes right after it (in-process), so each standby consumer's
 * answer is timed from the leader's first answer: what it measures is LISTEN/NOTIFY, the
 * standby's re-read of the token and its answer. Issue 11 asks for p99 under 100 ms.
 * Skipped with a message when PostgreSQL is unreachable.
 */

const PG_URL = process.env['DTK_TEST_PG_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';
const SWAPS = Number(process.env['BENCH_HA_SWAPS'] ?? 30);
const STANDBY_POLLS = Number(process.env['BENCH_HA_STANDBY_POLLS'] ?? 20);
const ACCOUNTS = 5;

interface Keeper {
  readonly proc: ChildProcess;
  readonly url: string;
  readonly configPath: string;
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
}

async function withPg<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 3_000 });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

function keeperConfig(dir: string, name: string, schema: string, simUrl: string, port: number, key: string): string {
  const accounts = Array.from(
    { length: ACCOUNTS },
    (_, i) =>
      `  - { clientId: "${clientIdOf(i)}", name: a${i}, pin: "493817", totpSecret: KRSXG5CTMVRXEZLUKN2XAZLDNFQWY4ZA, sinks: [] }`,
  );
  const path = join(dir, `${name}.yaml`);
  writeFileSync(
    path,
    `storage:
  url: ${PG_URL}
  schema: ${schema}
ha:
  takeoverAfter: 5s
dhan:
  authBaseUrl: ${simUrl}
  apiBaseUrl: ${simUrl}
server:
  listen: 127.0.0.1:${port}
  apiKeys:
    - { name: bench, key: "${key}", clients: ["*"] }
renewal:
  avoid: []
log:
  level: warn
accounts:
${accounts.join('\n')}
`,
    { mode: 0o600 },
  );
  return path;
}

async function until<T>(what: string, limitMs: number, check: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + limitMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what} after ${limitMs} ms`);
    await sleep(100);
  }
}

/** One long-poll; resolves with the moment its 200 arrived (performance.now()), or undefined. */
function park(url: string, key: string): Promise<number | undefined> {
  return new Promise((resolve) => {
    const req = request(url, { headers: { authorization: `Bearer ${key}` } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode === 200 ? performance.now() : undefined));
    });
    req.on('error', () => resolve(undefined));
    req.end();
  });
}

async function fingerprint(keeper: Keeper, clientId: string, key: string): Promise<string | undefined> {
  try {
    const res = await fetch(`${keeper.url}/v1/tokens/${clientId}`, { headers: { authorization: `Bearer ${key}` } });
    return res.status === 200 ? ((await res.json()) as { fingerprint: string }).fingerprint : undefined;
  } catch {
    return undefined;
  }
}

export interface HaWakeResult {
  readonly swaps: number;
  readonly samples: number;
  readonly missed: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

export async function haWake(): Promise<HaWakeResult | string> {
  try {
    await withPg((c) => c.query('SELECT 1'));
  } catch {
    return `skipped: PostgreSQL is not reachable at ${PG_URL}`;
  }
  const dir = mkdtempSync(join(tmpdir(), 'dtk-bench-ha-'));
  const schema = `dtk_bench_ha_${process.pid}_${randomBytes(4).toString('hex')}`;
  const key = randomBytes(24).toString('hex');
  const procs: ChildProcess[] = [];
  try {
    const sim = await startSim(dir, writeSimAccounts(dir, ACCOUNTS));
    procs.push(sim.proc);
    const start = async (name: string): Promise<Keeper> => {
      const port = await freePort();
      const configPath = keeperConfig(dir, name, schema, sim.url, port, key);
      const proc = spawnCli(['run', '--config', configPath], join(dir, `${name}.log`));
      procs.push(proc);
      return { proc, url: `http://127.0.0.1:${port}`, configPath };
    };
    const leader = await start('leader');
    await until('the first keeper to lead', 30_000, () =>
      withPg(
        async (c) =>
          (await c.query<{ pid: number }>(`SELECT pid FROM "${schema}".leadership WHERE id = 1`)).rows[0]?.pid ===
            leader.proc.pid || undefined,
      ).catch(() => undefined),
    );
    const standby = await start('standby');
    const clientId = clientIdOf(0);
    await until('a token on both keepers', 60_000, async () => {
      const a = await fingerprint(leader, clientId, key);
      return a !== undefined && a === (await fingerprint(standby, clientId, key)) ? true : undefined;
    });

    const latencies: number[] = [];
    let missed = 0;
    for (let i = 0; i < SWAPS; i++) {
      const after = await fingerprint(leader, clientId, key);
      if (after === undefined) throw new Error('the leader serves no token');
      const query = `/v1/tokens/${clientId}?after=${after}&wait=30`;
      const onLeader = park(`${leader.url}${query}`, key);
      const onStandby = Array.from({ length: STANDBY_POLLS }, () => park(`${standby.url}${query}`, key));
      // Parking is not observable from outside; loopback requests are in well within this.
      await sleep(300);
      execFileSync(process.execPath, [CLI, 'renew', clientId, '--config', leader.configPath], {
        stdio: 'ignore',
        timeout: 60_000,
      });
      const leaderAt = await onLeader;
      for (const at of await Promise.all(onStandby)) {
        if (leaderAt === undefined || at === undefined) missed++;
        else latencies.push(Math.max(0, at - leaderAt));
      }
    }
    latencies.sort((a, b) => a - b);
    return {
      swaps: SWAPS,
      samples: latencies.length,
      missed,
      p50Ms: percentile(latencies, 50),
      p99Ms: percentile(latencies, 99),
      maxMs: latencies.at(-1) ?? Number.NaN,
    };
  } finally {
    for (const proc of procs.reverse()) await stop(proc);
    await withPg((c) => c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

const result = await haWake();
if (typeof result === 'string') console.log(`ha long-poll wake-up on a standby: ${result}`);
else {
  console.log(
    [
      '',
      '## Standby long-poll wake-up after the leader commits (PostgreSQL LISTEN/NOTIFY)',
      '',
      `2 keepers, ${result.swaps} swaps, ${STANDBY_POLLS} long-polls parked on the standby each; timed from the leader's own long-poll answer`,
      '',
      '| p50 | p99 | max | samples | missed |',
      '| --- | --- | --- | --- | --- |',
      `| ${result.p50Ms.toFixed(1)} ms | ${result.p99Ms.toFixed(1)} ms | ${result.maxMs.toFixed(1)} ms | ${result.samples} | ${result.missed} |`,
      '',
      `target (issue 11): p99 under 100 ms: ${result.p99Ms < 100 ? 'met' : 'NOT met'}`,
    ].join('\n'),
  );
}
