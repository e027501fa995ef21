/**
 * The package's library surface, for bots and for tests that rehearse a setup in-process.
 * The daemon itself is the `dhan-token-keeper` CLI.
 */
export {
  TokenClient,
  TokenClientError,
  type TokenClientErrorCode,
  type TokenClientOptions,
  type TokenInfo,
  type WatchOptions,
} from './client/index.js';
export { startSimulator, loadSimAccounts } from './sim/index.js';
export type * from './sim/simulator-api.js';
export { loadConfig, type Config, type LoadedConfig } from './config/index.js';
export { VERSION } from './version.js';
