import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/repo-root.js';

const cli = join(REPO_ROOT, 'dist', 'cli.js');

describe('npm run demo', () => {
  it('shows a generation, then a renewal within 3 minutes, and says where to look', async () => {
    // Default 2-minute tokens, as a new user sees them; the first renewal comes after ~80 s.
    // Slow on purpose: this is the demo exactly as `npm run demo` runs it, on the real clock.
    const child = spawn(process.execPath, [cli, 'demo', '--duration', '150s'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
    const started = Date.now();
    const renewedAfterMs = await new Promise<number>((resolve, reject) => {
      const timer = setInterval(() => {
        if (/\brenewed\b/.test(out)) {
          clearInterval(timer);
          resolve(Date.now() - started);
        } else if (Date.now() - started > 180_000) {
          clearInterval(timer);
          reject(new Error(`no renewal within 3 minutes:\n${out}`));
        }
      }, 250);
    });
    // The status page's address is printed, and the page's data shows the demo's account.
    const page = /status page at (http:\/\/127\.0\.0\.1:\d+)\//.exec(out)?.[1];
    expect(page, out).toBeDefined();
    expect((await fetch(`${page}/`)).status).toBe(200);
    const state = (await (await fetch(`${page}/v1/ui/state`)).json()) as {
      accounts: Array<{ clientId: string; state: string }>;
    };
    expect(state.accounts.map((a) => a.clientId)).toEqual(['1000000001']);
    expect(['valid', 'refreshing']).toContain(state.accounts[0]?.state);
    child.kill('SIGINT');
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    console.log(`demo: first renewal after ${Math.round(renewedAfterMs / 1000)} s`);
    expect(out).toMatch(/\bgenerated\b/);
    expect(out).toMatch(/status --config /);
    expect(out).toMatch(/tokens\/demo\.json/);
    expect(code).toBe(0);
  }, 200_000);
});
