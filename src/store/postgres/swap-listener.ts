import type { ClientConfig } from 'pg';
import type { Clock } from '../../clock.js';
import { NoticeListener } from './notice-listener.js';

/** The channel every swap is announced on; the payload names the schema, never the token. */
export const SWAP_CHANNEL = 'dhan_token_keeper_swaps';

export interface SwapNotice {
  readonly clientId: string;
  readonly tokenId: number;
}

export interface SwapListenerOptions {
  readonly connection: ClientConfig;
  /**
   * Only swaps in this schema (keepers of other installations may share the database);
   * undefined: the schema the server's search_path gives, as for a store opened without one.
   */
  readonly schema: string | undefined;
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
 * How a standby hears of the leader's swap within milliseconds of its commit: `saveToken`
 * notifies inside the swap's transaction, so a notice always means "the new token is durable".
 */
export class SwapListener {
  readonly #listener: NoticeListener;

  constructor(options: SwapListenerOptions) {
    this.#listener = new NoticeListener({
      connection: options.connection,
      channel: SWAP_CHANNEL,
      schema: options.schema,
      onNotice: (payload, schema) => {
        let parsed: { schema?: unknown; clientId?: unknown; tokenId?: unknown };
        try {
          parsed = JSON.parse(payload) as typeof parsed;
        } catch {
          return;
        }
        if (parsed.schema !== schema || typeof parsed.clientId !== 'string' || typeof parsed.tokenId !== 'number')
          return;
        options.onSwap({ clientId: parsed.clientId, tokenId: parsed.tokenId });
      },
      onResync: options.onResync,
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
