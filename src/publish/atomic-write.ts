import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

export interface AtomicWriteOptions {
  /** Exact permission bits of the result, whatever the process umask. */
  readonly mode: number;
  /** Group to hand the file to; the owner stays the keeper's user. */
  readonly gid: number | undefined;
}

/** Beside the target, so that the rename never crosses a file system; hidden, so globbing readers skip it. */
function tempPath(target: string, kind: string): string {
  return join(dirname(target), `.${basename(target)}.${kind}-${process.pid}-${randomBytes(6).toString('hex')}`);
}

/**
 * Replaces `target` so that a reader sees either the old content or the new, never a mix or an
 * empty file, and the new content survives a power cut once this resolves.
 */
export async function writeFileAtomic(target: string, data: string, options: AtomicWriteOptions): Promise<void> {
  const dir = dirname(target);
  // 0700: the folder may hold nothing but secrets; a wider one is for the user to create.
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const temp = tempPath(target, 'tmp');
  let handle: FileHandle | undefined;
  try {
    // 'wx' fails on an existing path instead of following a planted symlink. The mode here is
    // cut by the umask, so the file is never wider than `mode` while the token is written.
    handle = await open(temp, 'wx', options.mode);
    await handle.writeFile(data, 'utf8');
    // -1 keeps the owner: a non-root keeper may only change the group, to one it belongs to.
    if (options.gid !== undefined) await handle.chown(-1, options.gid);
    // After chown, which may clear set-id bits; and exact, where open() was cut by the umask.
    await handle.chmod(options.mode);
    await handle.sync();
    await handle.close();
    handle = undefined;
    await rename(temp, target);
  } catch (err) {
    await handle?.close().catch(() => undefined);
    await rm(temp, { force: true }).catch(() => undefined);
    throw err;
  }
  await syncFolder(dir);
}

/** Makes the rename itself durable. */
async function syncFolder(dir: string): Promise<void> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch {
    // Some file systems refuse to fsync a folder. Readers already see the new file, and the
    // store (not this file) is what recovers a token after a crash, so this is not a failure.
  } finally {
    await handle?.close().catch(() => undefined);
  }
}

/** Proves, at start-up, that `writeFileAtomic(target)` can create its temp file. */
export async function probeWritable(target: string): Promise<void> {
  await mkdir(dirname(target), { recursive: true, mode: 0o700 });
  const probe = tempPath(target, 'probe');
  const handle = await open(probe, 'wx', 0o600);
  await handle.close();
  await rm(probe, { force: true });
}
