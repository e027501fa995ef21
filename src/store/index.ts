export { Store, DEFAULT_BUSY_TIMEOUT_MS } from './store.js';
export type { StoreOptions, StoreSettings, NewAccount, EventQuery, LeaseResult, RekeyResult } from './store.js';
export { MIGRATIONS, SCHEMA_VERSION } from './migrations.js';
export type { Migration } from './migrations.js';
export type * from './records.js';
export type * from './consents.js';
