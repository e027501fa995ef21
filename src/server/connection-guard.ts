import type { Server } from 'node:http';
import type { Socket } from 'node:net';

export interface ConnectionGuardOptions {
  /** Sockets held at once; bounds file descriptors. */
  readonly max: number;
  /** How long a connection that has not presented a valid key may sit without a request in flight. */
  readonly strangerIdleMs: number;
  /** Called when a connection is dropped to make room or refused; must not throw. */
  readonly onShed?: (why: 'evicted' | 'refused') => void;
}

interface Connection {
  /** Has carried at least one request with a valid API key. */
  trusted: boolean;
  /** Requests being answered right now (pipelining makes more than one possible). */
  busy: number;
  timer: NodeJS.Timeout | undefined;
}

/**
 * Keeps strangers from starving the bots. Node's own `maxConnections` refuses the newest
 * connection once full, so a local process holding 1,024 idle or half-sent connections (no
 * key needed) shut the port for everyone, health checks and Prometheus included. Here a full
 * server instead drops the connection that has been idle longest among those that never
 * presented a valid key, and such connections may idle only briefly. A connection that has
 * carried a valid key, or that is being answered, is never dropped to make room: a bot's
 * keep-alive socket and its parked long-poll survive any flood. A new connection (a bot's
 * first, a health check, a scrape) sends its request at once, so it is answered long before
 * the flood's churn could reach it in the eviction order.
 *
 * Real timers on purpose: these bound socket I/O, not the keeper's logic.
 */
export class ConnectionGuard {
  private readonly connections = new Map<Socket, Connection>();
  /** Idle strangers, oldest idle first (a Set keeps insertion order). */
  private readonly idleStrangers = new Set<Socket>();

  constructor(private readonly options: ConnectionGuardOptions) {}

  attach(server: Server): void {
    server.on('connection', (socket: Socket) => this.admit(socket));
  }

  get size(): number {
    return this.connections.size;
  }

  /** A request arrived on this socket: it is not idle while it is being answered. */
  begin(socket: Socket): void {
    const connection = this.connections.get(socket);
    if (!connection) return;
    connection.busy++;
    this.idleStrangers.delete(socket);
    this.disarm(connection);
  }

  /** Its answer is done; `trusted` when the request carried a valid API key. */
  end(socket: Socket, trusted: boolean): void {
    const connection = this.connections.get(socket);
    if (!connection) return;
    connection.busy = Math.max(0, connection.busy - 1);
    if (trusted) connection.trusted = true;
    if (connection.busy === 0 && !connection.trusted) this.idle(socket, connection);
  }

  private admit(socket: Socket): void {
    if (this.connections.size >= this.options.max && !this.evictOne()) {
      socket.destroy();
      this.options.onShed?.('refused');
      return;
    }
    const connection: Connection = { trusted: false, busy: 0, timer: undefined };
    this.connections.set(socket, connection);
    this.idle(socket, connection);
    socket.once('close', () => {
      this.disarm(connection);
      this.connections.delete(socket);
      this.idleStrangers.delete(socket);
    });
  }

  private idle(socket: Socket, connection: Connection): void {
    this.idleStrangers.delete(socket);
    this.idleStrangers.add(socket);
    this.disarm(connection);
    connection.timer = setTimeout(() => {
      if (connection.busy === 0 && !connection.trusted) socket.destroy();
    }, this.options.strangerIdleMs);
    connection.timer.unref();
  }

  private disarm(connection: Connection): void {
    if (connection.timer !== undefined) clearTimeout(connection.timer);
    connection.timer = undefined;
  }

  private evictOne(): boolean {
    const oldest = this.idleStrangers.values().next();
    if (oldest.done === true) return false;
    const socket = oldest.value;
    const connection = this.connections.get(socket);
    if (connection) this.disarm(connection);
    this.idleStrangers.delete(socket);
    this.connections.delete(socket);
    socket.destroy();
    this.options.onShed?.('evicted');
    return true;
  }
}
