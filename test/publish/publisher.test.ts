import { chmodSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { systemClock } from '../../src/clock.js';
import type { SinkConfig } from '../../src/config/config.js';
import { silentLogger } from '../../src/log.js';
import { checkSinks, Publisher, type SinkResult } from '../../src/publish/index.js';
import { answer, startReceiver, type Receiver } from '../helpers/http.js';
import { captureLog, JWT, storedToken, tempDirs } from '../helpers/publish.js';

const CLIENT = '1100000001';
const HOOK_SECRET = 'webhook-hmac-secret-789';

const dirs = tempDirs();
const receivers: Receiver[] = [];
afterEach(async () => {
  dirs.cleanup();
  await Promise.all(receivers.splice(0).map((r) => r.close()));
});

async function receiver(...args: Parameters<typeof startReceiver>): Promise<Receiver> {
  const r = await startReceiver(...args);
  receivers.push(r);
  return r;
}

function fileSink(path: string): SinkConfig {
  return { type: 'file', path, format: 'json', mode: 0o600, group: undefined };
}

describe('publish: Publisher', () => {
  it('runs every sink and reports each one', async () => {
    const dir = dirs.make();
    const r = await receiver(answer(200));
    const seen: SinkResult[] = [];
    const publisher = new Publisher({
      sinks: (clientId) =>
        clientId === CLIENT
          ? [
              fileSink(join(dir, 'token.json')),
              { type: 'file', path: join(dir, 'token.env'), format: 'env', mode: 0o640, group: undefined },
              { type: 'exec', command: ['true'], timeoutMs: 5_000 },
              { type: 'webhook', url: `${r.url}/hook`, secret: HOOK_SECRET, includeToken: false, timeoutMs: 5_000 },
            ]
          : undefined,
      timezone: 'Asia/Kolkata',
      clock: systemClock,
      log: silentLogger(),
      onResult: (result) => seen.push(result),
    });
    const results = await publisher.publish(CLIENT, storedToken());
    expect(results.map(({ durationMs: _d, ...rest }) => rest)).toEqual([
      { clientId: CLIENT, sink: `file:${join(dir, 'token.json')}`, type: 'file', ok: true, attempts: 1 },
      { clientId: CLIENT, sink: `file:${join(dir, 'token.env')}`, type: 'file', ok: true, attempts: 1 },
      { clientId: CLIENT, sink: 'exec:true', type: 'exec', ok: true, attempts: 1, exitCode: 0 },
      {
        clientId: CLIENT,
        sink: `webhook:${r.url.slice('http://'.length)}`,
        type: 'webhook',
        ok: true,
        attempts: 1,
        httpStatus: 200,
      },
    ]);
    for (const result of results) expect(result.durationMs).toBeGreaterThanOrEqual(0);
    expect(new Set(seen)).toEqual(new Set(results));
    expect(JSON.parse(readFileSync(join(dir, 'token.json'), 'utf8')).accessToken).toBe(JWT);
    expect(await publisher.publish('someone-else', storedToken({ clientId: 'someone-else' }))).toEqual([]);
  });

  it('does not let a hanging webhook delay the file sink', async () => {
    const dir = dirs.make();
    const r = await receiver(() => undefined);
    const seen: { result: SinkResult; at: number }[] = [];
    const publisher = new Publisher({
      sinks: [
        {
          clientId: CLIENT,
          sinks: [
            { type: 'webhook', url: r.url, secret: HOOK_SECRET, includeToken: true, timeoutMs: 60_000 },
            fileSink(join(dir, 'token.json')),
          ],
        },
      ],
      timezone: 'Asia/Kolkata',
      clock: systemClock,
      log: silentLogger(),
      onResult: (result) => seen.push({ result, at: Date.now() }),
    });
    const controller = new AbortController();
    const startedAt = Date.now();
    let settled = false;
    const publishing = publisher.publish(CLIENT, storedToken(), controller.signal).finally(() => (settled = true));

    await vi.waitFor(() => expect(seen).toHaveLength(1), { timeout: 2_000 });
    expect(seen[0]?.result).toMatchObject({ type: 'file', ok: true });
    expect((seen[0]?.at ?? Infinity) - startedAt).toBeLessThan(1_000);
    await vi.waitFor(() => expect(r.requests).toHaveLength(1));
    expect(settled).toBe(false);
    expect(JSON.parse(readFileSync(join(dir, 'token.json'), 'utf8')).accessToken).toBe(JWT);

    controller.abort();
    const results = await publishing;
    expect(results[0]).toMatchObject({
      type: 'webhook',
      ok: false,
      attempts: 1,
      error: 'stopped: publishing was aborted',
    });
    expect(results[1]).toMatchObject({ type: 'file', ok: true });
  });

  it('never puts the token or a secret in a result or a log line', async () => {
    const dir = dirs.make();
    mkdirSync(join(dir, 'blocked.json'));
    const loud = join(dir, 'loud.mjs');
    writeFileSync(
      loud,
      `let s = ''; process.stdin.on('data', (c) => (s += c)); process.stdin.on('end', () => {
         const t = JSON.parse(s).accessToken;
         console.log('token is', t); console.error('failed for', t, process.env.DTK_LEAK); process.exit(2);
       });`,
    );
    const r = await receiver(answer(500));
    const hookUrl = r.url.replace('http://', 'http://bot:userinfo-pass-1@') + '/hook?token=query-secret-2';
    const { log, lines } = captureLog();
    const publisher = new Publisher({
      sinks: [
        {
          clientId: CLIENT,
          sinks: [
            fileSink(join(dir, 'blocked.json')),
            fileSink(join(dir, 'good.json')),
            { type: 'exec', command: [process.execPath, loud], timeoutMs: 5_000 },
            { type: 'exec', command: ['/nonexistent/hook'], timeoutMs: 5_000 },
            { type: 'webhook', url: hookUrl, secret: HOOK_SECRET, includeToken: true, timeoutMs: 5_000 },
            { type: 'webhook', url: r.url, secret: HOOK_SECRET, includeToken: false, timeoutMs: 5_000 },
          ],
        },
      ],
      timezone: 'Asia/Kolkata',
      clock: systemClock,
      log,
      retryBaseMs: 20,
    });
    const results = await publisher.publish(CLIENT, storedToken());
    expect(results.map((x) => x.ok)).toEqual([false, true, false, false, false, false]);
    const texts = [JSON.stringify(results), ...lines].join('\n');
    for (const secret of [JWT, JWT.slice(0, 40), JWT.slice(-40), HOOK_SECRET, 'userinfo-pass-1', 'query-secret-2']) {
      expect(texts).not.toContain(secret);
    }
    const parsed = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(parsed.every((l) => l['component'] === 'publish' && l['clientId'] === CLIENT)).toBe(true);
    expect(parsed.filter((l) => l['msg'] === 'token not published')).toHaveLength(5);
    expect(parsed.find((l) => l['msg'] === 'token published')).toMatchObject({
      sink: `file:${join(dir, 'good.json')}`,
      fingerprint: expect.stringMatching(/^[0-9a-f]{12}$/),
    });
    expect(parsed.some((l) => typeof l['stdout'] === 'string' && l['stdout'].includes('[redacted]'))).toBe(true);
  });

  it('publishes nothing for a token of another account', async () => {
    const dir = dirs.make();
    const publisher = new Publisher({
      sinks: [{ clientId: CLIENT, sinks: [fileSink(join(dir, 'token.json'))] }],
      timezone: 'Asia/Kolkata',
      clock: systemClock,
      log: silentLogger(),
    });
    const [result] = await publisher.publish(CLIENT, storedToken({ clientId: '2200000002' }));
    expect(result).toMatchObject({ ok: false, attempts: 0 });
    expect(readdirSync(dir)).toEqual([]);
  });

  it('starts nothing once aborted', async () => {
    const dir = dirs.make();
    const publisher = new Publisher({
      sinks: [{ clientId: CLIENT, sinks: [fileSink(join(dir, 'token.json'))] }],
      timezone: 'Asia/Kolkata',
      clock: systemClock,
      log: silentLogger(),
    });
    const [result] = await publisher.publish(CLIENT, storedToken(), AbortSignal.abort());
    expect(result).toMatchObject({ ok: false, attempts: 0, error: 'stopped: publishing was aborted' });
    expect(readdirSync(dir)).toEqual([]);
  });

  it('never lets an older token replace a newer one in a file', async () => {
    const dir = dirs.make();
    const path = join(dir, 'token.json');
    const publisher = new Publisher({
      sinks: [{ clientId: CLIENT, sinks: [fileSink(path)] }],
      timezone: 'Asia/Kolkata',
      clock: systemClock,
      log: silentLogger(),
    });
    const [newer, older] = await Promise.all([
      publisher.publish(CLIENT, storedToken({ id: 7, accessToken: 'newer-token-value' })),
      publisher.publish(CLIENT, storedToken({ id: 6, accessToken: 'older-token-value' })),
    ]);
    expect(newer?.[0]).toMatchObject({ ok: true, attempts: 1 });
    expect(older?.[0]).toMatchObject({ ok: true, attempts: 0 });
    expect(JSON.parse(readFileSync(path, 'utf8')).accessToken).toBe('newer-token-value');
  });

  it('survives an onResult callback that throws', async () => {
    const dir = dirs.make();
    const publisher = new Publisher({
      sinks: [{ clientId: CLIENT, sinks: [fileSink(join(dir, 'token.json'))] }],
      timezone: 'Asia/Kolkata',
      clock: systemClock,
      log: silentLogger(),
      onResult: () => {
        throw new Error('listener bug');
      },
    });
    const [result] = await publisher.publish(CLIENT, storedToken());
    expect(result).toMatchObject({ ok: true });
  });
});

describe('publish: checkSinks', () => {
  it('passes a working setup', async () => {
    const dir = dirs.make();
    const problems = await checkSinks([
      {
        clientId: CLIENT,
        sinks: [
          fileSink(join(dir, 'sub', 'token.json')),
          { type: 'exec', command: ['sh', '-c', 'true'], timeoutMs: 1_000 },
          { type: 'exec', command: [process.execPath, '-e', ''], timeoutMs: 1_000 },
          {
            type: 'webhook',
            url: 'http://127.0.0.1:9/never-contacted',
            secret: undefined,
            includeToken: false,
            timeoutMs: 1_000,
          },
        ],
      },
    ]);
    expect(problems).toEqual([]);
  });

  it('names every problem with its account and sink', async () => {
    const dir = dirs.make();
    mkdirSync(join(dir, 'is-a-folder'));
    const notExecutable = join(dir, 'hook.sh');
    writeFileSync(notExecutable, '#!/bin/sh\n');
    chmodSync(notExecutable, 0o644);
    const publisher = new Publisher({ sinks: () => [], timezone: 'UTC', clock: systemClock, log: silentLogger() });
    const problems = await publisher.checkSinks([
      {
        clientId: CLIENT,
        sinks: [
          fileSink(join(dir, 'is-a-folder')),
          { type: 'file', path: join(dir, 'ok.json'), format: 'json', mode: 0o640, group: 'no-such-group-dtk' },
          { type: 'exec', command: ['dtk-no-such-program'], timeoutMs: 1_000 },
          { type: 'exec', command: [notExecutable], timeoutMs: 1_000 },
          { type: 'exec', command: [], timeoutMs: 1_000 },
        ],
      },
    ]);
    expect(problems).toEqual([
      `account ${CLIENT}, sink file:${join(dir, 'is-a-folder')}: ${join(dir, 'is-a-folder')} is a folder, not a file — give the path of the token file itself`,
      `account ${CLIENT}, sink file:${join(dir, 'ok.json')}: group "no-such-group-dtk" does not exist on this machine — create it (groupadd) or give a numeric gid`,
      `account ${CLIENT}, sink exec:dtk-no-such-program: dtk-no-such-program was not found on PATH — install it or give its absolute path`,
      `account ${CLIENT}, sink exec:hook.sh: ${notExecutable} is not an executable file — check the path and its x bit`,
      `account ${CLIENT}, sink exec:: the command is empty — give at least the program to run`,
    ]);
  });
});
