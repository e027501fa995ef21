import { statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import { InputTooLargeError, readFileBounded } from '../bounded-read.js';
import { duplicateKeys } from './yaml-keys.js';
import { fastParseYaml } from './fast-yaml.js';
import { ConfigError } from '../errors.js';
import { Problems } from './problems.js';
import { prepareTree } from './env.js';
import { describeFsError, looseModeWarning } from './files.js';
import { inlineSecretKeys } from './inline-secrets.js';
import { messageFor, problemsOf } from './issues.js';
import { configSchema, toConfig } from './schema.js';
import type { Config } from './config.js';
import {
  blankSecrets,
  withoutStorageKey,
  withPlaceholderSecrets,
  withReachablePasswordFile,
} from './without-secrets.js';

export interface LoadOptions {
  /**
   * 'skip' for commands that never use a secret (see without-secrets.ts): secret keys are not
   * interpolated or read, and come back blank. The database's password and TLS files are read
   * all the same (the command reads the store), a password file only when it is reachable.
   */
  readonly secrets?: 'read' | 'skip';
  /**
   * 'skip' for commands that never read a token's text (status, history): the key that seals
   * stored tokens is not read, and `storage.encryptionKey` comes back undefined. Default 'read',
   * even when other secrets are skipped: `token` and the commands handed to the daemon need it.
   */
  readonly storageKey?: 'read' | 'skip';
}

export interface LoadedConfig {
  readonly config: Config;
  /** Things worth telling the user that do not stop the keeper (loose file modes, risky choices). */
  readonly warnings: string[];
}

/**
 * Reads, interpolates and validates a config file. Throws a ConfigError listing every
 * problem at once; never puts a secret value into an error or a warning.
 */
export function loadConfig(
  path: string,
  env: NodeJS.ProcessEnv = process.env,
  options: LoadOptions = {},
): LoadedConfig {
  const sourcePath = resolve(path);
  let text: string;
  try {
    text = readFileBounded(sourcePath, MAX_CONFIG_BYTES);
  } catch (err) {
    if (err instanceof InputTooLargeError) {
      throw new ConfigError([
        `${sourcePath}: larger than ${MAX_CONFIG_BYTES / 1024 / 1024} MiB, which no keeper config needs — is it the right file?`,
      ]);
    }
    throw new ConfigError([
      `${describeFsError(sourcePath, err)} — pass --config FILE or set DHAN_TOKEN_KEEPER_CONFIG (config.example.yaml shows every key)`,
    ]);
  }
  const problems = new Problems();
  const unresolved = new Set<string>();
  const skipSecrets = options.secrets === 'skip';
  const parsedYaml = parseYaml(sourcePath, text);
  const withKey = options.storageKey === 'skip' ? withoutStorageKey(parsedYaml) : parsedYaml;
  const raw = skipSecrets ? withReachablePasswordFile(withKey, env, dirname(sourcePath)) : withKey;
  // Only a config that holds a secret itself must be private; telling someone to chmod 600 the
  // systemd layout's 0640 config (references only) would lock the service user out.
  const inline = inlineSecretKeys(raw);
  const modeWarning = inline.length > 0 ? looseModeWarning(sourcePath, statSync(sourcePath)) : undefined;
  if (modeWarning !== undefined) {
    problems.warn(
      '',
      `${modeWarning} — it holds ${inline.join(', ')} inline (or move them to …File references, and the file may stay group-readable)`,
    );
  }
  const tree = prepareTree(skipSecrets ? withPlaceholderSecrets(raw) : raw, env, '', problems, unresolved);
  const ctx = { sourcePath, baseDir: dirname(sourcePath), permissionChecked: new Set([sourcePath]) };
  // An empty file is an empty mapping: it lacks only accounts.
  const parsed = configSchema(ctx).safeParse(tree ?? {}, { error: messageFor });
  if (!parsed.success) problems.errors.push(...problemsOf(parsed.error.issues, unresolved));
  if (!parsed.success || problems.errors.length > 0) throw new ConfigError(capped(problems.errors));
  const config = toConfig(parsed.data, sourcePath, (key, message) => problems.warn(key, message));
  return { config: deepFreeze(skipSecrets ? blankSecrets(config) : config), warnings: problems.warnings };
}

// A config is a few KB; a few MB is already absurd, and bounds what parsing can cost.
const MAX_CONFIG_BYTES = 4 * 1024 * 1024;
// Past this many, more lines of problems help nobody; the count says how many were left out.
const MAX_PROBLEMS = 50;

function capped(problems: readonly string[]): string[] {
  if (problems.length <= MAX_PROBLEMS) return [...problems];
  return [...problems.slice(0, MAX_PROBLEMS), `… and ${problems.length - MAX_PROBLEMS} more problems like these`];
}

function parseYaml(sourcePath: string, text: string): unknown {
  // A config without mistakes never needs the positioned document below (see fast-yaml.ts).
  const fast = fastParseYaml(text);
  if (fast.ok) return fast.value;
  // Merge keys (`<<: *defaults`) let several accounts share sinks without copy-paste. Duplicate
  // keys are checked by duplicateKeys (linear) rather than by the library (quadratic).
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: false, merge: true, lineCounter });
  const duplicates = doc.errors.length === 0 ? duplicateKeys(doc, lineCounter, MAX_PROBLEMS) : [];
  if (duplicates.length > 0) throw new ConfigError(duplicates.map((d) => `${sourcePath}: invalid YAML — ${d}`));
  if (doc.errors.length > 0) {
    throw new ConfigError(
      doc.errors.map((err) => {
        // The pretty message goes on with an excerpt of the file, which may hold an inline
        // secret: keep only its first line, which names the problem and its position.
        const first = (err.message.split('\n')[0] ?? '').replace(/:$/, '');
        return `${sourcePath}: invalid YAML — ${first}`;
      }),
    );
  }
  try {
    return doc.toJS();
  } catch (err) {
    // yaml refuses alias bombs ("billion laughs") here, after parsing.
    throw new ConfigError([`${sourcePath}: invalid YAML — ${err instanceof Error ? err.message : String(err)}`]);
  }
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
