export { CONFIG_ENV, resolveConfigPath } from './config-path.js';
export { formatDuration, parseDuration, parseDurationOrShare } from './duration.js';
export { loadConfig, type LoadedConfig, type LoadOptions } from './load.js';
export type * from './config.js';
export { listenAddress } from './values.js';
