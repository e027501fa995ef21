import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { Children, sleep, tempDir, writeSecretFile, type CliProcess } from './cli.js';
import { startRecordingProxy, type RecordingProxy } from './dhan-recording-proxy.js';
import type { KeeperLife, LeaderSample } from './ha-figures.js';
import { freePort } from './http.js';
import { PG_URL } from './postgres.js';

/*
 * Several `dhan-token-keeper run` processes on one PostgreSQL schema, each with its own config,
 * port, file sink and recording proxy in front of the simulator; and a poller of the
 * `leadership` row. What the chaos test does to them is up to the test.
 */

export interface HaAccount {
  readonly clientId: string;
  readonly pin: string;
  readonly totpSecret: string;
}

export interface HaWorldOptions {
  readonly keepers: number;
  readonly schema: string;
  readonly simUrl: string;
  readonly accounts: readonly HaAccount[];
  readonly apiKey: string;
  /** Raw YAML under `renewal:` (indented two spaces). */
  readonly renewalYaml: string;
  readonly takeoverAfter: string;
}

export interface KeeperSlot {
  readonly index: number;
  readonly port: number;
  readonly url: string;
  readonly dir: string;
  readonly configPath: string;
  readonly proxy: RecordingProxy;
  proc: CliProcess | undefined;
}

export interface LeadershipLogLine {
  readonly slot: number;
  readonly pid: number;
  readonly at: number;
  readonly leads: boolean;
  readonly epoch: number | undefined;
  readonly reason: string | undefined;
}

function keeperConfig(o: HaWorldOptions, proxyUrl: string, port: number): string {
  const accounts = o.accounts
    .map(
      (a) => `  - clientId: "${a.clientId}"
    name: a${a.clientId.slice(-3)}
    mode: auto
    pin: "${a.pin}"
    totpSecret: ${a.totpSecret}
    sinks:
      - type: file
        path: ./tokens/${a.clientId}.json
        format: json
`,
    )
    .join('');
  return `storage:
  url: ${PG_URL}
  schema: ${o.schema}
ha:
  takeoverAfter: ${o.takeoverAfter}
dhan:
  authBaseUrl: ${proxyUrl}
  apiBaseUrl: ${proxyUrl}
  requestTimeout: 10s
  minGenerateInterval: 10s
  generateMargin: 1s
server:
  listen: 127.0.0.1:${port}
  apiKeys:
    - name: consumer
      key: "${o.apiKey}"
      clients: ["*"]
renewal:
  avoid: []
${o.renewalYaml}
log:
  level: info
accounts:
${accounts}`;
}

export class HaWorld {
  readonly children = new Children();
  readonly slots: KeeperSlot[] = [];
  readonly lives: KeeperLife[] = [];
  readonly leaderSamples: LeaderSample[] = [];
  #polling = false;
  #poller: Promise<void> | undefined;

  private constructor(readonly options: HaWorldOptions) {}

  static async create(options: HaWorldOptions): Promise<HaWorld> {
    const world = new HaWorld(options);
    for (let index = 0; index < options.keepers; index++) {
      const proxy = await startRecordingProxy(index, options.simUrl);
      const port = await freePort();
      const dir = tempDir(`dtk-ha-k${index}-`);
      const configPath = writeSecretFile(join(dir, 'config.yaml'), keeperConfig(options, proxy.url, port));
      world.slots.push({ index, port, url: `http://127.0.0.1:${port}`, dir, configPath, proxy, proc: undefined });
    }
    return world;
  }

  /** Starts the slot's keeper; resolves once it logged that it started (leader or standby). */
  async start(slot: KeeperSlot, timeoutMs = 30_000): Promise<CliProcess> {
    const proc = this.children.spawn(['run', '--config', slot.configPath]);
    slot.proc = proc;
    const life: KeeperLife = { slot: slot.index, pid: proc.pid, start: Date.now(), end: undefined };
    this.lives.push(life);
    void proc.exited.then(() => {
      life.end ??= Date.now();
    });
    await proc.waitFor(
      () => proc.logLines().some((l) => l['msg'] === 'dhan-token-keeper started'),
      timeoutMs,
      'the "dhan-token-keeper started" line',
    );
    return proc;
  }

  /** SIGKILL now; the life ends at the moment of the signal. */
  kill(slot: KeeperSlot): number {
    const at = Date.now();
    const life = this.lives.find((l) => l.slot === slot.index && l.end === undefined);
    if (life !== undefined) life.end = at;
    slot.proc?.kill('SIGKILL');
    return at;
  }

  running(): KeeperSlot[] {
    return this.slots.filter((s) => s.proc?.running === true);
  }

  slotOfPid(pid: number | undefined): KeeperSlot | undefined {
    return pid === undefined ? undefined : this.slots.find((s) => s.proc?.running === true && s.proc.pid === pid);
  }

  /** The leader as last polled, if it is one of our running keepers. */
  currentLeader(): { slot: KeeperSlot; epoch: number } | undefined {
    const last = this.leaderSamples.at(-1);
    const slot = this.slotOfPid(last?.pid);
    return last === undefined || slot === undefined ? undefined : { slot, epoch: last.epoch };
  }

