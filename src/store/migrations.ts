import type Database from 'better-sqlite3';
import { KeeperError } from '../errors.js';

/**
 * One forward step of the schema. `PRAGMA user_version` records the last step applied.
 * Steps are never edited once released: a database in the field may be at any of them.
 */
export interface Migration {
  readonly version: number;
  readonly description: string;
  readonly up: (db: Database.Database) => void;
}

/*
 * STRICT tables and CHECK constraints let the row mappers trust the union-typed columns
 * (mode, source, kind, result, status) instead of re-validating every read.
 */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'accounts, tokens, history events, lease, requests',
    up: (db) => {
      db.exec(`
        CREATE TABLE accounts (
          client_id TEXT PRIMARY KEY,
          name TEXT NOT NULL,
          mode TEXT NOT NULL CHECK (mode IN ('auto', 'renew-only', 'generate-only')),
          attention TEXT,
          attention_fingerprint TEXT,
          renew_refused_sources TEXT NOT NULL DEFAULT '[]',
          last_generate_at INTEGER,
          consecutive_failures INTEGER NOT NULL DEFAULT 0,
          last_success_at INTEGER,
          last_attempt_at INTEGER,
          last_result TEXT,
          next_action_at INTEGER
        ) STRICT;

        CREATE TABLE tokens (
          id INTEGER PRIMARY KEY,
          client_id TEXT NOT NULL REFERENCES accounts (client_id),
          access_token TEXT NOT NULL,
          source TEXT NOT NULL CHECK (source IN ('web', 'import', 'totp', 'renew')),
          obtained_at INTEGER NOT NULL,
          expires_at INTEGER NOT NULL,
          expiry_time TEXT NOT NULL,
          superseded_at INTEGER
        ) STRICT;
        -- Two "current" tokens for one account would make the published token ambiguous.
        CREATE UNIQUE INDEX tokens_one_current ON tokens (client_id) WHERE superseded_at IS NULL;
        CREATE INDEX tokens_by_client ON tokens (client_id, id);

        CREATE TABLE events (
          id INTEGER PRIMARY KEY,
          client_id TEXT,
          at INTEGER NOT NULL,
          kind TEXT NOT NULL CHECK (kind IN ('generate', 'renew', 'probe', 'import', 'sink',
            'attention', 'reset', 'recover', 'start', 'stop')),
          result TEXT NOT NULL CHECK (result IN ('pending', 'success', 'failure', 'abandoned', 'info')),
          error_kind TEXT,
          error_code TEXT,
          message TEXT,
          duration_ms INTEGER,
          expiry_before INTEGER,
          expiry_after INTEGER,
          detail TEXT
        ) STRICT;
        CREATE INDEX events_by_at ON events (at, id);
        CREATE INDEX events_by_client_at ON events (client_id, at, id);
        CREATE INDEX events_pending ON events (client_id) WHERE result = 'pending';

        -- A single row: whoever holds it is the one keeper allowed to call Dhan.
        CREATE TABLE lease (
          id INTEGER PRIMARY KEY CHECK (id = 1),
          pid INTEGER NOT NULL,
          host TEXT NOT NULL,
          acquired_at INTEGER NOT NULL,
          heartbeat_at INTEGER NOT NULL,
          ttl_ms INTEGER NOT NULL,
          expires_at INTEGER NOT NULL
        ) STRICT;

        CREATE TABLE requests (
          id INTEGER PRIMARY KEY,
          client_id TEXT NOT NULL,
          action TEXT NOT NULL CHECK (action IN ('renew', 'generate', 'reset', 'import')),
          created_at INTEGER NOT NULL,
          payload TEXT,
          status TEXT NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'taken', 'done', 'failed')),
          result TEXT
        ) STRICT;
        CREATE INDEX requests_queued ON requests (id) WHERE status = 'queued';
      `);
    },
  },
  {
    version: 2,
    description: 'attention as one typed value; learned renewal refusals by token kind',
    up: (db) => {
      // A stop for refused credentials keeps its fingerprint, so a config change still lifts it.
      // Account-wide stops from before were set by a policy that stopped on single answers
      // (DH-905 read as a bad request): they are lifted, and the current policy decides again.
      db.exec(`
        ALTER TABLE accounts ADD COLUMN attention_state TEXT;
        ALTER TABLE accounts ADD COLUMN renew_refused_kinds TEXT NOT NULL DEFAULT '[]';
        UPDATE accounts SET attention_state = json_object(
            'scope', 'generation', 'cause', 'credentials-refused', 'reason', attention,
            'wayOut', 'fix the PIN or TOTP secret in the config and restart, or run reset',
            'since', COALESCE(last_attempt_at, 0), 'credentialsFingerprint', attention_fingerprint)
          WHERE attention IS NOT NULL AND attention_fingerprint IS NOT NULL;
        UPDATE accounts SET renew_refused_kinds =
          (SELECT json_group_array('source:' || value) FROM json_each(renew_refused_sources));
        ALTER TABLE accounts DROP COLUMN attention;
        ALTER TABLE accounts DROP COLUMN attention_fingerprint;
        ALTER TABLE accounts DROP COLUMN renew_refused_sources;
      `);
    },
  },
  {
    version: 3,
    description: 'API-key login: consent mode and source, consent and notify history, consents, login requests',
    up: (db) => {
      widenChecks(db, [
        ['accounts', "('auto', 'renew-only', 'generate-only')", "('auto', 'renew-only', 'generate-only', 'consent')"],
        ['tokens', "('web', 'import', 'totp', 'renew')", "('web', 'import', 'totp', 'renew', 'consent')"],
        [
          'events',
          "'attention', 'reset', 'recover', 'start', 'stop')",
          "'attention', 'reset', 'recover', 'start', 'stop', 'consent', 'login-needed', 'notify')",
        ],
        [
          'requests',
          "('renew', 'generate', 'reset', 'import')",
          "('renew', 'generate', 'reset', 'import', 'consent-start', 'consent-finish')",
        ],
      ]);
      db.exec(`
        -- Every consent this keeper asked Dhan for. Only these may be finished by a tokenId, once,
        -- and only while young; the tokenId itself is kept as a hash, to recognise a replay.
        CREATE TABLE consents (
          id INTEGER PRIMARY KEY,
          client_id TEXT NOT NULL REFERENCES accounts (client_id),
          consent_app_id TEXT NOT NULL UNIQUE,
          login_url TEXT NOT NULL,
          started_at INTEGER NOT NULL,
          status TEXT NOT NULL CHECK (status IN ('open', 'consuming', 'done', 'failed')),
          token_id_hash TEXT UNIQUE,
          finished_at INTEGER,
          message TEXT
        ) STRICT;
        CREATE INDEX consents_open ON consents (started_at) WHERE status = 'open';

        -- A consent account waiting for a person's login: since when, why, until when it can wait.
        CREATE TABLE login_requests (
          client_id TEXT PRIMARY KEY REFERENCES accounts (client_id),
          since INTEGER NOT NULL,
          reason TEXT NOT NULL,
          deadline INTEGER
        ) STRICT;
      `);
    },
  },
  {
    version: 4,
    description: 'meta: the key check of tokens sealed at rest',
    up: (db) => {
      // Sealing the rows themselves needs the key, which a migration does not have: the
      // store seals plaintext rows when it is first opened with a key (see token-seal.ts).
      db.exec(`CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;`);
    },
  },
  {
    version: 5,
    description: 'accounts: the last TOTP step sent to Dhan, kept apart from the rolled-back lastGenerateAt',
    up: (db) => {
      // Existing rows start at null: the keeper then falls back to the step of last_generate_at,
      // which is what it relied on before this column.
      db.exec(`ALTER TABLE accounts ADD COLUMN last_totp_step INTEGER;`);
    },
  },
  {
    version: 6,
    description: 'accounts: the credential budget, every generation attempt since the last token',
    up: (db) => {
      // A JSON list on the account's row: read with it, written with it, and copied with it.
      db.exec(`ALTER TABLE accounts ADD COLUMN generation_attempts TEXT NOT NULL DEFAULT '[]';`);
    },
  },
];

