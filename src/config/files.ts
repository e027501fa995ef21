import { readFileSync, statSync, type Stats } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import type { Ctx } from './problems.js';

/** Relative paths in a config mean "next to this config", whatever the daemon's cwd (systemd's is /). */
export function resolvePath(ctx: Ctx, path: string): string {
  return isAbsolute(path) ? path : resolve(ctx.baseDir, path);
}

/**
 * Like ssh with a private key: a file holding secrets that group or others can open is
 * worth a warning, not a refusal (a container may have no other way to share it).
 */
export function looseModeWarning(file: string, stats: Stats): string | undefined {
  if (process.platform === 'win32') return undefined;
  const mode = stats.mode & 0o777;
  if ((mode & 0o077) === 0) return undefined;
  const who = (mode & 0o007) !== 0 ? 'others' : 'its group';
  const bits = (mode & 0o007) !== 0 ? mode & 0o007 : (mode & 0o070) >> 3;
  const access = (bits & 0o4) !== 0 ? 'readable' : 'accessible';
  return `${file} is ${access} by ${who} (mode ${mode.toString(8).padStart(4, '0')}); chmod 600 it`;
}

/** Why a file cannot be read, as the tail of a message: `/x/y: no such file`. */
export function describeFsError(file: string, err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'ENOENT':
      return `${file}: no such file`;
    case 'EACCES':
    case 'EPERM':
      return `${file}: permission denied — let the keeper's user read it`;
    case 'EISDIR':
      return `${file}: is a directory, not a file`;
    case 'ENOTDIR':
      return `${file}: a folder on the path is a file`;
    default:
      return `${file}: cannot be read (${code ?? String(err)})`;
  }
}

// A secret is one line; anything bigger is the wrong file (or /dev/zero), not a secret.
const MAX_SECRET_FILE_BYTES = 64 * 1024;

/** The trimmed contents of a secret file with its stats, or why it cannot be used. */
export function readSecretFile(
  file: string,
): { readonly text: string; readonly stats: Stats } | { readonly problem: string } {
  let stats: Stats;
  try {
    stats = statSync(file);
  } catch (err) {
    return { problem: describeFsError(file, err) };
  }
  if (stats.isDirectory()) return { problem: `${file}: is a directory, not a file` };
  if (!stats.isFile()) return { problem: `${file}: is not a regular file` };
  if (stats.size > MAX_SECRET_FILE_BYTES)
    return { problem: `${file}: is ${stats.size} bytes; a secret file holds a single line` };
  try {
    return { text: readFileSync(file, 'utf8').trim(), stats };
  } catch (err) {
    return { problem: describeFsError(file, err) };
  }
}
