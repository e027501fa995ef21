import { stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { FileSinkConfig } from '../config/config.js';
import { errorMessage, KeeperError } from '../errors.js';
import type { PublishedToken } from '../tokens.js';
import { probeWritable, writeFileAtomic } from './atomic-write.js';
import { formatEnvFile, formatJsonFile } from './env-file.js';
import { resolveGroup } from './resolve-group.js';
import type { SinkOutcome } from './sink-result.js';

/**
 * Writes the token file. Not retried: what makes a local write fail (a full disk, a wrong
 * permission) does not pass in seconds, and the next token tries again.
 */
export async function runFileSink(config: FileSinkConfig, token: PublishedToken): Promise<SinkOutcome> {
  const data = config.format === 'env' ? formatEnvFile(token) : formatJsonFile(token);
  // Resolved on every write: a group created after start-up should work without a restart.
  const gid = config.group === undefined ? undefined : await resolveGroup(config.group);
  await writeFileAtomic(config.path, data, { mode: config.mode, gid });
  return { ok: true, attempts: 1 };
}

/** For start-up: the folder exists or can be created, the keeper can write there, the group exists. */
export async function checkWritable(config: FileSinkConfig): Promise<void> {
  const existing = await stat(config.path).catch(() => undefined);
  if (existing?.isDirectory()) {
    throw new KeeperError('publish-file-not-writable', `${config.path} is a folder, not a file`, {
      hint: 'give the path of the token file itself',
    });
  }
  try {
    await probeWritable(config.path);
  } catch (err) {
    throw new KeeperError(
      'publish-file-not-writable',
      `cannot write the token file ${config.path}: ${errorMessage(err)}`,
      {
        hint: `create ${dirname(config.path)} and make it writable by the keeper's user`,
        cause: err,
      },
    );
  }
  if (config.group !== undefined) await resolveGroup(config.group);
}
