import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/clock.js';
import type { FileSinkConfig } from '../../src/config/config.js';
import { silentLogger } from '../../src/log.js';
import { checkWritable, Publisher, runFileSink, toPublished } from '../../src/publish/index.js';
import type { PublishedToken } from '../../src/tokens.js';
import { JWT, storedToken, tempDirs } from '../helpers/publish.js';

const dirs = tempDirs();
afterEach(() => dirs.cleanup());

const isRoot = process.getuid?.() === 0;
const published = toPublished(storedToken(), 'Asia/Kolkata');

function fileSink(path: string, overrides: Partial<FileSinkConfig> = {}): FileSinkConfig {
  return { type: 'file', path, format: 'json', mode: 0o600, group: undefined, ...overrides };
}

function modeOf(path: string): number {
  return statSync(path).mode & 0o7777;
}

function withUmask<T>(mask: number, fn: () => Promise<T>): Promise<T> {
  const previous = process.umask(mask);
  return fn().finally(() => process.umask(previous));
}

describe('publish: json file', () => {
  it('writes the token as pretty JSON, mode 0600', async () => {
    const path = join(dirs.make(), 'token.json');
    expect(await runFileSink(fileSink(path), published)).toEqual({ ok: true, attempts: 1 });
    const text = readFileSync(path, 'utf8');
    expect(JSON.parse(text)).toEqual(published);
    expect(text).toBe(`${JSON.stringify(published, null, 2)}\n`);
    expect(modeOf(path)).toBe(0o600);
  });

  it.each([
    [0o000, 0o600],
    [0o077, 0o600],
    [0o000, 0o640],
    [0o077, 0o640],
    [0o022, 0o640],
  ])('with umask %o the mode is exactly %o', async (mask, mode) => {
    const path = join(dirs.make(), 'token.json');
    await withUmask(mask, () => runFileSink(fileSink(path, { mode }), published));
    expect(modeOf(path)).toBe(mode);
    // Replacing an existing file keeps the exact mode too.
    await withUmask(mask, () => runFileSink(fileSink(path, { mode }), published));
    expect(modeOf(path)).toBe(mode);
  });

  it('creates a missing parent folder with mode 0700', async () => {
    const base = dirs.make();
    const path = join(base, 'a', 'b', 'token.json');
    await withUmask(0, () => runFileSink(fileSink(path), published));
    expect(modeOf(join(base, 'a', 'b'))).toBe(0o700);
    expect(JSON.parse(readFileSync(path, 'utf8'))).toEqual(published);
  });

  it('never shows a reader a partial file while 200 writes happen', async () => {
    const dir = dirs.make();
    const path = join(dir, 'token.json');
    const stopFile = join(dirs.make(), 'stop');
    // Large enough that a non-atomic write would be caught half-done.
    const padding = 'x'.repeat(64 * 1024);
    const tokenAt = (i: number): PublishedToken => ({ ...published, accessToken: `tok-${i}-${padding}` });
    await runFileSink(fileSink(path), tokenAt(0));

    const readerScript = `
      const fs = require('node:fs');
      const [file, stop] = process.argv.slice(1);
      let reads = 0, bad = 0, last = '';
      while (!fs.existsSync(stop)) {
        try {
          const parsed = JSON.parse(fs.readFileSync(file, 'utf8'));
          if (!/^tok-\\d+-x+$/.test(parsed.accessToken) || parsed.accessToken.length < 65536) bad++;
          reads++;
        } catch (err) { bad++; last = String(err); }
      }
      process.stdout.write(JSON.stringify({ reads, bad, last }));
    `;
    const reader = spawn(process.execPath, ['-e', readerScript, path, stopFile], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let output = '';
    reader.stdout.on('data', (c: Buffer) => (output += c.toString()));
    const exited = new Promise<void>((resolve) => reader.on('close', () => resolve()));

    for (let i = 1; i <= 200; i++) await runFileSink(fileSink(path), tokenAt(i));
    writeFileSync(stopFile, '');
    await exited;

    const { reads, bad, last } = JSON.parse(output) as { reads: number; bad: number; last: string };
    expect(last).toBe('');
    expect(bad).toBe(0);
    expect(reads).toBeGreaterThan(0);
    expect(JSON.parse(readFileSync(path, 'utf8')).accessToken).toBe(tokenAt(200).accessToken);
    expect(readdirSync(dir)).toEqual(['token.json']);
  });

  it('leaves no temp file behind after a failed write (target is a folder)', async () => {
    const dir = dirs.make();
    const path = join(dir, 'token.json');
    mkdirSync(path);
    const publisher = new Publisher({
      sinks: [{ clientId: '1100000001', sinks: [fileSink(path)] }],
      timezone: 'Asia/Kolkata',
      clock: systemClock,
      log: silentLogger(),
    });
    const [result] = await publisher.publish('1100000001', storedToken());
    expect(result).toMatchObject({ ok: false, type: 'file', sink: `file:${path}`, attempts: 1 });
    expect(result?.error).toMatch(/EISDIR|directory/i);
    expect(readdirSync(dir)).toEqual(['token.json']);
  });

  it.skipIf(isRoot)('leaves no temp file behind when the folder is read-only', async () => {
    const dir = dirs.make();
    const path = join(dir, 'token.json');
    await runFileSink(fileSink(path), published);
    chmodSync(dir, 0o500);
    try {
      await expect(runFileSink(fileSink(path), { ...published, accessToken: 'new-token-value' })).rejects.toThrow(
        /EACCES/,
      );
      expect(readdirSync(dir)).toEqual(['token.json']);
      expect(JSON.parse(readFileSync(path, 'utf8')).accessToken).toBe(JWT);
    } finally {
      chmodSync(dir, 0o700);
    }
  });

  it.skipIf(!isRoot)('hands the file to a numeric gid or a named group, keeping the owner', async () => {
    const path = join(dirs.make(), 'token.json');
    await runFileSink(fileSink(path, { mode: 0o640, group: '4242' }), published);
    expect(statSync(path).gid).toBe(4242);
    expect(statSync(path).uid).toBe(process.getuid?.());
    expect(modeOf(path)).toBe(0o640);

    const line = readFileSync('/etc/group', 'utf8')
      .split('\n')
      .map((l) => l.split(':'))
      .find((f) => f[0] !== 'root' && f[2] !== undefined && f[2] !== '0');
    if (line === undefined) return;
    await runFileSink(fileSink(path, { mode: 0o640, group: line[0] }), published);
    expect(statSync(path).gid).toBe(Number(line[2]));
  });

  it('refuses an unknown group by name, without writing', async () => {
    const dir = dirs.make();
    const path = join(dir, 'token.json');
    await expect(runFileSink(fileSink(path, { group: 'no-such-group-dtk' }), published)).rejects.toThrow(
      /group "no-such-group-dtk" does not exist/,
    );
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe('publish: env file', () => {
  function sourced(path: string, variable: string): string {
    const run = spawnSync(
      'bash',
      ['--norc', '--noprofile', '-c', `set -a; source "$1"; printf %s "$${variable}"`, 'bash', path],
      { encoding: 'utf8', env: {}, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    return run.stdout;
  }

  it.each([
    ['a plain token', 'abcDEF0123456789'],
    ['a realistic JWT with - and _', JWT],
  ])('bash `source` yields the exact value for %s', async (_what, accessToken) => {
    const path = join(dirs.make(), 'token.env');
    await runFileSink(fileSink(path, { format: 'env' }), { ...published, accessToken });
    expect(sourced(path, 'DHAN_ACCESS_TOKEN')).toBe(accessToken);
    expect(sourced(path, 'DHAN_CLIENT_ID')).toBe('1100000001');
    expect(sourced(path, 'DHAN_TOKEN_EXPIRES_AT')).toBe('2026-07-08T07:41:12.284+05:30');
    expect(sourced(path, 'DHAN_TOKEN_EXPIRY_TIME')).toBe('2026-07-08T07:41:12.284');
    expect(sourced(path, 'DHAN_TOKEN_SOURCE')).toBe('totp');
    expect(sourced(path, 'DHAN_TOKEN_OBTAINED_AT')).toBe('2026-07-07T07:41:12.284+05:30');
    expect(modeOf(path)).toBe(0o600);
  });

  it('is KEY=value lines with no spaces or quotes, as systemd EnvironmentFile= reads them', async () => {
    expect(JWT).toMatch(/-/);
    expect(JWT).toMatch(/_/);
    const path = join(dirs.make(), 'token.env');
    await runFileSink(fileSink(path, { format: 'env' }), published);
    const lines = readFileSync(path, 'utf8').split('\n');
    expect(lines.pop()).toBe('');
    expect(lines.map((l) => l.split('=')[0])).toEqual([
      'DHAN_CLIENT_ID',
      'DHAN_ACCESS_TOKEN',
      'DHAN_TOKEN_EXPIRES_AT',
      'DHAN_TOKEN_EXPIRY_TIME',
      'DHAN_TOKEN_SOURCE',
      'DHAN_TOKEN_OBTAINED_AT',
    ]);
    for (const line of lines) expect(line).toMatch(/^[A-Z_]+=[A-Za-z0-9._:+\-=/]*$/);
    expect(lines[1]).toBe(`DHAN_ACCESS_TOKEN=${JWT}`);
  });

  it('single-quotes an odd printable value so that bash reads it literally', async () => {
    const path = join(dirs.make(), 'token.env');
    const odd = 'a b$HOME`id`"#~*';
    await runFileSink(fileSink(path, { format: 'env' }), { ...published, accessToken: odd });
    expect(readFileSync(path, 'utf8')).toContain(`DHAN_ACCESS_TOKEN='${odd}'\n`);
    expect(sourced(path, 'DHAN_ACCESS_TOKEN')).toBe(odd);
  });

  it('refuses a value no quoting makes safe, naming the key and not the value', async () => {
    const dir = dirs.make();
    const path = join(dir, 'token.env');
    const bad = "abc'\ndef";
    const err = await runFileSink(fileSink(path, { format: 'env' }), { ...published, accessToken: bad }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toContain('DHAN_ACCESS_TOKEN');
    expect((err as Error).message).not.toContain('abc');
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe('publish: checkWritable', () => {
  it('accepts a writable or creatable folder and leaves nothing behind', async () => {
    const base = dirs.make();
    await checkWritable(fileSink(join(base, 'token.json')));
    await checkWritable(fileSink(join(base, 'new', 'token.json')));
    expect(readdirSync(base)).toEqual(['new']);
    expect(readdirSync(join(base, 'new'))).toEqual([]);
  });

  it('names the path when the target is a folder or the folder cannot be made', async () => {
    const base = dirs.make();
    mkdirSync(join(base, 'token.json'));
    await expect(checkWritable(fileSink(join(base, 'token.json')))).rejects.toThrow(
      `${join(base, 'token.json')} is a folder`,
    );
    writeFileSync(join(base, 'plain-file'), '');
    const under = join(base, 'plain-file', 'token.json');
    await expect(checkWritable(fileSink(under))).rejects.toThrow(`cannot write the token file ${under}`);
  });

  it.skipIf(isRoot)('reports a read-only folder', async () => {
    const base = dirs.make();
    chmodSync(base, 0o500);
    try {
      await expect(checkWritable(fileSink(join(base, 'token.json')))).rejects.toThrow(
        /cannot write the token file .*EACCES/,
      );
    } finally {
      chmodSync(base, 0o700);
    }
  });
});
