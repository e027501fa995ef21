import { resolve } from 'node:path';

export const CONFIG_ENV = 'DHAN_TOKEN_KEEPER_CONFIG';

/** `--config`, else $DHAN_TOKEN_KEEPER_CONFIG, else ./config.yaml; absolute, against the cwd. */
export function resolveConfigPath(cliValue: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env[CONFIG_ENV];
  if (cliValue !== undefined && cliValue !== '') return resolve(cliValue);
  if (fromEnv !== undefined && fromEnv !== '') return resolve(fromEnv);
  return resolve('config.yaml');
}
