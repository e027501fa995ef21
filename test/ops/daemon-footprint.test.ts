import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/repo-root.js';

const DIST = join(REPO_ROOT, 'dist');
const STATIC_IMPORT = /^\s*(?:import|export)\s+(?:[^'"]*?\sfrom\s+)?['"]([^'"]+)['"]/gm;

/** Every built file and package the CLI loads before it runs a command: its static imports, followed. */
function staticGraph(entry: string): { files: string[]; packages: Set<string> } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const visit = (file: string): void => {
    if (files.has(file)) return;
    files.add(file);
    for (const [, spec] of readFileSync(file, 'utf8').matchAll(STATIC_IMPORT)) {
      if (spec === undefined || spec.startsWith('node:')) continue;
      if (spec.startsWith('.')) visit(resolve(dirname(file), spec));
      else packages.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : (spec.split('/')[0] as string));
    }
  };
  visit(entry);
  return { files: [...files].map((f) => relative(DIST, f)), packages };
}

interface Loaders {
  loadConfig: (path: string, env: NodeJS.ProcessEnv) => unknown;
  loadConfigIsolated: (path: string, env: NodeJS.ProcessEnv) => Promise<unknown>;
}

async function loaders(): Promise<Loaders> {
  const load = (await import(pathToFileURL(join(DIST, 'config', 'load.js')).href)) as Pick<Loaders, 'loadConfig'>;
  const isolated = (await import(pathToFileURL(join(DIST, 'config', 'load-isolated.js')).href)) as Pick<
    Loaders,
    'loadConfigIsolated'
  >;
  return { ...load, ...isolated };
}

describe('what the daemon keeps in memory', () => {
  // ES modules are never unloaded: whatever the CLI imports up front stays resident for the
  // daemon's whole life. Validation (zod, YAML parsers), the simulator and PostgreSQL's driver
  // are loaded only by the commands and configs that need them.
  it('the CLI loads no config validation, YAML parser, PostgreSQL driver or simulator before a command runs', () => {
    const { files, packages } = staticGraph(join(DIST, 'cli.js'));
    expect(files.length).toBeGreaterThan(50);
    for (const heavy of ['zod', 'yaml', 'js-yaml', 'pg']) expect([...packages], heavy).not.toContain(heavy);
    expect(
      files.filter(
        (f) => f.startsWith('sim/') || f === 'demo.js' || f === 'config/load.js' || f === 'config/schema.js',
      ),
    ).toEqual([]);
    expect([...packages]).toEqual(expect.arrayContaining(['commander', 'better-sqlite3', 'pino', 'prom-client']));
  });

  it('a config validated in a thread comes back the same as one validated in place, errors included', async () => {
    const { loadConfig, loadConfigIsolated } = await loaders();
    const env = { DHAN_PIN: '493817', DHAN_TOTP_SECRET: 'KRSXG5CTMVRXEZLUKN2XAZLDNFQWY4ZA' };
    const dir = mkdtempSync(join(tmpdir(), 'dtk-isolated-'));
    const path = join(dir, 'config.yaml');
    writeFileSync(path, readFileSync(join(REPO_ROOT, 'config.example.yaml'), 'utf8'), { mode: 0o600 });
    const inPlace = loadConfig(path, env);
    expect(await loadConfigIsolated(path, env)).toEqual(inPlace);

    // An unset variable and a wrong key: the same error class and the same text, so exit codes do not change.
    const expected = (await Promise.resolve()
      .then(() => loadConfig(path, {}))
      .catch((err: unknown) => err)) as Error & { problems: string[] };
    const got = (await loadConfigIsolated(path, {}).catch((err: unknown) => err)) as Error & { problems: string[] };
    expect(expected.constructor.name).toBe('ConfigError');
    expect(got.constructor.name).toBe('ConfigError');
    expect(got.message).toBe(expected.message);
    expect(got.problems).toEqual(expected.problems);
    expect(got.message).toContain('DHAN_PIN');
  });
});
