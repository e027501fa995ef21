import { describe, expect, it } from 'vitest';
import { createLogger, urlWithoutQuery } from '../../src/log.js';

function capture(): { lines: string[]; log: ReturnType<typeof createLogger> } {
  const lines: string[] = [];
  const log = createLogger({ level: 'trace', destination: { write: (line: string) => void lines.push(line) } });
  return { lines, log };
}

describe('log redaction', () => {
  it('redacts every secret-bearing field, at the top level and nested', () => {
    const { lines, log } = capture();
    log.info(
      { pin: '493817', totpSecret: 'JBSWY3DPEHPK3PXP', accessToken: 'eyJ.secret.token', token: 'tok-1234567890' },
      'top',
    );
    log.info(
      {
        account: { pin: '493817', totpSecret: 'JBSWY3DPEHPK3PXP' },
        req: { headers: { 'access-token': 'eyJ.secret.token', authorization: 'Bearer k3y-very-secret' } },
      },
      'nested',
    );
    log
      .child({ component: 'x' })
      .debug({ sink: { secret: 'hmac-very-secret' }, apiKey: 'k3y-very-secret', totp: '123987' }, 'child');
    const text = lines.join('\n');
    for (const secret of [
      '493817',
      'JBSWY3DPEHPK3PXP',
      'eyJ.secret.token',
      'tok-1234567890',
      'k3y-very-secret',
      'hmac-very-secret',
      '123987',
    ]) {
      expect(text).not.toContain(secret);
    }
    expect(text).toContain('[redacted]');
    expect(lines).toHaveLength(3);
  });

  it('never logs a URL query (generation sends PIN and TOTP in it)', () => {
    const { lines, log } = capture();
    log.info({ url: 'https://auth.dhan.co/app/generateAccessToken?dhanClientId=1&pin=493817&totp=123987' }, 'calling');
    expect(lines[0]).toContain('https://auth.dhan.co/app/generateAccessToken');
    expect(lines[0]).not.toContain('493817');
    expect(urlWithoutQuery('http://x/y#frag')).toBe('http://x/y');
  });
});
