import { spawnSync } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { timesInZone } from '../../src/commands/message-times.js';
import { Children, REPO_ROOT } from '../helpers/cli.js';

/* Issue 14, item 11: the small untruths a newcomer trips on. */

const children = new Children();
afterEach(() => children.killAll());

describe('what a newcomer reads', () => {
  it('--help shows defaults as a person writes them', async () => {
    const demo = await children.run(['demo', '--help']);
    expect(demo.stdout).toMatch(/--token-lifetime <duration>\s+lifetime of the simulated tokens \(default: 2m\)/);
    const simulate = await children.run(['simulate', '--help']);
    const text = simulate.stdout.replace(/\s+/g, ' ');
    expect(text).toContain('(default: 127.0.0.1:0)');
    expect(text).toContain('(default: 24h)');
    expect(text).toContain('(default: 2m)');
    for (const raw of ['120000', '86400000', '{"host"']) expect(demo.stdout + simulate.stdout).not.toContain(raw);
  });

  it("the demo's hint is a command that works right after the Quick start", async () => {
    const demo = await children.run(['demo', '--token-lifetime', '1m', '--duration', '4s'], { timeoutMs: 60_000 });
    const hint = /in another terminal: (.+)$/m.exec(demo.stdout)?.[1];
    expect(hint, demo.stdout).toMatch(/^node \S+cli\.js status --config \S+$/);
    // As a user would type it, from the repository, with no dhan-token-keeper on PATH.
    const r = spawnSync('sh', ['-c', hint!], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
      env: { ...process.env, PATH: `${process.execPath.replace(/\/node$/, '')}:/usr/bin:/bin` },
    });
    expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
  }, 90_000);

  it('prints times in the config zone everywhere: outcomes are rewritten from UTC', () => {
    expect(timesInZone('renewed: new token abcdef012345 valid until 2026-07-08T02:11:12.000Z', 'Asia/Kolkata')).toBe(
      'renewed: new token abcdef012345 valid until 2026-07-08T07:41:12.000+05:30',
    );
    expect(timesInZone('nothing to rewrite', 'Asia/Kolkata')).toBe('nothing to rewrite');
  });
});
