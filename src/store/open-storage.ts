import type { ClientConfig } from 'pg';
import type { StorageConfig } from '../config/config.js';
import { storageKey } from '../config/storage-key.js';
import { pgClientConfig } from './postgres/connection.js';
import type { PostgresStore } from './postgres/postgres-store.js';
import { SqliteAsyncStore } from './sqlite-async-store.js';
import { Store } from './store.js';

/** The opened store, and what each kind's callers need beside it. */
export type OpenedStorage =
  | {
      readonly kind: 'sqlite';
      readonly store: SqliteAsyncStore;
      /** The synchronous store underneath (its file, for the request watch and tests). */
      readonly sqlite: Store;
    }
  | {
      readonly kind: 'postgres';
      readonly store: PostgresStore;
      /**
       * node-postgres settings for the connections a keeper opens beside the store's pool
       * (leadership lock, swap and request listeners). Holds the password: never print it.
       */
      readonly connection: ClientConfig & { readonly connectionString: string };
      readonly schema: string | undefined;
    };

export interface OpenStorageOptions {
  /** For CLI readers: never creates, migrates or writes anything. */
  readonly readonly?: boolean;
  /** See StoreOptions.withoutKey: a reader that prints no token may open a sealed database without the key. */
  readonly withoutKey?: 'refuse' | 'hide-tokens';
}

/**
 * Opens the store the config names: PostgreSQL when storage.url is set, else the SQLite file at
 * storage.path, with the key that seals stored tokens (when the config has one).
 */
export async function openStorage(storage: StorageConfig, options: OpenStorageOptions = {}): Promise<OpenedStorage> {
  const key = storageKey(storage);
  const { readonly = false, withoutKey = 'refuse' } = options;
  if (storage.postgres === undefined) {
    const sqlite = Store.open(storage.path, { readonly, key, withoutKey });
    return { kind: 'sqlite', store: new SqliteAsyncStore(sqlite), sqlite };
  }
  const connection = pgClientConfig(storage.postgres.connection);
  const { schema } = storage.postgres;
  // node-postgres and the PostgreSQL store load only for a PostgreSQL config: a SQLite keeper
  // never holds them in memory.
  const { PostgresStore } = await import('./postgres/postgres-store.js');
  const store = await PostgresStore.open({ connection, schema, readonly, key, withoutKey });
  return { kind: 'postgres', store, connection, schema };
}
