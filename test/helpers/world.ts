import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeClock, type Clock } from '../../src/clock.js';
import { loadConfig } from '../../src/config/index.js';
import type { Config } from '../../src/config/config.js';
import type { DhanCallReport } from '../../src/dhan/dhan-api.js';
import type { WorkerHooks } from '../../src/keeper/account-worker.js';
import { assembleKeeper } from '../../src/keeper/assemble.js';
import type { Keeper } from '../../src/keeper/keeper.js';
import type { SweepStarter } from '../../src/keeper/sweep.js';
import { createLogger, type Logger } from '../../src/log.js';
import { startSimulator } from '../../src/sim/index.js';
import type { SimAccountOptions, Simulator } from '../../src/sim/simulator-api.js';
import { Store } from '../../src/store/index.js';
import { SqliteAsyncStore } from '../../src/store/sqlite-async-store.js';
import type { AsyncStore } from '../../src/store/contract.js';
import type { LeaderFence } from '../../src/store/postgres/leadership.js';
import { PostgresStore } from '../../src/store/postgres/postgres-store.js';
import { PG_URL } from './postgres.js';
import type { StoredToken } from '../../src/tokens.js';

export const PIN = '123456';
export const SECRET = 'JBSWY3DPEHPK3PXP';
export const CLIENT = '1000000401';
/** The app of mode consent worlds (the simulator knows it too). */
export const APP = { apiKey: 'world-app-key-0401', apiSecret: 'world-app-secret-0401' };

export const HOUR = 3_600_000;
export const DAY = 24 * HOUR;

/** A sweep on the fake clock, so that virtual days have their safety net too. */
export function fakeClockSweep(clock: Clock, everyMs: number): SweepStarter {
  return (tick) => {
    const controller = new AbortController();
    const arm = (): void => {
      clock.setTimer(
        everyMs,
        () => {
          tick();
          arm();
        },
        controller.signal,
      );
    };
    arm();
    return async () => controller.abort();
  };
}

export interface WorldOptions {
  readonly mode?: 'auto' | 'renew-only' | 'generate-only' | 'consent';
  /** Raw top-level YAML sections (e.g. `consent:`), unindented. */
  readonly extraYaml?: string;
  /** YAML lines appended under `renewal:`. */
  readonly renewalYaml?: string;
  readonly tokenLifetimeMs?: number;
  readonly generateIntervalMs?: number;
  readonly minGenerateInterval?: string;
  readonly simAccount?: Partial<SimAccountOptions>;
  readonly pin?: string;
  readonly startMs?: number;
  readonly requestTimeout?: string;
  readonly sinkFormat?: 'json' | 'env';
  readonly sweepMs?: number;
  readonly logLevel?: 'silent' | 'debug' | 'info';
  /** Keep the keeper's data in this PostgreSQL schema instead of a SQLite file. */
  readonly postgresSchema?: string;
  /** Several keepers: only act while this says so (see AccountWorkerDeps.leadership). */
  readonly leadership?: { fence(): LeaderFence | undefined };
}

/** A keeper, a simulated Dhan, a SQLite file and a config file, all on one fake clock. */
export class World {
  readonly calls: DhanCallReport[] = [];
  /** Every swap, in order, as the token API would see it. */
  readonly published: Array<{ clientId: string; token: StoredToken; at: number }> = [];
  readonly refreshes: Array<{ clientId: string; method: string; result: string; at: number }> = [];
  readonly logLines: string[] = [];
  keeper!: Keeper;
  /** The SQLite file, read synchronously by assertions (not in a PostgreSQL world). */
  store!: Store;
  /** What the keeper itself uses, whichever database is behind it. */
  asyncStore!: AsyncStore;
  config!: Config;
  sim!: Simulator;
  log!: Logger;

  private constructor(
    readonly clock: FakeClock,
    readonly dir: string,
    private readonly options: WorldOptions,
  ) {}

  static async create(options: WorldOptions = {}): Promise<World> {
    const clock = new FakeClock(options.startMs ?? Date.UTC(2026, 0, 5, 14, 0, 0));
    const dir = mkdtempSync(join(tmpdir(), 'dtk-world-'));
    const world = new World(clock, dir, options);
    world.sim = await startSimulator({
      accounts: [
        {
          clientId: CLIENT,
          pin: PIN,
          totpSecret: SECRET,
          ...APP,
          redirectUrl: 'http://127.0.0.1:9470/v1/consent/callback',
        },
      ],
      clock,
      tokenLifetimeMs: options.tokenLifetimeMs ?? DAY,
      generateIntervalMs: options.generateIntervalMs ?? 120_000,
    });
    if (options.simAccount) world.sim.setAccountOptions(CLIENT, options.simAccount);
    world.writeConfig();
    await world.openKeeper();
    return world;
  }

