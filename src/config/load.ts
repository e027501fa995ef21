import { readFileSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { ConfigError } from '../errors.js';
import { Problems } from './context.js';
import { prepareTree } from './env.js';
import { describeFsError, looseModeWarning } from './files.js';
import { inlineSecretKeys } from './inline-secrets.js';
import { messageFor, problemsOf } from './issues.js';
import { configSchema, toConfig } from './schema.js';
import type { Config } from './types.js';
import { blankSecrets, withPlaceholderSecrets } from './without-secrets.js';

export interface LoadOptions {
  /**
   * 'skip' for commands that never use a secret (see without-secrets.ts): secret keys are not
   * interpolated or read, and come back blank.
   */
  readonly secrets?: 'read' | 'skip';
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
export function loadConfig(path: string, env: NodeJS.ProcessEnv = process.env, options: LoadOptions = {}): LoadedConfig {
  const sourcePath = resolve(path);
  let text: string;
  try {
    text = readFileSync(sourcePath, 'utf8');
  } catch (err) {
    throw new ConfigError([
      `${describeFsError(sourcePath, err)} — pass --config FILE or set DHAN_TOKEN_KEEPER_CONFIG (config.example.yaml shows every key)`,
    ]);
  }
  const problems = new Problems();
  const unresolved = new Set<string>();
  const skipSecrets = options.secrets === 'skip';
  const raw = parseYaml(sourcePath, text);
  // Only a config that holds a secret itself must be private; telling someone to chmod 600 the
  // systemd layout's 0640 config (references only) would lock the service user out.
  const inline = inlineSecretKeys(raw);
  const modeWarning = inline.length > 0 ? looseModeWarning(sourcePath, statSync(sourcePath)) : undefined;
  if (modeWarning !== undefined) {
    problems.warn('', `${modeWarning} — it holds ${inline.join(', ')} inline (or move them to …File references, and the file may stay group-readable)`);
  }
  const tree = prepareTree(skipSecrets ? withPlaceholderSecrets(raw) : raw, env, '', problems, unresolved);
  const ctx = { sourcePath, baseDir: dirname(sourcePath), permissionChecked: new Set([sourcePath]) };
  // An empty file is an empty mapping: it lacks only accounts.
  const parsed = configSchema(ctx).safeParse(tree ?? {}, { error: messageFor });
  if (!parsed.success) problems.errors.push(...problemsOf(parsed.error.issues, unresolved));
  if (!parsed.success || problems.errors.length > 0) throw new ConfigError(problems.errors);
  const config = toConfig(parsed.data, sourcePath, (key, message) => problems.warn(key, message));
  return { config: deepFreeze(skipSecrets ? blankSecrets(config) : config), warnings: problems.warnings };
}

function parseYaml(sourcePath: string, text: string): unknown {
  // Merge keys (`<<: *defaults`) let several accounts share sinks without copy-paste.
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true, merge: true });
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
