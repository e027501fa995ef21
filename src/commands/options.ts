import { InvalidArgumentError } from 'commander';
import { parseDuration } from '../config/duration.js';

/** commander parsers, so that a bad flag is a usage error (exit 2) naming the flag. */
export function durationOption(value: string): number {
  try {
    return parseDuration(value);
  } catch {
    throw new InvalidArgumentError('must be a duration such as 30s, 2m, 24h');
  }
}

export function listenOption(value: string): { host: string; port: number } {
  const match = /^(?:\[([0-9a-fA-F:]+)\]|([^:]+)):(\d{1,5})$/.exec(value);
  const port = match ? Number(match[3]) : NaN;
  if (!match || port > 65535) throw new InvalidArgumentError('must be HOST:PORT, e.g. 127.0.0.1:9471 ([::1]:9471 for IPv6; port 0 picks a free one)');
  return { host: match[1] ?? match[2] ?? '127.0.0.1', port };
}
