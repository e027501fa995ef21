import type { Server } from 'node:http';
import { isIP } from 'node:net';
import { KeeperError } from '../errors.js';
import { isLoopbackHost } from '../loopback.js';
import type { ServerConfig } from '../config/config.js';

/**
 * Without API keys the token API reads nothing (every request is 401), but /metrics and
 * /readyz still name the accounts: an open bind without keys is almost always a mistake
 * in a config meant for one machine, so we stop before listening.
 */
export function assertSafeBind(config: ServerConfig): void {
  const { host, port } = config.listen;
  if (config.apiKeys.length === 0 && !isLoopbackHost(host)) {
    throw new KeeperError(
      'server-unsafe-bind',
      `refusing to listen on ${hostPort(host, port)}: it is reachable from other machines and no API key is configured`,
      { hint: 'set server.listen to 127.0.0.1:PORT, or add server.apiKeys (and put a TLS proxy in front)' },
    );
  }
}

const LISTEN_BACKLOG = 4096;

export function hostPort(host: string, port: number): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Resolves once listening; turns the socket errors people actually hit into KeeperErrors that name the address. */
export function listen(server: Server, host: string, port: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      server.off('listening', onListening);
      reject(listenError(err, hostPort(host, port)));
    };
    const onListening = (): void => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    // Node's default backlog (511) overflows when a local flood reconnects in a burst, and the
    // kernel then drops a bot's SYN for a 1-s retransmit; the kernel caps this at somaxconn.
    server.listen({ port, host, backlog: LISTEN_BACKLOG });
  });
}

function listenError(err: NodeJS.ErrnoException, address: string): KeeperError {
  switch (err.code) {
    case 'EADDRINUSE':
      return new KeeperError('server-address-in-use', `cannot listen on ${address}: the address is already in use`, {
        hint: 'another keeper (or another program) holds the port — stop it or change server.listen',
        cause: err,
      });
    case 'EACCES':
      return new KeeperError('server-listen-denied', `cannot listen on ${address}: permission denied`, {
        hint: 'ports below 1024 need privileges — use a higher port in server.listen',
        cause: err,
      });
    case 'EADDRNOTAVAIL':
    case 'ENOTFOUND':
      return new KeeperError(
        'server-address-unavailable',
        `cannot listen on ${address}: no such address on this machine`,
        {
          hint: 'set server.listen to an address of this machine, like 127.0.0.1:9470',
          cause: err,
        },
      );
    default:
      return new KeeperError('server-listen-failed', `cannot listen on ${address}: ${err.code ?? err.message}`, {
        cause: err,
      });
  }
}
