import type { Command } from 'commander';
import { systemClock } from '../clock.js';
import type { AccountStatus, LeaderView } from '../account-status.js';
import { LEASE_TTL_MS } from '../keeper/lease.js';
import { accountStatuses } from '../keeper/status.js';
import { humanDuration, isoInZone } from '../time-format.js';
import type { AsyncStore } from '../store/contract.js';
import { SqliteAsyncStore } from '../store/sqlite-async-store.js';
import {
  loadConfigWithoutSecrets,
  openStoreForReading,
  printJson,
  withConfigOption,
  type ConfigOption,
} from './command-config.js';

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
    r.attention
      ? `ATTENTION: ${r.attention}`
      : r.loginNeeded
        ? `LOGIN NEEDED: ${r.loginNeeded}`
        : (r.lastResult ?? '-'),
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

/** Several keepers on PostgreSQL: which one leads (the one acting on Dhan), and since when. */
async function readLeader(
  store: AsyncStore | undefined,
  zone: string,
): Promise<{ line: string; view: LeaderView | null } | undefined> {
  if (store === undefined || store instanceof SqliteAsyncStore) return undefined;
  const { PostgresStore } = await import('../store/postgres/postgres-store.js');
  if (!(store instanceof PostgresStore)) return undefined;
  const leader = await store.leader();
  if (leader === undefined || leader.heartbeatAgeMs > LEASE_TTL_MS) {
    const last =
      leader === undefined
        ? 'no keeper has led on this database yet'
        : `the last leader, pid ${leader.pid} on ${leader.host}, has not confirmed for ${humanDuration(leader.heartbeatAgeMs)}`;
    return { line: `leader: NONE (${last})`, view: null };
  }
  const view = { host: leader.host, pid: leader.pid, since: isoInZone(leader.since, zone) };
  return { line: `leader: pid ${view.pid} on ${view.host} since ${view.since} (epoch ${leader.epoch})`, view };
}

export function registerStatus(program: Command): void {
  withConfigOption(
    program
      .command('status')
      .description('show every account: state, expiry, time left, last result (never a token)')
      .option('--json', 'a JSON array, one object per account'),
  ).action(async (opts: ConfigOption & { json?: boolean }) => {
    const config = await loadConfigWithoutSecrets(opts, 'skip');
    const store = await openStoreForReading(config, 'hidden');
    try {
      const leader = await readLeader(store, config.dhan.timezone);
      const rows = await accountStatuses(config, store, systemClock.now(), leader?.view);
      if (opts.json) printJson(rows);
      else process.stdout.write(`${leader === undefined ? '' : `${leader.line}\n`}${table(rows)}\n`);
    } finally {
      await store?.close();
    }
  });
}
