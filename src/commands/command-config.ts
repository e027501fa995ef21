import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { resolveConfigPath } from '../config/config-path.js';
import type { LoadedConfig, LoadOptions } from '../config/load.js';
import type { AccountConfig, Config } from '../config/config.js';
import type { AsyncStore } from '../store/contract.js';
import { openStorage } from '../store/open-storage.js';
import { ConfigError, UsageError } from '../errors.js';
import { credentialsEnv } from './credentials-fallback.js';

export interface ConfigOption {
  readonly config?: string;
}

/** Every command takes --config; one definition keeps the help text identical everywhere. */
export function withConfigOption(cmd: Command): Command {
  return cmd.option(
    '-c, --config <file>',
    'configuration file (default: $DHAN_TOKEN_KEEPER_CONFIG, else ./config.yaml)',
  );
}

export interface CommandLoadOptions extends LoadOptions {
  readonly quiet?: boolean;
  /** For the daemon: validate in a thread that ends afterwards (see loadConfigIsolated). */
  readonly isolated?: boolean;
}

/**
 * Loads and validates the config; warnings go to stderr so that stdout stays clean for scripts.
 * The loader is imported here rather than with the CLI, so that only a command that loads a
 * config pays for the schema, and the daemon not at all (it loads in a thread).
 */
export async function loadCommandConfig(opts: ConfigOption, options: CommandLoadOptions = {}): Promise<Config> {
  const { quiet, isolated, ...loadOptions } = options;
  const path = resolveConfigPath(opts.config, process.env);
  const credentials = loadOptions.secrets === 'skip' ? undefined : credentialsEnv(path, process.env);
  const env = credentials?.env ?? process.env;
  let loaded: LoadedConfig;
  try {
    loaded = isolated
      ? await (await import('../config/load-isolated.js')).loadConfigIsolated(path, env, loadOptions)
      : (await import('../config/load.js')).loadConfig(path, env, loadOptions);
  } catch (err) {
    if (err instanceof ConfigError && credentials?.hint !== undefined)
      throw new ConfigError([...err.problems, credentials.hint]);
    throw err;
  }
  if (!quiet) {
    if (credentials?.note !== undefined) process.stderr.write(`note: ${credentials.note}\n`);
    for (const warning of loaded.warnings) process.stderr.write(`warning: ${warning}\n`);
  }
  return loaded.config;
}

/**
 * For commands that read the store or hand work to the daemon: no secret is needed, so none is
 * read (under systemd they exist only inside the service, in ${CREDENTIALS_DIRECTORY}).
 */
export function loadConfigWithoutSecrets(opts: ConfigOption, storageKey: 'read' | 'skip' = 'read'): Promise<Config> {
  return loadCommandConfig(opts, { secrets: 'skip', storageKey });
}

export function findAccount(config: Config, clientIdOrName: string): AccountConfig {
  const account = config.accounts.find((a) => a.clientId === clientIdOrName || a.name === clientIdOrName);
  if (!account) {
    const known = config.accounts.map((a) => `${a.clientId} (${a.name})`).join(', ');
    throw new UsageError(`no account ${clientIdOrName} in ${config.sourcePath}; configured: ${known}`);
  }
  return account;
}

/**
 * Readers (status, token, history) open the database read-only so that they never block or
 * disturb a running daemon. Before the keeper ever ran there is no database: that is not an
 * error for a reader, it just has nothing to show.
 */
/** A reader of the store the config names; undefined when a SQLite file does not exist yet. */
export async function openStoreForReading(
  config: Config,
  tokens: 'needed' | 'hidden' = 'needed',
): Promise<AsyncStore | undefined> {
  if (config.storage.postgres === undefined && !existsSync(config.storage.path)) return undefined;
  // Without the key, commands that print no token still work on a sealed database.
  const withoutKey = tokens === 'hidden' ? 'hide-tokens' : 'refuse';
  return (await openStorage(config.storage, { readonly: true, withoutKey })).store;
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}
