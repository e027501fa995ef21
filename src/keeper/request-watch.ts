import { watch, type FSWatcher } from 'node:fs';
import type { Logger } from '../log.js';

/** Only when the file watch is missing or misses something; a queued command waits at most this long. */
export const REQUEST_FALLBACK_POLL_MS = 5_000;

export interface RequestWatchOptions {
  /**
   * SQLite's write-ahead log: every commit, including a CLI queueing a command, writes to it.
   * Without one (PostgreSQL), the owner calls `poke()` when the database announces a command.
   */
  readonly walPath?: string;
  /** Reads the queue and carries out what is there; called one at a time. */
  readonly check: () => Promise<void>;
  readonly fallbackMs: number;
  readonly log: Logger;
}

/**
 * Wakes the daemon for commands the CLI queued without reading SQLite several times a second
 * on a quiet day. A CLI's INSERT lands in the WAL, so a watch on that file hears of it at once;
 * the daemon's own writes (a heartbeat every few seconds) wake it too, which costs one indexed
 * read of an empty queue. The queue row stays the source of truth: the watch only says "look",
 * and a slow poll covers filesystems where watching does not work.
 */
export function watchRequests(options: RequestWatchOptions): { close(): void; poke(): void } {
  let running = false;
  let again = false;
  const run = (): void => {
    if (running) {
      again = true;
      return;
    }
    running = true;
    void (async () => {
      try {
        do {
          again = false;
          await options.check();
          // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- set by a watch event while check() awaited
        } while (again);
      } finally {
        running = false;
      }
    })();
  };

  let watcher: FSWatcher | undefined;
  const walPath = options.walPath;
  if (walPath !== undefined) watcher = watchFile(walPath, options, run);
  const poll = setInterval(run, options.fallbackMs);
  poll.unref();
  run();
  return {
    close: () => {
      clearInterval(poll);
      watcher?.close();
    },
    poke: run,
  };
}

function watchFile(walPath: string, options: RequestWatchOptions, run: () => void): FSWatcher | undefined {
  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(walPath, { persistent: false }, run);
    watcher.on('error', (err) => {
      options.log.warn(
        { err: err.message },
        `watching ${walPath} failed; CLI commands are picked up within ${options.fallbackMs / 1000} s instead`,
      );
      watcher?.close();
    });
  } catch (err) {
    options.log.warn(
      { err: err instanceof Error ? err.message : String(err) },
      `cannot watch ${walPath}; CLI commands are picked up within ${options.fallbackMs / 1000} s instead`,
    );
  }
  return watcher;
}
