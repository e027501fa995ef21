import { spawn, type ChildProcess } from 'node:child_process';
import type { Clock, Timer } from '../clock.js';

/** Output kept for the log per stream. */
export const OUTPUT_LIMIT = 4096;
/** After the hook exits, how long its output may still arrive (a grandchild can hold the pipes open). */
const DRAIN_MS = 250;

export interface HookRunOptions {
  readonly timeoutMs: number;
  readonly killGraceMs: number;
  readonly clock: Clock;
  readonly signal: AbortSignal | undefined;
  /** Applied to captured output before it is cut to OUTPUT_LIMIT, so a token is censored whole. */
  readonly redact: (text: string) => string;
  /** Longest secret `redact` censors: that much more output is kept until censoring is done. */
  readonly secretLength: number;
}

export interface HookRun {
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly durationMs: number;
  readonly timedOut: boolean;
  readonly aborted: boolean;
  /** Set when the program could not be started at all: a safe error code such as ENOENT. */
  readonly spawnError: string | undefined;
  readonly stdout: string;
  readonly stderr: string;
}

class OutputCapture {
  private readonly chunks: Buffer[] = [];
  private size = 0;

  constructor(private readonly maxBytes: number) {}

  add(chunk: Buffer): void {
    const room = this.maxBytes - this.size;
    if (room <= 0) return;
    const kept = chunk.length > room ? chunk.subarray(0, room) : chunk;
    this.chunks.push(kept);
    this.size += kept.length;
  }

  text(redact: (text: string) => string): string {
    return redact(Buffer.concat(this.chunks).toString('utf8')).slice(0, OUTPUT_LIMIT).trimEnd();
  }
}

function errorCode(err: unknown): string {
  if (typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string') return err.code;
  return err instanceof Error ? err.name : 'unknown error';
}

/**
 * Runs one hook once: `input` on stdin, `env` as its whole environment. Never rejects.
 *
 * The hook leads its own process group, so a timeout stops what it started too: a shell script
 * whose `sleep` outlived it would otherwise keep running, and keep our pipes open.
 */
export function runHook(
  command: readonly string[],
  input: string,
  env: NodeJS.ProcessEnv,
  options: HookRunOptions,
): Promise<HookRun> {
  const { clock, signal } = options;
  const startedAt = clock.now();
  const stdout = new OutputCapture(OUTPUT_LIMIT + options.secretLength);
  const stderr = new OutputCapture(OUTPUT_LIMIT + options.secretLength);

  return new Promise<HookRun>((resolve) => {
    const [program, ...args] = command;
    let timedOut = false;
    let aborted = false;
    let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    let done = false;
    let child: ChildProcess | undefined;
    const timers: Timer[] = [];

    const finish = (spawnError?: string): void => {
      if (done) return;
      done = true;
      for (const t of timers) t.cancel();
      signal?.removeEventListener('abort', onAbort);
      // Grandchildren may still hold the pipes; we have what we need from them.
      child?.stdout?.destroy();
      child?.stderr?.destroy();
      resolve({
        exitCode: exited?.code ?? null,
        signal: exited?.signal ?? null,
        durationMs: clock.now() - startedAt,
        timedOut,
        aborted,
        spawnError,
        stdout: stdout.text(options.redact),
        stderr: stderr.text(options.redact),
      });
    };

    const signalGroup = (sig: NodeJS.Signals): void => {
      // Once the hook is reaped its pid (and group id) may be reused by an unrelated process.
      if (exited !== undefined || child?.pid === undefined) return;
      try {
        process.kill(-child.pid, sig);
      } catch {
        // Already gone.
      }
    };
    const terminate = (): void => {
      signalGroup('SIGTERM');
      timers.push(clock.setTimer(options.killGraceMs, () => signalGroup('SIGKILL')));
    };
    // Stopping the keeper stops its hooks too, instead of holding shutdown for a whole timeout.
    const onAbort = (): void => {
      aborted = true;
      terminate();
    };

    if (program === undefined || program === '') {
      finish('empty command');
      return;
    }
    if (signal?.aborted) {
      aborted = true;
      finish();
      return;
    }

    try {
      child = spawn(program, args, { stdio: ['pipe', 'pipe', 'pipe'], env, detached: true });
    } catch (err) {
      finish(errorCode(err));
      return;
    }
    child.on('error', (err) => {
      // With a pid the process exists and 'exit' follows; without one it never started.
      if (child.pid === undefined) finish(errorCode(err));
    });
    child.on('exit', (code, sig) => {
      exited = { code, signal: sig };
      timers.push(clock.setTimer(DRAIN_MS, () => finish()));
    });
    child.on('close', () => finish());
    child.stdout?.on('data', (chunk: Buffer) => stdout.add(chunk));
    child.stderr?.on('data', (chunk: Buffer) => stderr.add(chunk));
    // A hook that ignores the token (systemctl reload) may exit before reading it: EPIPE is fine.
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(input);

    timers.push(
      clock.setTimer(options.timeoutMs, () => {
        timedOut = true;
        terminate();
      }),
    );
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