  get configPath(): string {
    return join(this.dir, 'config.yaml');
  }

  get sinkPath(): string {
    return join(this.dir, 'tokens', 'main.json');
  }

  writeConfig(pin = this.options.pin ?? PIN): void {
    const mode = this.options.mode ?? 'auto';
    const creds =
      mode === 'renew-only'
        ? ''
        : mode === 'consent'
          ? `    apiKey: ${APP.apiKey}\n    apiSecret: ${APP.apiSecret}\n`
          : `    pin: "${pin}"\n    totpSecret: ${SECRET}\n`;
    writeFileSync(
      this.configPath,
      `storage:
  path: ./keeper.db
dhan:
  authBaseUrl: ${this.sim.baseUrl}
  apiBaseUrl: ${this.sim.baseUrl}
  requestTimeout: ${this.options.requestTimeout ?? '2s'}
  minGenerateInterval: ${this.options.minGenerateInterval ?? '2m'}
renewal:
  probeInterval: 15m
${this.options.renewalYaml ?? ''}
log:
  level: debug
${this.options.extraYaml ?? ''}
accounts:
  - clientId: "${CLIENT}"
    name: main
    mode: ${mode}
${creds}    sinks:
      - type: file
        path: ./tokens/main.json
        format: ${this.options.sinkFormat ?? 'json'}
`,
      { mode: 0o600 },
    );
  }

  /** (Re)builds the keeper from the config file, as a process start would. */
  async openKeeper(): Promise<void> {
    this.config = loadConfig(this.configPath).config;
    const schema = this.options.postgresSchema;
    if (schema === undefined) {
      this.store = Store.open(this.config.storage.path);
      this.asyncStore = new SqliteAsyncStore(this.store);
    } else {
      this.asyncStore = await PostgresStore.open({ connection: { connectionString: PG_URL }, schema });
    }
    this.log = createLogger({
      level: this.options.logLevel ?? 'debug',
      destination: { write: (line: string) => void this.logLines.push(line) },
    });
    const hooks: Partial<WorkerHooks> = {
      refreshed: (clientId, method, result) => this.refreshes.push({ clientId, method, result, at: this.clock.now() }),
      tokenChanged: (clientId, token) => this.published.push({ clientId, token, at: this.clock.now() }),
    };
    this.keeper = assembleKeeper(this.config, this.asyncStore, {
      clock: this.clock,
      log: this.log,
      hooks,
      onDhanCall: (report) => this.calls.push(report),
      startSweep: fakeClockSweep(this.clock, this.options.sweepMs ?? 60_000),
      random: () => 0.5,
      sinkRetryBaseMs: 10,
      ...(this.options.leadership ? { leadership: this.options.leadership } : {}),
    });
  }

  /** Simulates a process restart: the old keeper stops, a new one reads the same files. */
  async restart(): Promise<void> {
    await this.keeper.stop();
    await this.asyncStore.close();
    await this.openKeeper();
    await this.keeper.start();
    await this.keeper.settle();
  }

  /** Lets virtual time pass, firing every timer on the way and waiting for the work each starts. */
  async runFor(ms: number, onStep?: (now: number) => void): Promise<void> {
    const end = this.clock.now() + ms;
    await this.keeper.settle();
    for (;;) {
      const next = this.clock.nextDueAt();
      const target = next === undefined || next > end ? end : next;
      await this.clock.advanceTo(target);
      await this.keeper.settle();
      onStep?.(this.clock.now());
      if (target >= end) break;
    }
  }

  /** The stored current token (in a PostgreSQL world: as the keeper last committed or read it). */
  current(): StoredToken | undefined {
    return this.options.postgresSchema === undefined
      ? this.store.currentToken(CLIENT)
      : this.keeper.worker(CLIENT)?.current;
  }

  async close(): Promise<void> {
    await this.keeper.stop();
    await this.asyncStore.close();
    await this.sim.close();
  }
}
