import type { ClientBase } from 'pg';
import { KeeperError } from '../../errors.js';

/**
 * The PostgreSQL schema, one forward step at a time, like SQLite's (src/store/migrations.ts):
 * steps are never edited once released. `schema_migrations` records each step applied, in the
 * same transaction as the step, under a transaction-scoped advisory lock, so that keepers
 * starting together apply each step exactly once.
 */
export interface PgMigration {
  readonly version: number;
  readonly description: string;
  readonly sql: string;
}

export const PG_MIGRATIONS: readonly PgMigration[] = [
  {
    version: 1,
    description: 'accounts, tokens, history events, lease, requests, meta',
    // Epoch-ms times need bigint; JSON columns stay text so that both stores map rows alike.
    sql: `
      CREATE TABLE accounts (
        client_id text PRIMARY KEY,
        name text NOT NULL,
        mode text NOT NULL CHECK (mode IN ('auto', 'renew-only', 'generate-only')),
        attention_state text,
        renew_refused_kinds text NOT NULL DEFAULT '[]',
        last_generate_at bigint,
        consecutive_failures integer NOT NULL DEFAULT 0,
        last_success_at bigint,
        last_attempt_at bigint,
        last_result text,
        next_action_at bigint
      );

      -- Ids come from the sequence before the insert: a sealed token is bound to its row id.
      CREATE SEQUENCE tokens_id_seq;
      CREATE TABLE tokens (
        id bigint PRIMARY KEY,
        client_id text NOT NULL REFERENCES accounts (client_id),
        access_token text NOT NULL,
        source text NOT NULL CHECK (source IN ('web', 'import', 'totp', 'renew')),
        obtained_at bigint NOT NULL,
        expires_at bigint NOT NULL,
        expiry_time text NOT NULL,
        superseded_at bigint
      );
      ALTER SEQUENCE tokens_id_seq OWNED BY tokens.id;
      CREATE UNIQUE INDEX tokens_one_current ON tokens (client_id) WHERE superseded_at IS NULL;
      CREATE INDEX tokens_by_client ON tokens (client_id, id);

      CREATE TABLE events (
        id bigserial PRIMARY KEY,
        client_id text,
        at bigint NOT NULL,
        kind text NOT NULL CHECK (kind IN ('generate', 'renew', 'probe', 'import', 'sink',
          'attention', 'reset', 'recover', 'start', 'stop')),
        result text NOT NULL CHECK (result IN ('pending', 'success', 'failure', 'abandoned', 'info')),
        error_kind text,
        error_code text,
        message text,
        duration_ms bigint,
        expiry_before bigint,
        expiry_after bigint,
        detail text
      );
      CREATE INDEX events_by_at ON events (at, id);
      CREATE INDEX events_by_client_at ON events (client_id, at, id);
      CREATE INDEX events_pending ON events (client_id) WHERE result = 'pending';

      CREATE TABLE lease (
        id integer PRIMARY KEY CHECK (id = 1),
        pid integer NOT NULL,
        host text NOT NULL,
        acquired_at bigint NOT NULL,
        heartbeat_at bigint NOT NULL,
        ttl_ms bigint NOT NULL,
        expires_at bigint NOT NULL
      );

      CREATE SEQUENCE requests_id_seq;
      CREATE TABLE requests (
        id bigint PRIMARY KEY,
        client_id text NOT NULL,
        action text NOT NULL CHECK (action IN ('renew', 'generate', 'reset', 'import')),
        created_at bigint NOT NULL,
        payload text,
        status text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'taken', 'done', 'failed')),
        result text
      );
      ALTER SEQUENCE requests_id_seq OWNED BY requests.id;
      CREATE INDEX requests_queued ON requests (id) WHERE status = 'queued';

      CREATE TABLE meta (key text PRIMARY KEY, value text NOT NULL);
    `,
  },
  {
    version: 2,
    description: 'leadership: the epoch that fences every swap',
    // One row, bumped on every takeover. A swap commits only under the epoch it was started
    // with, so a leader that lost its lock can never commit a token afterwards.
    sql: `
      CREATE TABLE leadership (
        id integer PRIMARY KEY CHECK (id = 1),
        epoch bigint NOT NULL,
        host text NOT NULL,
        pid integer NOT NULL,
        since bigint NOT NULL,
        -- The server's clock (never a keeper's: machines disagree), renewed by every confirmation.
        heartbeat_at bigint NOT NULL,
        -- The lock session's server pid: a standby ends it when the heartbeat is stale
        -- (a paused leader keeps its TCP session, and so its lock, alive).
        backend_pid integer NOT NULL
      );
    `,
  },
  {
    version: 3,
    description: 'API-key login: consent mode and source, consent and notify history, consents, login requests',
    // The same step as SQLite's migration 3. The CHECKs carry PostgreSQL's default names
    // (table_column_check), given by migration 1.
    sql: `
      ALTER TABLE accounts DROP CONSTRAINT accounts_mode_check,
        ADD CONSTRAINT accounts_mode_check CHECK (mode IN ('auto', 'renew-only', 'generate-only', 'consent'));
      ALTER TABLE tokens DROP CONSTRAINT tokens_source_check,
        ADD CONSTRAINT tokens_source_check CHECK (source IN ('web', 'import', 'totp', 'renew', 'consent'));
      ALTER TABLE events DROP CONSTRAINT events_kind_check,
        ADD CONSTRAINT events_kind_check CHECK (kind IN ('generate', 'renew', 'probe', 'import', 'sink',
          'attention', 'reset', 'recover', 'start', 'stop', 'consent', 'login-needed', 'notify'));
      ALTER TABLE requests DROP CONSTRAINT requests_action_check,
        ADD CONSTRAINT requests_action_check CHECK (action IN ('renew', 'generate', 'reset', 'import',
          'consent-start', 'consent-finish'));

      -- Every consent a keeper asked Dhan for. Only these may be finished by a tokenId, once,
      -- and only while young; the tokenId itself is kept as a hash, to recognise a replay.
      CREATE TABLE consents (
        id bigserial PRIMARY KEY,
        client_id text NOT NULL REFERENCES accounts (client_id),
        consent_app_id text NOT NULL UNIQUE,
        login_url text NOT NULL,
        started_at bigint NOT NULL,
        status text NOT NULL CHECK (status IN ('open', 'consuming', 'done', 'failed')),
        token_id_hash text UNIQUE,
        finished_at bigint,
        message text
      );
      CREATE INDEX consents_open ON consents (started_at) WHERE status = 'open';

      -- A consent account waiting for a person's login: since when, why, until when it can wait.
      CREATE TABLE login_requests (
        client_id text PRIMARY KEY REFERENCES accounts (client_id),
        since bigint NOT NULL,
        reason text NOT NULL,
        deadline bigint
      );
    `,
  },
  {
    version: 4,
    description: 'accounts: the last TOTP step sent to Dhan, kept apart from the rolled-back lastGenerateAt',
    // The same step as SQLite's migration 5; existing rows start at null (the keeper then uses
    // the step of last_generate_at, as before this column).
    sql: `ALTER TABLE accounts ADD COLUMN last_totp_step bigint;`,
  },
  {
    version: 5,
    description: 'accounts: the credential budget, every generation attempt since the last token',
    // The same step as SQLite's migration 6.
    sql: `ALTER TABLE accounts ADD COLUMN generation_attempts text NOT NULL DEFAULT '[]';`,
  },
];

