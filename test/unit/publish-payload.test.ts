import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { SinkConfig } from '../../src/config/config.js';
import { envValue, fingerprint, formatEnvFile, sinkNames, toNotice, toPublished } from '../../src/publish/index.js';
import { JWT, storedToken } from '../helpers/publish.js';

describe('publish: payload', () => {
  it('gives ISO times with the offset of the configured zone', () => {
    const p = toPublished(storedToken(), 'Asia/Kolkata');
    expect(p).toEqual({
      clientId: '1100000001',
      accessToken: JWT,
      expiresAt: '2026-07-08T07:41:12.284+05:30',
      expiryTime: '2026-07-08T07:41:12.284',
      source: 'totp',
      obtainedAt: '2026-07-07T07:41:12.284+05:30',
    });
    expect(Object.keys(p)).toEqual(['clientId', 'accessToken', 'expiresAt', 'expiryTime', 'source', 'obtainedAt']);
    expect(toPublished(storedToken(), 'UTC').expiresAt).toBe('2026-07-08T02:11:12.284Z');
  });

  it('fingerprints a token as the first 12 hex digits of its sha256', () => {
    expect(fingerprint(JWT)).toBe(createHash('sha256').update(JWT).digest('hex').slice(0, 12));
    expect(fingerprint(JWT)).toMatch(/^[0-9a-f]{12}$/);
    expect(fingerprint('other')).not.toBe(fingerprint(JWT));
  });

  it('builds a notice without the token', () => {
    const notice = toNotice(toPublished(storedToken(), 'Asia/Kolkata'));
    expect(notice).toEqual({
      clientId: '1100000001',
      event: 'token-changed',
      expiresAt: '2026-07-08T07:41:12.284+05:30',
      expiryTime: '2026-07-08T07:41:12.284',
      source: 'totp',
      obtainedAt: '2026-07-07T07:41:12.284+05:30',
      fingerprint: fingerprint(JWT),
    });
    expect(JSON.stringify(notice)).not.toContain(JWT);
  });
});

describe('publish: env values', () => {
  it('writes plain values bare, quotes odd printable ones, refuses the rest without echoing them', () => {
    expect(envValue('K', JWT)).toBe(JWT);
    expect(envValue('K', '2026-07-08T07:41:12.284+05:30')).toBe('2026-07-08T07:41:12.284+05:30');
    expect(envValue('K', '')).toBe('');
    expect(envValue('K', 'a b$c`d"e#~')).toBe(`'a b$c\`d"e#~'`);
    for (const bad of ["it's", 'back\\slash', 'new\nline', 'tab\tx', 'caf\u00e9', 'nul\u0000']) {
      expect(() => envValue('DHAN_ACCESS_TOKEN', bad)).toThrow(/DHAN_ACCESS_TOKEN/);
      try {
        envValue('DHAN_ACCESS_TOKEN', bad);
      } catch (err) {
        expect((err as Error).message).not.toContain(bad);
      }
    }
  });

  it('writes exactly the six lines, in order', () => {
    expect(formatEnvFile(toPublished(storedToken(), 'Asia/Kolkata'))).toBe(
      [
        'DHAN_CLIENT_ID=1100000001',
        `DHAN_ACCESS_TOKEN=${JWT}`,
        'DHAN_TOKEN_EXPIRES_AT=2026-07-08T07:41:12.284+05:30',
        'DHAN_TOKEN_EXPIRY_TIME=2026-07-08T07:41:12.284',
        'DHAN_TOKEN_SOURCE=totp',
        'DHAN_TOKEN_OBTAINED_AT=2026-07-07T07:41:12.284+05:30',
        '',
      ].join('\n'),
    );
  });
});

describe('publish: sink names', () => {
  it('are stable, readable, free of URL credentials and unique within an account', () => {
    const sinks: SinkConfig[] = [
      { type: 'file', path: '/run/dhan/token.json', format: 'json', mode: 0o600, group: undefined },
      { type: 'exec', command: ['/usr/bin/systemctl', 'reload', 'bot-a'], timeoutMs: 1000 },
      { type: 'exec', command: ['systemctl', 'reload', 'bot-b'], timeoutMs: 1000 },
      {
        type: 'webhook',
        url: 'https://u:pw@hooks.example.com:8443/x?key=abc',
        secret: undefined,
        includeToken: false,
        timeoutMs: 1000,
      },
    ];
    expect(sinkNames(sinks)).toEqual([
      'file:/run/dhan/token.json',
      'exec:systemctl',
      'exec:systemctl#2',
      'webhook:hooks.example.com:8443',
    ]);
  });
});