  /** Polls the leadership row every `everyMs`, reconnecting through PostgreSQL restarts. */
  startLeaderPoller(everyMs = 50): void {
    this.#polling = true;
    this.#poller = (async () => {
      let client: pg.Client | undefined;
      while (this.#polling) {
        try {
          if (client === undefined) {
            client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 2_000 });
            client.on('error', () => undefined);
            await client.connect();
          }
          const r = await client.query<{ epoch: string; pid: number }>(
            `SELECT epoch, pid FROM "${this.options.schema}".leadership WHERE id = 1`,
          );
          const row = r.rows[0];
          if (row !== undefined) this.leaderSamples.push({ at: Date.now(), epoch: Number(row.epoch), pid: row.pid });
        } catch {
          // The table may not exist yet, or PostgreSQL is restarting: look again.
          await client?.end().catch(() => undefined);
          client = undefined;
          await sleep(200);
        }
        await sleep(everyMs);
      }
      await client?.end().catch(() => undefined);
    })();
  }

  /** Resolves with the leader once the row names one of our running keepers under a new epoch. */
  async waitForLeader(options: {
    notEpoch?: number;
    timeoutMs: number;
  }): Promise<{ slot: KeeperSlot; epoch: number; at: number }> {
    const deadline = Date.now() + options.timeoutMs;
    for (;;) {
      const leader = this.currentLeader();
      if (leader !== undefined && leader.epoch !== options.notEpoch)
        return { ...leader, at: this.leaderSamples.at(-1)!.at };
      if (Date.now() > deadline)
        throw new Error(
          `no leader within ${options.timeoutMs} ms; last sample ${JSON.stringify(this.leaderSamples.at(-1))}`,
        );
      await sleep(20);
    }
  }

  /** "this keeper leads now" / "this keeper stands by" lines of every process ever started. */
  leadershipLog(): LeadershipLogLine[] {
    const out: LeadershipLogLine[] = [];
    for (const life of this.lives) {
      const proc = this.children.all.find((p) => p.child.pid === life.pid);
      for (const line of proc?.logLines() ?? []) {
        const msg = line['msg'];
        if (msg !== 'this keeper leads now' && msg !== 'this keeper stands by') continue;
        out.push({
          slot: life.slot,
          pid: life.pid,
          at: Date.parse(String(line['time'])),
          leads: msg === 'this keeper leads now',
          epoch: typeof line['epoch'] === 'number' ? line['epoch'] : undefined,
          reason: typeof line['reason'] === 'string' ? line['reason'] : undefined,
        });
      }
    }
    return out.sort((a, b) => a.at - b.at);
  }

  /** Running keepers whose last leadership line says they lead. */
  selfDeclaredLeaders(): KeeperSlot[] {
    const last = new Map<number, LeadershipLogLine>();
    for (const line of this.leadershipLog()) last.set(line.pid, line);
    return this.running().filter((s) => last.get(s.proc!.pid)?.leads === true);
  }

  /** Ends every PostgreSQL session of this keeper process (its pool, lock and listener). */
  async terminatePgSessions(slot: KeeperSlot): Promise<number> {
    const ports = localTcpPorts(slot.proc!.pid);
    return withClient(async (client) => {
      // Two statements on purpose: in one WHERE clause, PostgreSQL may call pg_terminate_backend
      // before it filters by port, and end every session on the server.
      const r = await client.query<{ pid: number }>(
        `SELECT pid FROM pg_stat_activity WHERE client_port = ANY($1::int[]) AND pid <> pg_backend_pid()`,
        [ports],
      );
      let ended = 0;
      for (const { pid } of r.rows) {
        const t = await client.query<{ ok: boolean }>('SELECT pg_terminate_backend($1) AS ok', [pid]);
        if (t.rows[0]?.ok === true) ended++;
      }
      return ended;
    });
  }

  async query<T extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<T[]> {
    return withClient(async (client) => {
      await client.query(`SET search_path TO "${this.options.schema}"`);
      return (await client.query<T>(sql, params)).rows;
    });
  }

  async close(): Promise<void> {
    this.#polling = false;
    await this.#poller;
    await this.children.killAll();
    for (const slot of this.slots) await slot.proxy.close();
  }
}

async function withClient<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 5_000 });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * The local ports of a process's TCP sockets, from /proc: which of PostgreSQL's sessions are
 * this keeper's (pg_stat_activity.client_port), without any help from the keeper.
 */
export function localTcpPorts(pid: number): number[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m?.[1] !== undefined) inodes.add(m[1]);
    } catch {
      // Closed while we looked.
    }
  }
  const ports: number[] = [];
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      const local = cols[1];
      const inode = cols[9];
      if (local === undefined || inode === undefined || !inodes.has(inode)) continue;
      ports.push(parseInt(local.split(':')[1] ?? '0', 16));
    }
  }
  return ports;
}
