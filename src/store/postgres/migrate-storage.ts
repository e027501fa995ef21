import { createHash } from 'node:crypto';
import Database from 'better-sqlite3';
import pg from 'pg';
import type { ClientConfig } from 'pg';
import { KeeperError, UsageError } from '../../errors.js';
import { checkReadable } from '../migrations.js';
import { pgMigrate } from './migrations.js';
import { quoteIdent, redactUrl } from './postgres-store.js';
import { pgTypes } from './pg-types.js';

/*
 * Copies a SQLite database into PostgreSQL, row for row with the same ids, and proves the copy:
 * the same number of rows and the same checksum for every row, read back from the target.
 * Ids are kept because a sealed token is bound to its row id: a sealed database copies as is,
 * and the same key opens it on the other side.
 */

interface TableSpec {
  readonly name: string;
  readonly columns: readonly string[];
  /** The sequence that hands out this table's ids in PostgreSQL. */
  readonly sequence: string | undefined;
}

/** In dependency order: tokens, consents and login requests reference accounts. The lease is per installation, not copied. */
const TABLES: readonly TableSpec[] = [
  {
    name: 'accounts',
    columns: [
      'client_id',
      'name',
      'mode',
      'attention_state',
      'renew_refused_kinds',
      'last_generate_at',
      'last_totp_step',
      'generation_attempts',
      'consecutive_failures',
      'last_success_at',
      'last_attempt_at',
      'last_result',
      'next_action_at',
    ],
    sequence: undefined,
  },
  {
    name: 'tokens',
    columns: ['id', 'client_id', 'access_token', 'source', 'obtained_at', 'expires_at', 'expiry_time', 'superseded_at'],
    sequence: 'tokens_id_seq',
  },
  {
    name: 'consents',
    columns: [
      'id',
      'client_id',
      'consent_app_id',
      'login_url',
      'started_at',
      'status',
      'token_id_hash',
      'finished_at',
      'message',
    ],
    sequence: 'consents_id_seq',
  },
  { name: 'login_requests', columns: ['client_id', 'since', 'reason', 'deadline'], sequence: undefined },
  {
    name: 'events',
    columns: [
      'id',
      'client_id',
      'at',
      'kind',
      'result',
      'error_kind',
      'error_code',
      'message',
      'duration_ms',
      'expiry_before',
      'expiry_after',
      'detail',
    ],
    sequence: 'events_id_seq',
  },
  {
    name: 'requests',
    columns: ['id', 'client_id', 'action', 'created_at', 'payload', 'status', 'result'],
    sequence: 'requests_id_seq',
  },
  { name: 'meta', columns: ['key', 'value'], sequence: undefined },
];

export interface TableReport {
  readonly table: string;
  readonly source: number;
  readonly target: number;
  /** Keys (first column) of rows whose checksum differs, or that are missing on one side. */
  readonly mismatched: readonly string[];
}

export interface MigrateStorageOptions {
  readonly from: string;
  readonly to: ClientConfig & { readonly connectionString: string };
  readonly schema?: string | undefined;
  /** Replace what the target holds; without it a target with any row is refused. */
  readonly overwrite?: boolean;
  /** Now, epoch ms: a source whose lease is live at this moment is in use and refused. */
  readonly now?: number;
}

type Row = Record<string, unknown>;

const BATCH = 500;

function rowKey(spec: TableSpec, row: Row): string {
  return String(row[spec.columns[0]!]);
}

/** Numbers and strings alike on both sides: PostgreSQL's bigints come back as numbers here. */
function rowChecksum(spec: TableSpec, row: Row): string {
  const values = spec.columns.map((c) => {
    const v = row[c];
    return typeof v === 'bigint' ? Number(v) : (v ?? null);
  });
  return createHash('sha256').update(JSON.stringify(values)).digest('hex');
}

function checksums(spec: TableSpec, rows: readonly Row[]): Map<string, string> {
  return new Map(rows.map((r) => [rowKey(spec, r), rowChecksum(spec, r)]));
}

