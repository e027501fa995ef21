import pg from 'pg';
import type { ClientConfig } from 'pg';
import { systemClock, type Clock, type Timer } from '../../clock.js';

/** The channel every swap is announced on; the payload names the schema, never the token. */
export const SWAP_CHANNEL = 'dhan_token_keeper_swaps';

export interface SwapNotice {
  readonly clientId: string;
  readonly tokenId: number;
}

export interface SwapListenerOptions {
  readonly connection: ClientConfig;
  /** Only swaps in this schema (keepers of other installations may share the database). */
  readonly schema: string;
  readonly onSwap: (notice: SwapNotice) => void;
  /**
   * Called after every (re)connection: notices sent while disconnected are lost, so the
   * listener's owner re-reads the store. Must not throw.
   */
  readonly onResync?: () => void;
  readonly clock?: Clock;
  /** Wait before reconnecting after a lost connection. Default 1 s. */
  readonly reconnectAfterMs?: number;
}

/**
 * How a standby hears of the leader's swap within milliseconds of its commit: LISTEN on a
 * connection of its own. PostgreSQL delivers a NOTIFY issued inside the swap's transaction only
 * when that transaction commits, so a notice always means "the new token is durable".
 */
export class SwapListener {
  readonly #options: SwapListenerOptions;
  readonly #clock: Clock;
  #client: pg.Client | undefined;
  #retry: Timer | undefined;
  #stopped = false;

  constructor(options: SwapListenerOptions) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
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
      if (msg.channel !== SWAP_CHANNEL || msg.payload === undefined) return;
      let parsed: { schema?: unknown; clientId?: unknown; tokenId?: unknown };
      try {
        parsed = JSON.parse(msg.payload) as typeof parsed;
      } catch {
        return;
      }
      if (parsed.schema !== this.#options.schema || typeof parsed.clientId !== 'string' || typeof parsed.tokenId !== 'number') return;
      this.#options.onSwap({ clientId: parsed.clientId, tokenId: parsed.tokenId });
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
      await client.query(`LISTEN ${SWAP_CHANNEL}`);
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
