import { DateTime, inZone } from './luxon.js';

/**
 * ISO 8601 with an explicit offset in the trader's zone (e.g. "2026-07-08T07:41:12.284+05:30"):
 * unambiguous for programs, readable for people who think in IST.
 */
export function isoInZone(ms: number, zone: string): string {
  const iso = DateTime.fromMillis(ms, inZone(zone)).toISO();
  // Only an invalid zone yields null, and config validation rules that out; UTC keeps output valid regardless.
  return iso ?? new Date(ms).toISOString();
}

/** "3h 12m", "45s", "-2m" (already past): for humans reading `status`. */
export function humanDuration(ms: number): string {
  const sign = ms < 0 ? '-' : '';
  let s = Math.floor(Math.abs(ms) / 1000);
  const d = Math.floor(s / 86400);
  s -= d * 86400;
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  const parts: string[] = [];
  if (d) parts.push(`${d}d`);
  if (h) parts.push(`${h}h`);
  if (m && !d) parts.push(`${m}m`);
  if (!d && !h && (s || parts.length === 0)) parts.push(`${s}s`);
  return sign + parts.join(' ');
}