function openSource(path: string, now: number): Database.Database {
  let db: Database.Database;
  try {
    db = new Database(path, { readonly: true, fileMustExist: true });
  } catch (err) {
    throw new UsageError(`--from: cannot open ${path} as a SQLite database (${(err as Error).message})`);
  }
  try {
    checkReadable(db, path);
    const lease = db
      .prepare<[], { pid: number; host: string; expires_at: number }>(
        'SELECT pid, host, expires_at FROM lease WHERE id = 1',
      )
      .get();
    if (lease !== undefined && lease.expires_at > now) {
      throw new KeeperError('source-in-use', `a keeper (pid ${lease.pid} on ${lease.host}) is running on ${path}`, {
        hint: 'stop it first, so that no token changes during the copy',
      });
    }
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}

function readSource(db: Database.Database, spec: TableSpec): Row[] {
  const order = spec.columns[0]!;
  return db.prepare<[], Row>(`SELECT ${spec.columns.join(', ')} FROM ${spec.name} ORDER BY ${order}`).all();
}

async function readTarget(client: pg.Client, spec: TableSpec): Promise<Row[]> {
  const order = spec.columns[0]!;
  const r = await client.query<Row>(
    `SELECT ${spec.columns.join(', ')} FROM ${spec.name} ORDER BY ${order}${order === 'client_id' || order === 'key' ? ' COLLATE "C"' : ''}`,
  );
  return r.rows;
}

async function insertRows(client: pg.Client, spec: TableSpec, rows: readonly Row[]): Promise<void> {
  const width = spec.columns.length;
  for (let start = 0; start < rows.length; start += BATCH) {
    const batch = rows.slice(start, start + BATCH);
    const placeholders = batch
      .map((_, i) => `(${spec.columns.map((_c, j) => `$${i * width + j + 1}`).join(', ')})`)
      .join(', ');
    const values = batch.flatMap((r) => spec.columns.map((c) => r[c] ?? null));
    await client.query(`INSERT INTO ${spec.name} (${spec.columns.join(', ')}) VALUES ${placeholders}`, values);
  }
}

/** Compares every table's rows between the source and the target, by count and per-row checksum. */
export async function verifyCopy(source: Database.Database, target: pg.Client): Promise<TableReport[]> {
  const reports: TableReport[] = [];
  for (const spec of TABLES) {
    const here = checksums(spec, readSource(source, spec));
    const there = checksums(spec, await readTarget(target, spec));
    const mismatched = [...new Set([...here.keys(), ...there.keys()])].filter((k) => here.get(k) !== there.get(k));
    reports.push({ table: spec.name, source: here.size, target: there.size, mismatched });
  }
  return reports;
}

export async function connectTarget(to: ClientConfig, schema: string | undefined): Promise<pg.Client> {
  const client = new pg.Client({
    ...to,
    options: [to.options, schema === undefined ? '' : `-c search_path=${schema}`].filter(Boolean).join(' '),
    types: pgTypes,
  });
  await client.connect();
  return client;
}

export async function migrateStorage(options: MigrateStorageOptions): Promise<TableReport[]> {
  const source = openSource(options.from, options.now ?? Date.now());
  try {
    const target = await connectTarget(options.to, options.schema);
    try {
      // Creates the schema and brings it to the current version, like a keeper's first start
      // (without opening a store: a sealed target needs no key to be replaced).
      await pgMigrate(
        target,
        redactUrl(options.to.connectionString),
        options.schema === undefined ? undefined : quoteIdent(options.schema),
      );
      await target.query('BEGIN');
      try {
        // No keeper may start on the target half-way through the copy.
        await target.query(`LOCK TABLE ${TABLES.map((t) => t.name).join(', ')}, lease IN ACCESS EXCLUSIVE MODE`);
        const counts = await Promise.all(
          TABLES.map(
            async (t) => (await target.query<{ n: number }>(`SELECT count(*) AS n FROM ${t.name}`)).rows[0]!.n,
          ),
        );
        const held = counts.reduce((a, b) => a + b, 0);
        if (held > 0 && options.overwrite !== true) {
          throw new UsageError(`--to: ${redactUrl(options.to.connectionString)} already holds ${held} row(s)`, {
            hint: 'pass --overwrite to replace them (every token, history row and request there is lost)',
          });
        }
        if (held > 0) await target.query(`TRUNCATE ${TABLES.map((t) => t.name).join(', ')}, lease`);
        for (const spec of TABLES) {
          const rows = readSource(source, spec);
          await insertRows(target, spec, rows);
          if (spec.sequence !== undefined) {
            await target.query(
              `SELECT setval('${spec.sequence}', greatest((SELECT max(id) FROM ${spec.name}), 1), (SELECT count(*) > 0 FROM ${spec.name}))`,
            );
          }
        }
        await target.query('COMMIT');
      } catch (err) {
        await target.query('ROLLBACK').catch(() => undefined);
        throw err;
      }
      const reports = await verifyCopy(source, target);
      const bad = reports.filter((r) => r.source !== r.target || r.mismatched.length > 0);
      if (bad.length > 0) {
        throw new KeeperError(
          'migrate-verify-failed',
          `the copy differs from ${options.from}: ${bad.map((r) => `${r.table} (${r.source} rows here, ${r.target} there, ${r.mismatched.length} differing)`).join('; ')}`,
          { hint: 'run migrate-storage again with --overwrite; keep using the SQLite database meanwhile' },
        );
      }
      return reports;
    } finally {
      await target.end();
    }
  } finally {
    source.close();
  }
}
