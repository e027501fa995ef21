import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { openSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const CLI = join(ROOT, 'dist', 'cli.js');
const TOTP_SECRET = 'KRSXG5CTMVRXEZLUKN2XAZLDNFQWY4ZA';
const PIN = '493817';

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export function clientIdOf(i: number): string {
  return String(1_100_000_000 + i);
}

/** A port free right now on loopback; the keeper gets a fixed one so the bench knows its URL before it starts. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

let shipped: Record<string, string> | undefined;

/**
 * The variables the systemd unit sets with `Environment=` (the Docker image sets the same), read
 * from the unit so that the bench runs the keeper as both ship it: glibc's malloc settings change
 * its RSS by several MB and only the environment can set them. BENCH_PLAIN_ENV=1 leaves them out,
 * to measure a bare `node dist/cli.js run`.
 */
export function shippedEnvironment(): Record<string, string> {
  shipped ??= process.env['BENCH_PLAIN_ENV'] === '1' ? {} : readUnitEnvironment();
  return shipped;
}

function readUnitEnvironment(): Record<string, string> {
  const unit = readFileSync(join(ROOT, 'systemd', 'dhan-token-keeper.service'), 'utf8');
  const vars: Record<string, string> = {};
  for (const line of unit.split('\n')) {
    if (!line.startsWith('Environment=')) continue;
    for (const pair of line.slice('Environment='.length).trim().split(/\s+/)) {
      const eq = pair.indexOf('=');
      if (eq > 0) vars[pair.slice(0, eq)] = pair.slice(eq + 1);
    }
  }
  return vars;
}

/** Starts `dist/cli.js <args>` as its own process with output to a file (a pipe the bench would have to drain costs the keeper nothing but costs us). */
export function spawnCli(args: readonly string[], logPath: string): ChildProcess {
  const out = openSync(logPath, 'a');
  return spawn(process.execPath, [CLI, ...args], {
    stdio: ['ignore', out, out],
    env: { ...process.env, ...shippedEnvironment() },
  });
}

export interface Setup {
  readonly dir: string;
  readonly configPath: string;
  readonly dbPath: string;
  readonly port: number;
  readonly url: string;
  readonly key: string;
}

export function writeSimAccounts(dir: string, count: number): string {
  const path = join(dir, 'sim-accounts.yaml');
  const lines: string[] = [];
  for (let i = 0; i < count; i++)
    lines.push(`- { clientId: "${clientIdOf(i)}", pin: "${PIN}", totpSecret: ${TOTP_SECRET} }`);
  writeFileSync(path, `${lines.join('\n')}\n`);
  return path;
}

/** A config as a new user writes it: defaults everywhere but the simulator's URLs, one API key, no sinks. */
export function writeKeeperConfig(dir: string, count: number, simUrl: string, port: number): Setup {
  const key = randomBytes(24).toString('hex');
  const accounts: string[] = [];
  for (let i = 0; i < count; i++) {
    accounts.push(
      `  - { clientId: "${clientIdOf(i)}", name: a${i}, pin: "${PIN}", totpSecret: ${TOTP_SECRET}, sinks: [] }`,
    );
  }
  // Old builds reject the key; the "before" figures were taken with BENCH_NO_MAX_LONG_POLLS=1.
  const maxLongPolls = process.env['BENCH_NO_MAX_LONG_POLLS'] === '1' ? '' : '  maxLongPolls: 1000\n';
  // What idle costs at another probe rate (the default, 15m, when unset).
  const probeInterval = process.env['BENCH_PROBE_INTERVAL']
    ? `  probeInterval: ${process.env['BENCH_PROBE_INTERVAL']}\n`
    : '';
  const yaml = `storage:
  path: ./keeper.db
dhan:
  authBaseUrl: ${simUrl}
  apiBaseUrl: ${simUrl}
server:
  listen: 127.0.0.1:${port}
${maxLongPolls}  apiKeys:
    - { name: bench, key: "${key}", clients: ["*"] }
renewal:
  avoid: []
${probeInterval}log:
  level: info
accounts:
${accounts.join('\n')}
`;
  const configPath = join(dir, 'config.yaml');
  writeFileSync(configPath, yaml, { mode: 0o600 });
  return { dir, configPath, dbPath: join(dir, 'keeper.db'), port, url: `http://127.0.0.1:${port}`, key };
}

/** The simulator prints its base URL as its first line. */
export async function startSim(dir: string, accountsPath: string): Promise<{ proc: ChildProcess; url: string }> {
  const proc = spawn(process.execPath, [CLI, 'simulate', '--accounts', accountsPath, '--token-lifetime', '24h'], {
    stdio: ['ignore', 'pipe', openSync(join(dir, 'sim.log'), 'a')],
  });
  const url = await new Promise<string>((resolve, reject) => {
    let text = '';
    proc.stdout?.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      const line = text.split('\n')[0];
      if (text.includes('\n') && line) resolve(line.trim());
    });
    proc.once('exit', (code) => reject(new Error(`simulator exited with ${code}`)));
  });
  proc.stdout?.resume();
  return { proc, url };
}

/** Every Dhan call the simulator has answered so far. */
export async function simCalls(simUrl: string): Promise<number> {
  const res = await fetch(`${simUrl}/__sim/stats`);
  const stats = (await res.json()) as { calls: Record<string, Record<string, number>> };
  let total = 0;
  for (const perClient of Object.values(stats.calls)) for (const n of Object.values(perClient)) total += n;
  return total;
}

/** Accounts with a current, unexpired token in the database (read-only, beside the keeper, like `status` does). */
export function liveTokensInDb(dbPath: string): number {
  let db: Database.Database | undefined;
  try {
    db = new Database(dbPath, { readonly: true, fileMustExist: true });
    const row = db
      .prepare('SELECT COUNT(*) AS n FROM tokens WHERE superseded_at IS NULL AND expires_at > ?')
      .get(Date.now()) as { n: number };
    return row.n;
  } catch {
    return 0;
  } finally {
    db?.close();
  }
}

export async function status(url: string, headers: Readonly<Record<string, string>> = {}): Promise<number> {
  try {
    const res = await fetch(url, { headers });
    await res.arrayBuffer();
    return res.status;
  } catch {
    return 0;
  }
}

export async function stop(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  proc.kill('SIGTERM');
  await Promise.race([exited, sleep(15_000)]);
  if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
  await exited;
}
