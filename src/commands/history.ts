import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import type { HistoryEvent } from '../store/records.js';
import { isoInZone } from '../time-format.js';
import {
  findAccount,
  loadConfigWithoutSecrets,
  openStoreForReading,
  printJson,
  withConfigOption,
  type ConfigOption,
} from './command-config.js';

// Far more than history keeps in 90 days; and SQLite's LIMIT is a signed 64-bit integer, which
// a JavaScript number past 2^53 does not round-trip to ("datatype mismatch").
const MAX_LIMIT = 1_000_000;

function limitOption(value: string): number {
  const n = /^\d{1,7}$/.test(value.trim()) ? Number(value) : Number.NaN;
  if (!Number.isInteger(n) || n < 1 || n > MAX_LIMIT)
    throw new InvalidArgumentError(`must be a whole number from 1 to ${MAX_LIMIT}`);
  return n;
}

function line(e: HistoryEvent, zone: string): string {
  const parts = [isoInZone(e.at, zone), e.clientId ?? '-', e.kind, e.result];
  if (e.errorKind) parts.push(`[${e.errorKind}${e.errorCode ? ` ${e.errorCode}` : ''}]`);
  if (e.durationMs !== null) parts.push(`${e.durationMs}ms`);
  if (e.message) parts.push(e.message);
  return parts.join('  ');
}

export function registerHistory(program: Command): void {
  withConfigOption(
    program
      .command('history')
      .description('every attempt and event, newest first')
      .option('--client <id>', 'only this client id (or account name)')
      .option('--limit <n>', 'at most this many events', limitOption, 50)
      .option('--json', 'a JSON array of events, newest first'),
  ).action(async (opts: ConfigOption & { client?: string; limit: number; json?: boolean }) => {
    const config = await loadConfigWithoutSecrets(opts, 'skip');
    const clientId = opts.client === undefined ? undefined : findAccount(config, opts.client).clientId;
    const store = await openStoreForReading(config, 'hidden');
    try {
      const events = store
        ? await store.listEvents({ ...(clientId === undefined ? {} : { clientId }), limit: opts.limit })
        : [];
      if (opts.json) printJson(events);
      else if (events.length === 0) process.stdout.write('no history yet\n');
      else process.stdout.write(`${events.map((e) => line(e, config.dhan.timezone)).join('\n')}\n`);
    } finally {
      await store?.close();
    }
  });
}
