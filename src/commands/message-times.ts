import { isoInZone } from '../time-format.js';

const UTC_ISO = /\b\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,3})?Z\b/g;

/**
 * The CLI prints every time in the config's zone (dhan.timezone, IST by default), as `status`
 * and `history` do. Outcomes come from the keeper (possibly another process) with UTC instants
 * in them; they are rewritten here, where the zone is known.
 */
export function timesInZone(message: string, zone: string): string {
  return message.replace(UTC_ISO, (iso) => {
    const ms = Date.parse(iso);
    return Number.isNaN(ms) ? iso : isoInZone(ms, zone);
  });
}