export const PG_SCHEMA_VERSION = PG_MIGRATIONS.length;

/** Any constant works, as long as it is ours: it serialises migrations across keepers. */
const MIGRATION_LOCK = 0x64746b01;

export async function pgSchemaVersion(client: ClientBase): Promise<number> {
  const exists = await client.query<{ t: string | null }>(`SELECT to_regclass('schema_migrations')::text AS t`);
  if (exists.rows[0]?.t === null || exists.rows[0]?.t === undefined) return 0;
  const r = await client.query<{ v: number | null }>(`SELECT max(version) AS v FROM schema_migrations`);
  return r.rows[0]?.v ?? 0;
}

function tooNew(location: string, found: number, known: number): KeeperError {
  return new KeeperError(
    'store-too-new',
    `database at ${location} has schema version ${found}, but this keeper only knows up to version ${known}`,
    {
      hint: 'a newer dhan-token-keeper wrote it: upgrade this one, or point it at another database',
    },
  );
}

/** `schema`, when given, is a quoted identifier: it is created (under the lock) if missing. */
export async function pgMigrate(
  client: ClientBase,
  location: string,
  schema?: string,
  migrations: readonly PgMigration[] = PG_MIGRATIONS,
): Promise<number> {
  const known = migrations.length;
  for (const m of migrations) {
    await client.query('BEGIN');
    try {
      await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
      // IF NOT EXISTS alone still races: two keepers may both find it missing.
      if (schema !== undefined) await client.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
      await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
        version integer PRIMARY KEY, description text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
      const now = await pgSchemaVersion(client);
      if (now > known) throw tooNew(location, now, known);
      if (now < m.version) {
        await client.query(m.sql);
        await client.query('INSERT INTO schema_migrations (version, description) VALUES ($1, $2)', [
          m.version,
          m.description,
        ]);
      }
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK');
      throw err;
    }
  }
  return pgSchemaVersion(client);
}

export async function pgCheckReadable(
  client: ClientBase,
  location: string,
  known: number = PG_SCHEMA_VERSION,
): Promise<void> {
  const found = await pgSchemaVersion(client);
  if (found > known) throw tooNew(location, found, known);
  if (found < known) {
    throw new KeeperError(
      'store-outdated',
      `database at ${location} has schema version ${found}, but this keeper needs version ${known}`,
      {
        hint: 'start the keeper (`dhan-token-keeper run`) once so that it upgrades the database',
      },
    );
  }
}
