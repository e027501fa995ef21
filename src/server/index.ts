export { startServer } from './server.js';
export { tokenFingerprint as fingerprint } from '../token-fingerprint.js';
export { isLoopbackHost } from '../loopback.js';
export { MAX_WAIT_SECONDS } from './query.js';
export type { RunningServer, ServerOptions, TokenProvider, TokenResponseBody } from './server-api.js';