/**
 * Lets a CHECK constraint admit more values, in place. SQLite cannot ALTER a CHECK; its documented
 * way for a change that every existing row still satisfies is to edit the stored CREATE TABLE
 * text (https://www.sqlite.org/lang_altertable.html#otheralter), which needs the connection's
 * defensive mode off for the length of the edit. Each edit must hit exactly its table.
 */
function widenChecks(
  db: Database.Database,
  edits: readonly (readonly [table: string, from: string, to: string])[],
): void {
  const version = db.pragma('schema_version', { simple: true }) as number;
  db.unsafeMode(true);
  try {
    db.pragma('writable_schema = ON');
    const update = db.prepare<[string, string, string, string]>(
      `UPDATE sqlite_schema SET sql = replace(sql, ?, ?) WHERE type = 'table' AND name = ? AND instr(sql, ?) > 0`,
    );
    for (const [table, from, to] of edits) {
      if (update.run(from, to, table, from).changes !== 1)
        throw new Error(`widening the CHECK of ${table}: its stored text is not as expected`);
    }
    db.pragma(`schema_version = ${version + 1}`);
  } finally {
    db.pragma('writable_schema = OFF');
    db.unsafeMode(false);
  }
}

export const SCHEMA_VERSION = MIGRATIONS.length;

export function schemaVersion(db: Database.Database): number {
  return db.pragma('user_version', { simple: true }) as number;
}

function assertOrdered(migrations: readonly Migration[]): void {
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) {
      throw new Error(`migration list is broken: entry ${i} has version ${m.version}, expected ${i + 1}`);
    }
  });
}

export function tooNewError(path: string, found: number, known: number): KeeperError {
  return new KeeperError(
    'store-too-new',
    `database at ${path} has schema version ${found}, but this keeper only knows up to version ${known}`,
    { hint: 'a newer dhan-token-keeper wrote it: upgrade this one, or point it at another database' },
  );
}

/**
 * Brings the database forward to the last migration. Each step runs in its own
 * BEGIN IMMEDIATE transaction together with its user_version bump, and re-reads the
 * version under that lock: two processes starting at once apply each step exactly once,
 * and a failing step leaves the database at the previous version.
 */
export function migrate(db: Database.Database, path: string, migrations: readonly Migration[] = MIGRATIONS): number {
  assertOrdered(migrations);
  const known = migrations.length;
  const found = schemaVersion(db);
  if (found > known) throw tooNewError(path, found, known);
  for (const m of migrations) {
    if (m.version <= found) continue;
    db.transaction(() => {
      const now = schemaVersion(db);
      if (now >= m.version) return;
      if (now > known) throw tooNewError(path, now, known);
      m.up(db);
      // user_version lives in the database header, so it commits or rolls back with the step.
      db.pragma(`user_version = ${m.version}`);
    }).immediate();
  }
  return schemaVersion(db);
}

/** A reader cannot migrate, so it accepts only the exact version it understands. */
export function checkReadable(db: Database.Database, path: string, known: number = SCHEMA_VERSION): void {
  const found = schemaVersion(db);
  if (found > known) throw tooNewError(path, found, known);
  if (found < known) {
    throw new KeeperError(
      'store-outdated',
      `database at ${path} has schema version ${found}, but this keeper needs version ${known}`,
      { hint: 'start the keeper (`dhan-token-keeper run`) once so that it upgrades the database' },
    );
  }
}
