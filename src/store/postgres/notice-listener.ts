import pg from 'pg';
import type { ClientConfig } from 'pg';
import { systemClock, type Clock, type Timer } from '../../clock.js';

export interface NoticeListenerOptions {
  readonly connection: ClientConfig;
  /** A channel name of letters, digits and _ (it goes into LISTEN as is). */
  readonly channel: string;
  /**
   * The schema whose notices matter (keepers of other installations may share the database);
   * undefined: the one the server's search_path gives this connection, as it gives the store's.
   */
  readonly schema: string | undefined;
  /** Every notice on the channel, with the schema it is compared against. Must not throw. */
  readonly onNotice: (payload: string, schema: string | undefined) => void;
  /**
   * Called after every (re)connection: notices sent while disconnected are lost, so the
   * listener's owner re-reads the store. Must not throw.
   */
  readonly onResync?: (() => void) | undefined;
  readonly clock?: Clock | undefined;
  /** Wait before reconnecting after a lost connection. Default 1 s. */
  readonly reconnectAfterMs?: number | undefined;
}

/**
 * LISTEN on a connection of its own, reconnecting after a loss. PostgreSQL delivers a NOTIFY
 * issued inside a transaction only when that transaction commits, so a notice always means
 * "what it announces is durable and visible".
 */
export class NoticeListener {
  readonly #options: NoticeListenerOptions;
  readonly #clock: Clock;
  #client: pg.Client | undefined;
  #schema: string | undefined;
  #retry: Timer | undefined;
  #stopped = false;

  constructor(options: NoticeListenerOptions) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(options.channel))
      throw new RangeError(`channel "${options.channel}" must be letters, digits and _`);
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#schema = options.schema;
  }

  async start(): Promise<void> {
    this.#stopped = false;
    await this.#connect();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#retry?.cancel();
    const client = this.#client;
    this.#client = undefined;
    await client?.end().catch(() => undefined);
  }

  /** The server pid of the listening connection, for tests and ops. */
  async backendPid(): Promise<number | undefined> {
    const r = await this.#client?.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    return r?.rows[0]?.pid;
  }

  async #connect(): Promise<void> {
    const client = new pg.Client(this.#options.connection);
    client.on('notification', (msg) => {
      if (msg.channel !== this.#options.channel || msg.payload === undefined) return;
      this.#options.onNotice(msg.payload, this.#schema);
    });
    const lost = (): void => {
      if (this.#client !== client) return;
      this.#client = undefined;
      client.end().catch(() => undefined);
      this.#scheduleReconnect();
    };
    client.on('error', lost);
    client.on('end', lost);
    try {
      await client.connect();
      if (this.#options.schema === undefined) {
        this.#schema =
          (await client.query<{ s: string | null }>('SELECT current_schema() AS s')).rows[0]?.s ?? undefined;
      }
      await client.query(`LISTEN ${this.#options.channel}`);
    } catch (err) {
      client.end().catch(() => undefined);
      if (this.#stopped) return;
      this.#scheduleReconnect();
      throw err;
    }
    if (this.#stopped) {
      await client.end().catch(() => undefined);
      return;
    }
    this.#client = client;
    this.#options.onResync?.();
  }

  #scheduleReconnect(): void {
    if (this.#stopped) return;
    this.#retry = this.#clock.setTimer(this.#options.reconnectAfterMs ?? 1_000, () => {
      this.#connect().catch(() => undefined);
    });
  }
}
