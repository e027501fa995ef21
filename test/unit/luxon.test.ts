import { DateTime as LuxonDateTime, IANAZone } from 'luxon';
import { describe, expect, it } from 'vitest';
import { formatExpiryTime, parseExpiryTime } from '../../src/dhan/expiry.js';
import { DateTime, inZone, isTimeZoneName } from '../../src/luxon.js';
import { isoInZone } from '../../src/time-format.js';

/*
 * The zones the keeper serves without ICU must read every moment exactly as luxon's own IANA
 * zone does: same offset, same text, same name. Compared here against luxon with ICU, which the
 * test process may load freely.
 */

const STEADY_NAMES = ['Asia/Kolkata', 'Asia/Calcutta', 'UTC', 'Etc/UTC', 'Etc/GMT', 'GMT'];

const MOMENTS = [
  ['war time, the last minute of +06:30', Date.UTC(1945, 9, 14, 17, 29)],
  ['IST from then on', Date.UTC(1945, 9, 14, 17, 30)],
  ['a token of 2025', Date.UTC(2025, 8, 23, 7, 7, 23, 123)],
  ['midnight in IST', Date.UTC(2026, 11, 2, 18, 30)],
  ['a leap day', Date.UTC(2028, 1, 29, 12)],
  ['far ahead', Date.UTC(2099, 11, 31, 23, 59, 59)],
  ['before the railway time', Date.UTC(1900, 0, 1)],
] as const;

describe('zones served without ICU', () => {
  for (const name of STEADY_NAMES) {
    it(`${name} reads every moment as luxon's IANA zone does`, () => {
      const iana = IANAZone.create(name);
      for (const [what, ms] of MOMENTS) {
        const ours = DateTime.fromMillis(ms, inZone(name));
        const theirs = LuxonDateTime.fromMillis(ms, { zone: name, locale: 'en-US' });
        expect(ours.offset, `${name}, ${what}`).toBe(iana.offset(ms));
        expect(ours.toISO(), `${name}, ${what}`).toBe(theirs.toISO());
        expect(ours.toFormat('yyyy-MM-dd HH:mm:ss ZZ'), `${name}, ${what}`).toBe(
          theirs.toFormat('yyyy-MM-dd HH:mm:ss ZZ'),
        );
        expect(ours.zoneName).toBe(theirs.zoneName);
        // Arithmetic across days and back, as the avoid windows and cron schedules do it.
        const day = ours.startOf('day').plus({ days: 1, minutes: 555 });
        expect(day.toMillis(), `${name}, ${what}`).toBe(
          theirs.startOf('day').plus({ days: 1, minutes: 555 }).toMillis(),
        );
      }
    });
  }

  it("reads and writes Dhan's offset-less expiryTime as before", () => {
    for (const [, ms] of MOMENTS.slice(1)) {
      const text = formatExpiryTime(ms, 'Asia/Kolkata');
      expect(text).toBe(LuxonDateTime.fromMillis(ms, { zone: 'Asia/Kolkata' }).toFormat("yyyy-MM-dd'T'HH:mm:ss.SSS"));
      expect(parseExpiryTime(text, 'Asia/Kolkata')).toBe(ms);
      expect(isoInZone(ms, 'Asia/Kolkata')).toBe(LuxonDateTime.fromMillis(ms, { zone: 'Asia/Kolkata' }).toISO());
    }
    expect(parseExpiryTime('2025-09-23 12:37:23', 'Asia/Kolkata')).toBe(Date.UTC(2025, 8, 23, 7, 7, 23));
  });

  it('leaves every other zone to luxon', () => {
    const ms = Date.UTC(2026, 2, 8, 7, 30);
    expect(isoInZone(ms, 'America/New_York')).toBe('2026-03-08T03:30:00.000-04:00');
    expect(isoInZone(ms, 'Asia/Kathmandu')).toBe('2026-03-08T13:15:00.000+05:45');
  });
});

describe('isTimeZoneName', () => {
  const cases: ReadonlyArray<readonly [string, boolean]> = [
    ['Asia/Kolkata', true],
    ['UTC', true],
    ['Etc/GMT', true],
    ['utc', true],
    ['Europe/London', true],
    ['America/New_York', true],
    ['Asia/Mumbai', false],
    ['IST+5', false],
    ['', false],
  ];
  for (const [name, valid] of cases) {
    it(`${JSON.stringify(name)} → ${valid}`, () => {
      expect(isTimeZoneName(name)).toBe(valid);
    });
  }
});
