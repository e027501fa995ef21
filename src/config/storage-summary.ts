import { humanDuration } from '../time-format.js';
import type { Config } from './config.js';

/**
 * Where the keeper keeps its data, for check-config: the database (never its password, only
 * whether one is given and how), TLS, and for PostgreSQL the takeover bound.
 */
export function describeStorage(config: Pick<Config, 'storage' | 'ha'>): string {
  const history = `history kept ${humanDuration(config.storage.historyRetentionMs)}`;
  const pg = config.storage.postgres;
  if (pg === undefined) return `SQLite at ${config.storage.path} (${history})`;
  const { password, ssl } = pg.connection;
  const credentials =
    password !== undefined ? 'password from storage.passwordFile' : 'password from the URL, PGPASSWORD or ~/.pgpass';
  const tls =
    ssl === undefined
      ? 'TLS as the URL says'
      : `TLS${ssl.ca === undefined ? '' : ' with its own CA'}${ssl.cert === undefined ? '' : ' and a client certificate'}${ssl.rejectUnauthorized === false ? ', server certificate NOT checked' : ''}`;
  return `PostgreSQL at ${pg.location} (${history}), ${credentials}, ${tls}, a standby takes over within ${humanDuration(config.ha.takeoverAfterMs)}`;
}
