import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import type { HistoryEvent } from '../store/records.js';
import { isoInZone } from '../time-format.js';
import { findAccount, loadConfigWithoutSecrets, openStoreForReading, printJson, withConfigOption, type ConfigOption } from './command-config.js';

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('must be a positive whole number');
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
      .option('--limit <n>', 'at most this many events', positiveInt, 50)
      .option('--json', 'a JSON array of events, newest first'),
  ).action((opts: ConfigOption & { client?: string; limit: number; json?: boolean }) => {
    const config = loadConfigWithoutSecrets(opts, 'skip');
    const clientId = opts.client === undefined ? undefined : findAccount(config, opts.client).clientId;
    const store = openStoreForReading(config, 'hidden');
    try {
      const events = store ? store.listEvents({ ...(clientId === undefined ? {} : { clientId }), limit: opts.limit }) : [];
      if (opts.json) printJson(events);
      else if (events.length === 0) process.stdout.write('no history yet\n');
      else process.stdout.write(`${events.map((e) => line(e, config.dhan.timezone)).join('\n')}\n`);
    } finally {
      store?.close();
    }
  });
}
