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
  /** When it last went idle (performance.now()). */
  idleSince: number;
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
  /**
   * Every connection held. The one to drop is found by walking this, only when the server is
   * full: a set of idle strangers kept in order cost a delete and an add per stranger's request
   * (every /healthz and scrape), and V8's ordered hash tables, rebuilt as such a set churns,
   * link each old table to its successor, so under load the tables were carried into the old
   * generation one after another and brought full collections.
   */
  private readonly connections = new Map<Socket, Connection>();

  constructor(private readonly options: ConnectionGuardOptions) {}

  attach(server: Server): void {
    server.on('connection', (socket: Socket) => this.admit(socket));
  }

  get size(): number {
    return this.connections.size;
  }

  /**
   * A request arrived on this socket: it is not idle while it is being answered. Its idle timer
   * is left to run: when it fires it finds the connection busy, or idle for less than the
   * limit, and does nothing or waits out the rest (cheaper than a new timer per request).
   */
  begin(socket: Socket): void {
    const connection = this.connections.get(socket);
    if (connection) connection.busy++;
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
    const connection: Connection = { trusted: false, busy: 0, idleSince: 0, timer: undefined };
    this.connections.set(socket, connection);
    this.idle(socket, connection);
    socket.once('close', () => {
      this.disarm(connection);
      this.connections.delete(socket);
    });
  }

  private idle(socket: Socket, connection: Connection): void {
    connection.idleSince = performance.now();
    if (connection.timer === undefined) this.arm(socket, connection, this.options.strangerIdleMs);
  }

  private arm(socket: Socket, connection: Connection, ms: number): void {
    connection.timer = setTimeout(() => {
      connection.timer = undefined;
      // Busy or trusted: idle() arms it again if the connection ever idles as a stranger.
      if (connection.busy !== 0 || connection.trusted) return;
      const left = connection.idleSince + this.options.strangerIdleMs - performance.now();
      if (left > 0) this.arm(socket, connection, left);
      else socket.destroy();
    }, ms);
    connection.timer.unref();
  }

  private disarm(connection: Connection): void {
    if (connection.timer !== undefined) clearTimeout(connection.timer);
    connection.timer = undefined;
  }

  /** Drops the stranger idle longest; none when every connection is trusted or busy. */
  private evictOne(): boolean {
    let oldest: [Socket, Connection] | undefined;
    for (const entry of this.connections) {
      const connection = entry[1];
      if (connection.trusted || connection.busy !== 0) continue;
      if (oldest === undefined || connection.idleSince < oldest[1].idleSince) oldest = entry;
    }
    if (oldest === undefined) return false;
    const [socket, connection] = oldest;
    this.disarm(connection);
    this.connections.delete(socket);
    socket.destroy();
    this.options.onShed?.('evicted');
    return true;
  }
}
