import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { stringify } from 'yaml';
import { ConfigError } from '../../src/errors.js';
import { loadConfig } from '../../src/config/index.js';

export const PIN = '314159';
export const TOTP = 'JBSWY3DPEHPK3PXP';
export const ENV = { DHAN_PIN: PIN, DHAN_TOTP_SECRET: TOTP };

export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'dtk-config-'));
}

/** Writes a file (creating its folder) with an explicit mode, whatever the umask. */
export function writeFile(path: string, content: string, mode = 0o600): string {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, content);
  chmodSync(path, mode);
  return path;
}

/** A minimal valid config as a plain object, to be changed by one variant at a time. */
export function baseConfig(): Record<string, unknown> {
  return {
    accounts: [{ clientId: '1000000001', name: 'main', pin: '${DHAN_PIN}', totpSecret: '${DHAN_TOTP_SECRET}' }],
  };
}

export function writeConfig(dir: string, config: Record<string, unknown> | string, mode = 0o600): string {
  const text = typeof config === 'string' ? config : stringify(config);
  return writeFile(join(dir, 'config.yaml'), text, mode);
}

/** The problems a config raises; fails the test when it loads. */
export function problemsOf(path: string, env: NodeJS.ProcessEnv = ENV): readonly string[] {
  try {
    loadConfig(path, env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error(`expected ${path} to be rejected`);
}
