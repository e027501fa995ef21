import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from './repo-root.js';

/**
 * End-to-end tests drive the built CLI as a user would: a real `node dist/cli.js` process, its
 * real stdout/stderr and exit code. Nothing here imports a command: a bug in argument parsing,
 * exit codes or output routing must be visible to these tests.
 */
export { REPO_ROOT };
export const CLI_PATH = join(REPO_ROOT, 'dist', 'cli.js');

export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface SpawnOptions {
  /** Added to the test's environment; `undefined` removes a variable. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly cwd?: string;
  /** Written to stdin, which is then closed. Without it stdin is closed at once (never a TTY). */
  readonly input?: string;
  /** Leave stdin open for the test to write to (`proc.child.stdin`) later, as a person would type. */
  readonly keepStdinOpen?: boolean;
  /** Run as this user and group (the test must be root), e.g. a service user. */
  readonly uid?: number;
  readonly gid?: number;
}

/**
 * Variables that would change what the CLI does behind a test's back. A developer's shell may
 * export DHAN_TOKEN_KEEPER_CONFIG, and the debug switch adds stack traces to error output.
 */
const SCRUBBED_ENV = ['DHAN_TOKEN_KEEPER_CONFIG', 'DHAN_TOKEN_KEEPER_DEBUG', 'DHAN_PIN', 'DHAN_TOTP_SECRET'];

function childEnv(extra: Readonly<Record<string, string | undefined>> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of SCRUBBED_ENV) delete env[name];
  for (const [name, value] of Object.entries(extra)) {
    if (value === undefined) delete env[name];
    else env[name] = value;
  }
  return env;
}

/** Re-checked on every output chunk and at exit; returns true once it is settled. */
type Waiter = () => boolean;

/** One spawned CLI process with everything it printed so far. */
export class CliProcess {
  stdout = '';
  stderr = '';
  readonly exited: Promise<Exit>;
  exit: Exit | undefined;
  private readonly waiters = new Set<Waiter>();

  constructor(
    readonly args: readonly string[],
    readonly child: ChildProcess,
  ) {
    child.stdout?.setEncoding('utf8');
    child.stderr?.setEncoding('utf8');
    child.stdout?.on('data', (chunk: string) => {
      this.stdout += chunk;
      this.poke();
    });
    child.stderr?.on('data', (chunk: string) => {
      this.stderr += chunk;
      this.poke();
    });
    this.exited = new Promise<Exit>((resolveExit) => {
      // 'close' (not 'exit'): the pipes are drained by then, so stdout/stderr are complete.
      child.once('close', (code, signal) => {
        this.exit = { code, signal };
        this.poke();
        resolveExit(this.exit);
      });
      child.once('error', (err) => {
        this.stderr += `spawn error: ${err.message}\n`;
        this.exit = { code: null, signal: null };
        this.poke();
        resolveExit(this.exit);
      });
    });
  }

  get pid(): number {
    if (this.child.pid === undefined) throw new Error(`${this.describe()} has no pid`);
    return this.child.pid;
  }

  get running(): boolean {
    return this.exit === undefined;
  }

  /** Complete stdout lines so far (the last, unterminated fragment is left out). */
  stdoutLines(): string[] {
    const lines = this.stdout.split('\n');
    lines.pop();
    return lines;
  }

  /**
   * pino writes one JSON object per line to stdout. Lines that are not JSON are skipped: this
   * reads logs, it does not judge them (tests that care look at the raw text).
   */
  logLines(): Array<Record<string, unknown>> {
    const out: Array<Record<string, unknown>> = [];
    for (const line of this.stdoutLines()) {
      if (!line.startsWith('{')) continue;
      try {
        const parsed: unknown = JSON.parse(line);
        if (typeof parsed === 'object' && parsed !== null) out.push(parsed as Record<string, unknown>);
      } catch {
        // Not a log line.
      }
    }
    return out;
  }

  /** Resolves with the first complete stdout line matching; rejects on exit or timeout. */
  async waitForLine(match: RegExp | ((line: string) => boolean), timeoutMs: number): Promise<string> {
    const test = typeof match === 'function' ? match : (line: string) => match.test(line);
    let found: string | undefined;
    await this.waitFor(
      () => {
        found = this.stdoutLines().find(test);
        return found !== undefined;
      },
      timeoutMs,
      `a stdout line matching ${String(match)}`,
    );
    // waitFor only resolves once `found` is set.
    return found as string;
  }

