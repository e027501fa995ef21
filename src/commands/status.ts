import type { Command } from 'commander';
import { systemClock } from '../clock.js';
import type { AccountStatus } from '../account-status.js';
import { accountStatuses } from '../keeper/status.js';
import { humanDuration } from '../time-format.js';
import { loadConfigWithoutSecrets, openStoreForReading, printJson, withConfigOption, type ConfigOption } from './command-config.js';

function table(rows: readonly AccountStatus[]): string {
  const header = ['CLIENT', 'NAME', 'STATE', 'EXPIRES', 'LEFT', 'SOURCE', 'NEXT ACTION', 'LAST RESULT'];
  const body = rows.map((r) => [
    r.clientId,
    r.name,
    r.state,
    r.expiresAt ?? '-',
    r.secondsLeft === null ? '-' : humanDuration(r.secondsLeft * 1000),
    r.source ?? '-',
    r.nextActionAt ?? '-',
    r.attention ? `ATTENTION: ${r.attention}` : r.loginNeeded ? `LOGIN NEEDED: ${r.loginNeeded}` : (r.lastResult ?? '-'),
  ]);
  // The daily fresh token's next moment, only where renewal.refreshAt is configured.
  if (rows.some((r) => r.nextRefreshAt !== null)) {
    header.splice(7, 0, 'REFRESH AT');
    rows.forEach((r, i) => body[i]?.splice(7, 0, r.nextRefreshAt ?? '-'));
  }
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => (row[i] ?? '').length)));
  return [header, ...body]
    .map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  '))
    .join('\n');
}

export function registerStatus(program: Command): void {
  withConfigOption(
    program
      .command('status')
      .description('show every account: state, expiry, time left, last result (never a token)')
      .option('--json', 'a JSON array, one object per account'),
  ).action((opts: ConfigOption & { json?: boolean }) => {
    const config = loadConfigWithoutSecrets(opts, 'skip');
    const store = openStoreForReading(config, 'hidden');
    try {
      const rows = accountStatuses(config, store, systemClock.now());
      if (opts.json) printJson(rows);
      else process.stdout.write(`${table(rows)}\n`);
    } finally {
      store?.close();
    }
  });
}
