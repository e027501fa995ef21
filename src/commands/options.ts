import { InvalidArgumentError } from 'commander';
import { parseDuration } from '../config/duration.js';
import { parseListenAddress } from '../config/listen-address.js';

/** commander parsers, so that a bad flag is a usage error (exit 2) naming the flag. */
export function durationOption(value: string): number {
  try {
    return parseDuration(value);
  } catch {
    throw new InvalidArgumentError('must be a duration such as 30s, 2m, 24h');
  }
}

export function listenOption(value: string): { host: string; port: number } {
  // The same rule as server.listen in the config, so a flag and a key never disagree.
  const parsed = parseListenAddress(value);
  if (parsed === undefined)
    throw new InvalidArgumentError(
      'must be HOST:PORT, e.g. 127.0.0.1:9471 ([::1]:9471 for IPv6; port 0 picks a free one)',
    );
  return parsed;
}
