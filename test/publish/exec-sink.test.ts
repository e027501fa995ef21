import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/clock.js';
import type { ExecSinkConfig } from '../../src/config/config.js';
import { runExecSink, toPublished, type SinkContext } from '../../src/publish/index.js';
import { captureLog, JWT, storedToken, tempDirs } from '../helpers/publish.js';

const dirs = tempDirs();
afterEach(() => dirs.cleanup());

const published = toPublished(storedToken(), 'Asia/Kolkata');
const PARENT_SECRET = 'parent-env-secret-do-not-leak';

beforeAll(() => {
  process.env['DTK_TEST_PARENT_SECRET'] = PARENT_SECRET;
});
afterAll(() => {
  delete process.env['DTK_TEST_PARENT_SECRET'];
});

function context(overrides: Partial<SinkContext> = {}): SinkContext {
  return {
    clock: systemClock,
    log: captureLog().log,
    signal: undefined,
    retryDelaysMs: [50, 200],
    killGraceMs: 2_000,
    redact: (text) => text.split(JWT).join('[redacted]'),
    ...overrides,
  };
}

function script(dir: string, name: string, body: string): string {
  const path = join(dir, name);
  writeFileSync(path, body);
  return path;
}

function hook(command: string[], timeoutMs = 10_000): ExecSinkConfig {
  return { type: 'exec', command, timeoutMs };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('publish: exec hook', () => {
  it('gets the token JSON on stdin only: not in argv, not in its environment', async () => {
    const dir = dirs.make();
    const out = join(dir, 'out.json');
    const recorder = script(
      dir,
      'record.mjs',
      `import fs from 'node:fs';
       const chunks = [];
       process.stdin.on('data', (c) => chunks.push(c));
       process.stdin.on('end', () => {
         fs.writeFileSync(process.argv[2], JSON.stringify({
           stdin: Buffer.concat(chunks).toString('utf8'),
           cmdline: fs.readFileSync('/proc/' + process.pid + '/cmdline', 'utf8'),
           environ: fs.readFileSync('/proc/' + process.pid + '/environ', 'utf8'),
           env: process.env,
         }));
       });`,
    );
    const outcome = await runExecSink(hook([process.execPath, recorder, out]), published, context());
    expect(outcome).toEqual({ ok: true, attempts: 1, exitCode: 0 });

    const seen = JSON.parse(readFileSync(out, 'utf8')) as {
      stdin: string;
      cmdline: string;
      environ: string;
      env: Record<string, string>;
    };
    expect(JSON.parse(seen.stdin)).toEqual(published);
    expect(seen.cmdline.split('\0')).toContain(recorder);
    expect(seen.cmdline).not.toContain(JWT);
    expect(seen.environ).not.toContain(JWT);
    expect(seen.environ).not.toContain(PARENT_SECRET);
    expect(Object.keys(seen.env).sort()).toEqual(['DHAN_CLIENT_ID', 'DHAN_TOKEN_EXPIRES_AT', 'PATH']);
    expect(seen.env['DHAN_CLIENT_ID']).toBe('1100000001');
    expect(seen.env['DHAN_TOKEN_EXPIRES_AT']).toBe('2026-07-08T07:41:12.284+05:30');
    expect(seen.env['PATH']).toBe(process.env['PATH']);
  });

  it('is fine with a hook that never reads stdin', async () => {
    const outcome = await runExecSink(hook(['true']), published, context());
    expect(outcome).toEqual({ ok: true, attempts: 1, exitCode: 0 });
  });

  it('tries a failing hook three times, waiting between tries', async () => {
    const dir = dirs.make();
    const counter = join(dir, 'count');
    const failing = script(
      dir,
      'fail.mjs',
      `import fs from 'node:fs'; fs.appendFileSync(process.argv[2], 'x'); process.exit(3);`,
    );
    const startedAt = Date.now();
    const outcome = await runExecSink(hook([process.execPath, failing, counter]), published, context());
    expect(outcome).toEqual({ ok: false, attempts: 3, exitCode: 3, error: 'exited with code 3' });
    expect(readFileSync(counter, 'utf8')).toBe('xxx');
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(250);
  });

  it('reports a program that cannot be started, after three tries', async () => {
    const outcome = await runExecSink(hook(['/nonexistent/dtk-hook']), published, context());
    expect(outcome).toEqual({ ok: false, attempts: 3, error: 'could not start /nonexistent/dtk-hook: ENOENT' });
  });

  it('stops a hanging hook within timeout + 2 s', async () => {
    const dir = dirs.make();
    const pidFile = join(dir, 'pid');
    const hanging = script(
      dir,
      'hang.mjs',
      `import fs from 'node:fs'; fs.appendFileSync(process.argv[2], process.pid + '\\n'); setInterval(() => {}, 1000);`,
    );
    // Long enough for node to start and write its pid even on a loaded machine: each try must hang.
    const timeoutMs = 1_000;
    const { log, lines } = captureLog();
    const startedAt = Date.now();
    const outcome = await runExecSink(
      hook([process.execPath, hanging, pidFile], timeoutMs),
      published,
      context({ log }),
    );
    const elapsed = Date.now() - startedAt;
    expect(outcome).toEqual({ ok: false, attempts: 3, error: 'did not finish within 1000 ms; stopped with SIGTERM' });
    expect(elapsed).toBeLessThan(3 * (timeoutMs + 2_000) + 250);
    for (const line of lines.filter((l) => l.includes('hook failed'))) {
      expect((JSON.parse(line) as { durationMs: number }).durationMs).toBeLessThan(timeoutMs + 2_000);
    }
    const pids = readFileSync(pidFile, 'utf8').trim().split('\n').map(Number);
    expect(pids).toHaveLength(3);
    for (const pid of pids) expect(isAlive(pid)).toBe(false);
  });

  it('kills a hook that ignores SIGTERM once the grace period is over', async () => {
    const dir = dirs.make();
    const stubborn = script(dir, 'stubborn.mjs', `process.on('SIGTERM', () => {}); setInterval(() => {}, 1000);`);
    const startedAt = Date.now();
    // Long enough for node to start and install its handler even on a loaded machine.
    const outcome = await runExecSink(
      hook([process.execPath, stubborn], 1_000),
      published,
      context({ killGraceMs: 300, retryDelaysMs: [] }),
    );
    expect(outcome).toEqual({ ok: false, attempts: 1, error: 'did not finish within 1000 ms; stopped with SIGKILL' });
    expect(Date.now() - startedAt).toBeLessThan(1_000 + 300 + 1_500);
  });

  it('stops what the hook started too (its whole process group)', async () => {
    const startedAt = Date.now();
    const outcome = await runExecSink(
      hook(['/bin/sh', '-c', 'sleep 30; true'], 200),
      published,
      context({ retryDelaysMs: [] }),
    );
    expect(outcome.ok).toBe(false);
    expect(outcome.error).toMatch(/did not finish within 200 ms/);
    expect(Date.now() - startedAt).toBeLessThan(2_500);
  });

  it('logs at most 4 KiB of output, with the token censored', async () => {
    const dir = dirs.make();
    const chatty = script(
      dir,
      'chatty.mjs',
      `let input = '';
       process.stdin.on('data', (c) => (input += c));
       process.stdin.on('end', () => {
         const token = JSON.parse(input).accessToken;
         process.stdout.write('reloaded bot with ' + token + '\\n');
         process.stderr.write('e'.repeat(4090) + token + 'tail');
         process.exit(1);
       });`,
    );
    const { log, lines } = captureLog();
    const outcome = await runExecSink(hook([process.execPath, chatty]), published, context({ log, retryDelaysMs: [] }));
    expect(outcome).toEqual({ ok: false, attempts: 1, exitCode: 1, error: 'exited with code 1' });
    expect(lines.join('')).not.toContain(JWT);
    // No tell-tale piece of it either, where the cut falls inside the token.
    expect(lines.join('')).not.toContain(JWT.slice(0, 6));
    const entry = JSON.parse(lines.find((l) => l.includes('hook failed')) ?? '{}') as {
      stdout: string;
      stderr: string;
      exitCode: number;
    };
    expect(entry.stdout).toBe('reloaded bot with [redacted]');
    expect(entry.stderr.length).toBeLessThanOrEqual(4096);
    expect(entry.stderr.startsWith('e'.repeat(4090))).toBe(true);
    expect(entry.exitCode).toBe(1);
  });

  it('stops the hook and gives up when publishing is aborted', async () => {
    const dir = dirs.make();
    const hanging = script(dir, 'hang.mjs', `setInterval(() => {}, 1000);`);
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 200);
    const startedAt = Date.now();
    const outcome = await runExecSink(
      hook([process.execPath, hanging], 30_000),
      published,
      context({ signal: controller.signal }),
    );
    expect(outcome).toEqual({ ok: false, attempts: 1, error: 'stopped: publishing was aborted' });
    expect(Date.now() - startedAt).toBeLessThan(2_000);
  });
});
