import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { KeeperError } from '../errors.js';

const run = promisify(execFile);
/** POSIX-ish group names; this also keeps a name from being read as a getent option. */
const GROUP_NAME = /^[A-Za-z0-9_.][A-Za-z0-9_.-]*\$?$/;
/** getent's exit status for "no such key". */
const GETENT_NOT_FOUND = 2;

/** A gid from a group name or a numeric gid. */
export async function resolveGroup(group: string): Promise<number> {
  if (/^\d+$/.test(group)) return Number(group);
  if (!GROUP_NAME.test(group)) {
    throw new KeeperError('publish-group-invalid', `group ${JSON.stringify(group)} is not a valid group name`, {
      hint: 'give a group name like "traders" or a numeric gid',
    });
  }
  const gid = (await viaGetent(group)) ?? (await viaEtcGroup(group));
  if (gid === undefined || gid === 'missing') {
    throw new KeeperError('publish-group-unknown', `group "${group}" does not exist on this machine`, {
      hint: 'create it (groupadd) or give a numeric gid',
    });
  }
  return gid;
}

/**
 * getent also sees groups from LDAP or sssd, which /etc/group does not list. Returns undefined
 * when getent itself is unavailable (minimal containers), 'missing' when it found no such group.
 */
async function viaGetent(group: string): Promise<number | 'missing' | undefined> {
  try {
    const { stdout } = await run('getent', ['group', group], {
      timeout: 5_000,
      env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin' },
    });
    return gidFromLine(stdout.split('\n')[0] ?? '', group) ?? 'missing';
  } catch (err) {
    if (typeof err === 'object' && err !== null && 'code' in err && err.code === GETENT_NOT_FOUND) return 'missing';
    return undefined;
  }
}

async function viaEtcGroup(group: string): Promise<number | undefined> {
  let text: string;
  try {
    text = await readFile('/etc/group', 'utf8');
  } catch {
    return undefined;
  }
  for (const line of text.split('\n')) {
    const gid = gidFromLine(line, group);
    if (gid !== undefined) return gid;
  }
  return undefined;
}

/** `name:password:gid:members` */
function gidFromLine(line: string, group: string): number | undefined {
  const [name, , gid] = line.split(':');
  return name === group && gid !== undefined && /^\d+$/.test(gid) ? Number(gid) : undefined;
}
