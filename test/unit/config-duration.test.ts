import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration, parseDurationOrShare } from '../../src/config/index.js';
import { UsageError } from '../../src/errors.js';

describe('parseDuration', () => {
  it.each([
    ['500ms', 500],
    ['30s', 30_000],
    ['15m', 900_000],
    ['8h', 28_800_000],
    ['1h30m', 5_400_000],
    ['1d12h', 129_600_000],
    ['90d', 7_776_000_000],
    ['1.5h', 5_400_000],
    ['2m 30s', 150_000],
    ['0', 0],
    [' 24h ', 86_400_000],
  ])('%s → %i ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(['', '8', '8x', 'h', '-5m', '30m1h', '1m30m', '1h 30', '33%', '1e3s', 'eight hours'])(
    'rejects %j with a UsageError naming the input',
    (text) => {
      expect(() => parseDuration(text)).toThrow(UsageError);
      expect(() => parseDuration(text)).toThrow(JSON.stringify(text));
    },
  );

  it('suggests a unit for a bare number', () => {
    expect(() => parseDuration('30')).toThrow('"30" has no unit — write 30s, 30m or 30h');
  });

  it('round-trips through formatDuration', () => {
    for (const text of ['500ms', '30s', '1h30m', '1d12h', '90d', '1d2h3m4s5ms']) {
      expect(formatDuration(parseDuration(text))).toBe(text);
    }
  });
});

describe('parseDurationOrShare', () => {
  it('reads shares and durations', () => {
    expect(parseDurationOrShare('33%')).toEqual({ kind: 'share', ratio: 0.33 });
    expect(parseDurationOrShare('2.5%')).toEqual({ kind: 'share', ratio: 0.025 });
    expect(parseDurationOrShare('8h')).toEqual({ kind: 'duration', ms: 28_800_000 });
  });

  it.each(['0%', '100%', '150%', '-5%'])('rejects the share %s', (text) => {
    expect(() => parseDurationOrShare(text)).toThrow(UsageError);
  });

  it('says what it expected', () => {
    expect(() => parseDurationOrShare('33 percent')).toThrow(
      '"33 percent" is not a duration (like 8h) or a share (like 33%)',
    );
  });
});
