import { describe, expect, it } from 'vitest';
import { requestTarget } from '../../src/server/request-target.js';

/** Routes must see exactly what WHATWG URL would have given them, fast path or not. */
describe('requestTarget', () => {
  const targets = [
    '/',
    '/healthz',
    '/v1/tokens/1100000001',
    '/v1/tokens/1100000001?after=abcdef&wait=30',
    '/v1/tokens/1100000001?',
    '/v1/tokens/1100000001?after=',
    '/v1/tokens/',
    '/ui/app.css',
    '/favicon.ico',
    '/v1/consent/callback?tokenId=a%20b+c',
    '//healthz',
    '/v1/../healthz',
    '/v1/./tokens/1',
    '/v1/tokens/%31%31',
    '/v1/tokens/1?after=a b',
    '/v1/tokens/1#x',
    '/v1/tokens/1?wait=1#frag',
    '/.hidden',
    '/a\\b',
    'healthz',
    'http://elsewhere.example/healthz?x=1',
    '/ü',
  ];
  it.each(targets)('reads %s as URL does', (raw) => {
    const expected = new URL(raw, 'http://keeper.invalid');
    const got = requestTarget(raw);
    expect(got.pathname).toBe(expected.pathname);
    expect(got.search).toBe(expected.search);
    expect([...got.searchParams]).toEqual([...expected.searchParams]);
  });

  it('answers an unparseable target like the root', () => {
    expect(requestTarget('http://[bad').pathname).toBe('/');
  });
});
