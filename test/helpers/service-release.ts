import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  cpSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from './repo-root.js';

/**
 * The built CLI laid out where a service user can reach it, as scripts/install-systemd.sh lays a
 * release out under /opt: dist/, package.json and the production dependencies in a fresh folder
 * every user may traverse. A checkout under a private folder (0700, as /root and most home
 * folders are) is out of a service user's reach, and so is a Node installed there (nvm, a
 * cached download): then the Node binary is laid out beside the release too.
 */
export interface ServiceRelease {
  readonly dir: string;
  readonly cli: string;
  /** The Node binary the service user runs. */
  readonly node: string;
  remove(): void;
}

export interface ServiceUser {
  readonly uid: number;
  readonly gid: number;
}

/** Needs the repo built (dist/) and, to check the service user's reach, root. */
export function layOutServiceRelease(user: ServiceUser): ServiceRelease {
  const dir = mkdtempSync(join(tmpdir(), 'dtk-service-release-'));
  cpSync(join(REPO_ROOT, 'dist'), join(dir, 'dist'), { recursive: true });
  copyFileSync(join(REPO_ROOT, 'package.json'), join(dir, 'package.json'));
  const devOnly = devOnlyPackages();
  cpSync(join(REPO_ROOT, 'node_modules'), join(dir, 'node_modules'), {
    recursive: true,
    // .bin holds links to development tools; .cache and .vite are tools' caches.
    filter: (source) => !devOnly.has(source) && !/[/\\]node_modules[/\\]\.(bin|cache|vite)$/.test(source),
  });
  openToEveryone(dir);
  const node = nodeFor(user, dir);
  if (!runsAs(user, node, [join(dir, 'dist', 'cli.js'), 'version'])) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(
      `uid ${user.uid} cannot run the release laid out in ${tmpdir()}: is the temporary folder traversable (TMPDIR)?`,
    );
  }
  return { dir, cli: join(dir, 'dist', 'cli.js'), node, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Absolute paths of the packages that package-lock.json marks as needed only for development. */
function devOnlyPackages(): Set<string> {
  const lock = JSON.parse(readFileSync(join(REPO_ROOT, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, { dev?: boolean }>;
  };
  return new Set(
    Object.entries(lock.packages)
      .filter(([path, meta]) => path !== '' && meta.dev === true)
      .map(([path]) => join(REPO_ROOT, path)),
  );
}

/** Folders 0755, files 0644 (0755 when executable): whatever the umask was when they were made. */
function openToEveryone(path: string): void {
  const stat = statSync(path);
  if (stat.isDirectory()) {
    chmodSync(path, 0o755);
    for (const entry of readdirSync(path)) openToEveryone(join(path, entry));
  } else {
    chmodSync(path, stat.mode & 0o100 ? 0o755 : 0o644);
  }
}

/**
 * This Node when the user can run it where it is, else one laid out in dir/bin: a hard link
 * where the binary is already everyone's to run (no copy of 100 MB), else a copy.
 */
export function nodeFor(user: ServiceUser, dir: string): string {
  if (runsAs(user, process.execPath)) return process.execPath;
  mkdirSync(join(dir, 'bin'), { mode: 0o755 });
  const node = join(dir, 'bin', 'node');
  if ((statSync(process.execPath).mode & 0o005) === 0o005) {
    try {
      linkSync(process.execPath, node);
      return node;
    } catch {
      // Another file system: copy.
    }
  }
  copyFileSync(process.execPath, node);
  chmodSync(node, 0o755);
  return node;
}

function runsAs(user: ServiceUser, node: string, args: readonly string[] = ['-e', '']): boolean {
  const r = spawnSync(node, args, { uid: user.uid, gid: user.gid, cwd: '/', timeout: 30_000 });
  return r.error === undefined && r.status === 0;
}
