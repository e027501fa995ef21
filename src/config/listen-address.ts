import { isIP } from 'node:net';

const HOSTNAME = /^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*$/;

/**
 * `host:port` or `[v6]:port`; the host comes back without brackets, as `server.listen()` wants
 * it, or undefined when the text is neither. One rule for `server.listen` and the `--listen`
 * flag, kept apart from the config schema so that a flag parser does not load it.
 */
export function parseListenAddress(value: string): { host: string; port: number } | undefined {
  const trimmed = value.trim();
  const match = /^\[([^\]]+)\]:(\d{1,5})$/.exec(trimmed) ?? /^([^:[\]]+):(\d{1,5})$/.exec(trimmed);
  const host = match?.[1];
  const port = Number(match?.[2]);
  const hostOk =
    host !== undefined && (trimmed.startsWith('[') ? isIP(host) === 6 : isIP(host) === 4 || HOSTNAME.test(host));
  return hostOk && port >= 0 && port <= 65535 ? { host, port } : undefined;
}