  /** Resolves when `test` holds (checked on every output chunk); rejects if the process exits first. */
  waitFor(test: () => boolean, timeoutMs: number, what: string): Promise<void> {
    if (test()) return Promise.resolve();
    return new Promise<void>((resolveWait, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(
          new Error(`timed out after ${timeoutMs} ms waiting for ${what} from ${this.describe()}\n${this.dump()}`),
        );
      }, timeoutMs);
      const waiter: Waiter = () => {
        if (test()) {
          clearTimeout(timer);
          resolveWait();
          return true;
        }
        if (this.exit !== undefined) {
          clearTimeout(timer);
          reject(new Error(`${this.describe()} exited (${JSON.stringify(this.exit)}) before ${what}\n${this.dump()}`));
          return true;
        }
        return false;
      };
      this.waiters.add(waiter);
    });
  }

  /** Waits for the exit; on timeout the process is killed and the promise rejects. */
  async waitForExit(timeoutMs: number): Promise<Exit> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.kill('SIGKILL');
        reject(new Error(`${this.describe()} did not exit within ${timeoutMs} ms\n${this.dump()}`));
      }, timeoutMs);
    });
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): void {
    if (this.running) this.child.kill(signal);
  }

  describe(): string {
    return `\`dhan-token-keeper ${this.args.join(' ')}\` (pid ${this.child.pid ?? '?'})`;
  }

  /** The tail of both streams, for failure messages. */
  dump(max = 4000): string {
    const tail = (s: string): string => (s.length > max ? `…${s.slice(-max)}` : s);
    return `--- stdout ---\n${tail(this.stdout)}\n--- stderr ---\n${tail(this.stderr)}`;
  }

  private poke(): void {
    for (const waiter of [...this.waiters]) if (waiter()) this.waiters.delete(waiter);
  }
}

export interface RunResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly proc: CliProcess;
}

/**
 * Every process a test (or a group of tests) spawned, so that none outlives it: call
 * `killAll()` in afterEach, or in onTestFinished for concurrent tests. It also keeps every
 * process ever spawned, for the leak test that reads everything that was printed.
 */
export class Children {
  private readonly live = new Set<CliProcess>();
  readonly all: CliProcess[] = [];

  /** By default the checkout's CLI with this Node; a release laid out elsewhere names its own. */
  constructor(
    private readonly installed: { readonly node: string; readonly cli: string; readonly dir: string } = {
      node: process.execPath,
      cli: CLI_PATH,
      dir: REPO_ROOT,
    },
  ) {}

  spawn(args: readonly string[], options: SpawnOptions = {}): CliProcess {
    const child = spawn(this.installed.node, [this.installed.cli, ...args], {
      cwd: options.cwd ?? this.installed.dir,
      env: childEnv(options.env),
      stdio: ['pipe', 'pipe', 'pipe'],
      ...(options.uid !== undefined ? { uid: options.uid } : {}),
      ...(options.gid !== undefined ? { gid: options.gid } : {}),
    });
    const proc = new CliProcess(args, child);
    this.live.add(proc);
    this.all.push(proc);
    void proc.exited.then(() => this.live.delete(proc));
    // A child that exits before reading its stdin makes the write fail with EPIPE; that is the
    // child's business (its exit code says what happened), not a crash of the test.
    child.stdin?.on('error', () => undefined);
    if (!options.keepStdinOpen) child.stdin?.end(options.input ?? '');
    return proc;
  }

  /** Spawns, waits for the exit (killing the process after `timeoutMs`), returns what it printed. */
  async run(args: readonly string[], options: SpawnOptions & { readonly timeoutMs?: number } = {}): Promise<RunResult> {
    const proc = this.spawn(args, options);
    const { code, signal } = await proc.waitForExit(options.timeoutMs ?? 30_000);
    return { code, signal, stdout: proc.stdout, stderr: proc.stderr, proc };
  }

  /** SIGKILL for everything still running, then wait until each is gone. */
  async killAll(): Promise<void> {
    const procs = [...this.live];
    for (const proc of procs) proc.kill('SIGKILL');
    await Promise.all(procs.map((proc) => proc.exited));
  }

  /** Everything every process printed, stdout and stderr. */
  transcript(): string {
    return this.all.map((p) => `${p.describe()}\n${p.stdout}\n${p.stderr}`).join('\n');
  }
}

export interface RunningKeeper {
  readonly proc: CliProcess;
  /** The token API / metrics base URL the daemon logged, e.g. http://127.0.0.1:40123 */
  readonly url: string;
}

/**
 * Starts `run` and waits for pino's "dhan-token-keeper started" line, which carries the URL
 * (the config binds port 0, so the URL is only known from the log).
 */
export async function startKeeper(
  children: Children,
  configPath: string,
  options: SpawnOptions & { readonly timeoutMs?: number } = {},
): Promise<RunningKeeper> {
  const proc = children.spawn(['run', '--config', configPath], options);
  let url: string | undefined;
  await proc.waitFor(
    () => {
      const started = proc.logLines().find((l) => l['msg'] === 'dhan-token-keeper started');
      if (typeof started?.['url'] === 'string') url = started['url'];
      return url !== undefined;
    },
    options.timeoutMs ?? 30_000,
    'the "dhan-token-keeper started" log line',
  );
  return { proc, url: url as string };
}

