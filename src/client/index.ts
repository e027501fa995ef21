export { TokenClient, type TokenClientOptions, type WatchOptions } from './token-client.js';
export { TokenClientError, type TokenClientErrorCode } from './errors.js';
export type { TokenInfo } from './token-info.js';
