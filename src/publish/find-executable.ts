import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { delimiter, isAbsolute, join } from 'node:path';

async function isExecutableFile(path: string): Promise<boolean> {
  try {
    const info = await stat(path);
    if (!info.isFile()) return false;
    await access(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Where spawn would find `program`: itself when it names a path, else the first executable
 * file on PATH (the PATH the hook also gets). Undefined when there is none.
 */
export async function findExecutable(
  program: string,
  pathEnv: string | undefined = process.env['PATH'],
): Promise<string | undefined> {
  if (program.includes('/')) return (await isExecutableFile(program)) ? program : undefined;
  for (const dir of (pathEnv ?? '').split(delimiter)) {
    // An empty PATH entry means the current folder, which a daemon's hooks must not depend on.
    if (dir === '' || !isAbsolute(dir)) continue;
    const candidate = join(dir, program);
    if (await isExecutableFile(candidate)) return candidate;
  }
  return undefined;
}