/** Polls `check` until it returns a value other than undefined/false. */
export async function waitUntil<T>(
  check: () => T | undefined | false | Promise<T | undefined | false>,
  options: { timeoutMs: number; intervalMs?: number; what: string },
): Promise<T> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${options.timeoutMs} ms waiting for ${options.what}`);
    await sleep(options.intervalMs ?? 100);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export function tempDir(prefix = 'dtk-e2e-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Config files hold secrets: 0600, as the keeper expects (anything looser gets a warning). */
export function writeSecretFile(path: string, text: string, mode = 0o600): string {
  writeFileSync(path, text, { mode });
  return path;
}

export { readJsonSink } from './sink-file.js';

/** `status --json` rows, as the CLI documents them. */
export interface StatusRow {
  readonly clientId: string;
  readonly name: string;
  readonly state: 'valid' | 'refreshing' | 'expired' | 'missing' | 'attention';
  readonly expiresAt: string | null;
  readonly secondsLeft: number | null;
  readonly source: string | null;
  readonly lastResult: string | null;
  readonly attention: string | null;
  readonly nextActionAt?: string | null;
}

export async function statusJson(
  children: Children,
  configPath: string,
  options: SpawnOptions = {},
): Promise<StatusRow[]> {
  const res = await children.run(['status', '--json', '--config', configPath], options);
  if (res.code !== 0) throw new Error(`status --json exited ${res.code}\n${res.proc.dump()}`);
  return JSON.parse(res.stdout) as StatusRow[];
}

/** The in-test simulator's call counters for one account, read over nothing but its API. */
export function callsOf(
  stats: { calls: Record<'generate' | 'renew' | 'profile', Record<string, number>> },
  clientId: string,
): { generate: number; renew: number; profile: number } {
  return {
    generate: stats.calls.generate[clientId] ?? 0,
    renew: stats.calls.renew[clientId] ?? 0,
    profile: stats.calls.profile[clientId] ?? 0,
  };
}

export interface AccountYaml {
  readonly clientId: string;
  readonly name: string;
  readonly mode?: 'auto' | 'renew-only' | 'generate-only' | 'consent';
  readonly pin?: string;
  readonly totpSecret?: string;
  /** The API-key login's app credentials. */
  readonly apiKey?: string;
  readonly apiSecret?: string;
  /** Raw YAML list items under `sinks:`, each already indented for its place. */
  readonly sinksYaml?: string;
}

export interface ConfigYaml {
  readonly simUrl: string;
  readonly accounts: readonly AccountYaml[];
  readonly logLevel?: string;
  /** Raw YAML under `server:` (indented two spaces); default listen on a free loopback port. */
  readonly serverYaml?: string;
  /** Raw YAML under `renewal:` (indented two spaces). */
  readonly renewalYaml?: string;
  readonly minGenerateInterval?: string;
  readonly generateMargin?: string;
  readonly requestTimeout?: string;
  /** Raw YAML sections appended at the top level (e.g. `consent:` or `notify:`), unindented. */
  readonly extraYaml?: string;
}

/**
 * A keeper config against the simulator. Paths are relative: the keeper resolves them against
 * the config's folder, so everything lands in the test's temp dir.
 */
export function configYaml(c: ConfigYaml): string {
  const accounts = c.accounts
    .map((a) => {
      const lines = [`  - clientId: "${a.clientId}"`, `    name: ${a.name}`, `    mode: ${a.mode ?? 'auto'}`];
      if (a.pin !== undefined) lines.push(`    pin: "${a.pin}"`);
      if (a.totpSecret !== undefined) lines.push(`    totpSecret: ${a.totpSecret}`);
      if (a.apiKey !== undefined) lines.push(`    apiKey: "${a.apiKey}"`);
      if (a.apiSecret !== undefined) lines.push(`    apiSecret: "${a.apiSecret}"`);
      lines.push(a.sinksYaml === undefined ? '    sinks: []' : `    sinks:\n${a.sinksYaml}`);
      return lines.join('\n');
    })
    .join('\n');
  return `storage:
  path: ./keeper.db
dhan:
  authBaseUrl: ${c.simUrl}
  apiBaseUrl: ${c.simUrl}
  requestTimeout: ${c.requestTimeout ?? '3s'}
  # The simulator allows a lower rate than Dhan's 2 minutes; 30-s tokens need it.
  minGenerateInterval: ${c.minGenerateInterval ?? '10s'}
  # On loopback the simulator processes a call within milliseconds of it leaving.
  generateMargin: ${c.generateMargin ?? '1s'}
server:
${c.serverYaml ?? '  listen: 127.0.0.1:0'}
renewal:
  avoid: []
${c.renewalYaml ?? ''}
log:
  level: ${c.logLevel ?? 'info'}
${c.extraYaml ?? ''}
accounts:
${accounts}
`;
}

/** A file sink item for `sinksYaml`. */
export function fileSinkYaml(path: string, format: 'json' | 'env' = 'json'): string {
  return `      - type: file\n        path: ${path}\n        format: ${format}\n`;
}
