import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';

export interface CredentialsEnv {
  readonly env: NodeJS.ProcessEnv;
  /** Said on stderr, so that a person knows where the secrets came from. */
  readonly note: string | undefined;
  /** Added to a config error: how to make the credentials reachable from this shell. */
  readonly hint: string | undefined;
}

/**
 * systemd hands the service its secrets in $CREDENTIALS_DIRECTORY, which exists only inside
 * the service; an admin shell (check-config, renew without a daemon) has none. The documented
 * layout (scripts/install-systemd.sh) keeps the originals in `credentials/` next to the config,
 * under the names the unit's LoadCredential= lines give them, so a command run outside the
 * service reads them there, and sees exactly what `run` will see.
 */
export function credentialsEnv(configPath: string, env: NodeJS.ProcessEnv): CredentialsEnv {
  const none: CredentialsEnv = { env, note: undefined, hint: undefined };
  if (env['CREDENTIALS_DIRECTORY'] !== undefined) return none;
  let text: string;
  try {
    // The config is read again by loadConfig; here only whether it refers to the variable.
    text = readFileSync(configPath, 'utf8');
  } catch {
    return none;
  }
  if (!text.includes('CREDENTIALS_DIRECTORY')) return none;
  const folder = join(dirname(configPath), 'credentials');
  const exact = `set CREDENTIALS_DIRECTORY to the folder the unit's LoadCredential= lines read from, e.g. sudo CREDENTIALS_DIRECTORY=${folder} dhan-token-keeper …`;
  let isFolder = false;
  try {
    isFolder = statSync(folder).isDirectory();
  } catch {
    // Absent or not ours to see: say how to point at the credentials instead.
  }
  if (!isFolder) return { ...none, hint: `outside the service: ${exact}` };
  try {
    accessSync(folder, constants.R_OK | constants.X_OK);
  } catch {
    return {
      ...none,
      hint: `outside the service the credentials are read from ${folder}, which only root may read: run this with sudo`,
    };
  }
  return {
    env: { ...env, CREDENTIALS_DIRECTORY: folder },
    note: `CREDENTIALS_DIRECTORY is not set (not inside the service): reading the credentials from ${folder}, where the unit loads them from`,
    hint: undefined,
  };
}
