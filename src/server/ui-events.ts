import type { ServerResponse } from 'node:http';
import type { Logger } from '../log.js';
import type { UiSnapshot } from './ui-state.js';
import type { UiState } from './ui-types.js';

/** Open pages are few (a trader's phone and laptop); the cap bounds what a script can hold open. */
const MAX_STREAMS = 64;
/** Countdowns move in the page itself; this only catches changes no swap announces (a failure, a stop). */
const REFRESH_MS = 5_000;
/** Proxies close idle streams; a comment line every so often keeps them open. */
const HEARTBEAT_MS = 20_000;
/** A few dozen states; beyond that the reader is gone and EventSource will reconnect if it is not. */
const MAX_BUFFERED_BYTES = 1024 * 1024;

interface Stream {
  readonly res: ServerResponse;
  readonly cut: (snapshot: UiSnapshot) => UiState;
}

/**
 * Server-sent events for the status page. The state is built once per change and cut per
 * viewer, so a hundred open pages cost one read of the store, not a hundred. Swaps arrive
 * through the keeper's swap notification (the one that wakes long-polls); a slow timer
 * catches the rest while anyone is watching.
 */
export class UiEvents {
  private readonly streams = new Set<Stream>();
  private pending = false;
  private timer: NodeJS.Timeout | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly build: () => Promise<UiSnapshot>,
    private readonly log: Logger,
  ) {}

  get size(): number {
    return this.streams.size;
  }

  /** Starts a stream with the current state; false when full or closing (the caller answers 503). */
  open(res: ServerResponse, cut: Stream['cut']): boolean {
    if (this.closed || this.streams.size >= MAX_STREAMS) return false;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      // Tells nginx not to buffer the stream.
      'x-accel-buffering': 'no',
    });
    const stream: Stream = { res, cut };
    this.streams.add(stream);
    res.once('close', () => {
      this.streams.delete(stream);
      if (this.streams.size === 0) this.stopTimers();
    });
    this.build()
      .then((snapshot) => this.send(stream, snapshot))
      .catch((err: unknown) => {
        this.log.error({ err }, 'building the status page state failed');
        res.end();
      });
    this.startTimers();
    return true;
  }

  /** Called from the keeper's swap notification and after actions: coalesced into one broadcast. */
  changed(): void {
    if (this.pending || this.closed || this.streams.size === 0) return;
    this.pending = true;
    setImmediate(() => {
      this.pending = false;
      void this.broadcast();
    });
  }

  closeAll(): void {
    this.closed = true;
    this.stopTimers();
    for (const stream of [...this.streams]) stream.res.end();
    this.streams.clear();
  }

  private async broadcast(): Promise<void> {
    if (this.streams.size === 0) return;
    let snapshot: UiSnapshot;
    try {
      snapshot = await this.build();
    } catch (err) {
      this.log.error({ err }, 'building the status page state failed');
      return;
    }
    for (const stream of [...this.streams]) this.send(stream, snapshot);
  }

  private send(stream: Stream, snapshot: UiSnapshot): void {
    if (stream.res.destroyed || stream.res.writableEnded) return;
    // A page that stopped reading (a sleeping phone behind a proxy) must not make us buffer for hours.
    if (stream.res.writableLength > MAX_BUFFERED_BYTES) {
      this.log.warn('dropping a status page stream that stopped reading');
      stream.res.destroy();
      return;
    }
    stream.res.write(`event: state\ndata: ${JSON.stringify(stream.cut(snapshot))}\n\n`);
  }

  private startTimers(): void {
    this.timer ??= setInterval(() => void this.broadcast(), REFRESH_MS);
    this.heartbeat ??= setInterval(() => {
      for (const stream of this.streams) if (!stream.res.destroyed) stream.res.write(': keep-alive\n\n');
    }, HEARTBEAT_MS);
    this.timer.unref();
    this.heartbeat.unref();
  }

  private stopTimers(): void {
    if (this.timer) clearInterval(this.timer);
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.timer = undefined;
    this.heartbeat = undefined;
  }
}
