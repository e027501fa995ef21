import type { ClientConfig } from 'pg';
import type { Clock } from '../../clock.js';
import { NoticeListener } from './notice-listener.js';

/**
 * The channel a CLI request is announced on (PostgresStore.enqueueRequest); the payload is the
 * schema, nothing of the request. On SQLite the daemon watches the WAL file instead.
 */
export const REQUEST_CHANNEL = 'dhan_token_keeper_requests';

export interface RequestListenerOptions {
  readonly connection: ClientConfig;
  /** Only requests queued in this schema; undefined: the one the server's search_path gives. */
  readonly schema: string | undefined;
  /**
   * A request was queued (and committed) in this schema, or the listener (re)connected and
   * may have missed some: take the queued requests. Must not throw.
   */
  readonly onRequest: () => void;
  readonly clock?: Clock;
  /** Wait before reconnecting after a lost connection. Default 1 s. */
  readonly reconnectAfterMs?: number;
}

/** Wakes a running keeper when a CLI command queues a request in PostgreSQL. */
export class RequestListener {
  readonly #listener: NoticeListener;

  constructor(options: RequestListenerOptions) {
    this.#listener = new NoticeListener({
      connection: options.connection,
      channel: REQUEST_CHANNEL,
      schema: options.schema,
      onNotice: (payload, schema) => {
        if (payload === schema) options.onRequest();
      },
      onResync: options.onRequest,
      clock: options.clock,
      reconnectAfterMs: options.reconnectAfterMs,
    });
  }

  start(): Promise<void> {
    return this.#listener.start();
  }

  stop(): Promise<void> {
    return this.#listener.stop();
  }

  /** The server pid of the listening connection, for tests and ops. */
  backendPid(): Promise<number | undefined> {
    return this.#listener.backendPid();
  }
}
