import {
  FixedOffsetZone,
  IANAZone,
  Settings,
  Zone,
  type DateTimeOptions,
  type ZoneOffsetFormat,
  type ZoneOffsetOptions,
} from 'luxon';

/**
 * luxon as the keeper uses it: import DateTime from here, never from 'luxon', so that what follows
 * holds wherever a moment is read or written.
 *
 * It keeps ICU out of the process where it can. luxon reads an IANA zone's offset through
 * `Intl.DateTimeFormat`, and the first such formatter makes V8 load ICU's time-zone, calendar and
 * locale data: about 8 MB of the process's memory for its whole life, for a default zone
 * (Asia/Kolkata) whose offset has been +05:30 since 1945. A zone in STEADY answers its offset by
 * arithmetic from that date on, and asks ICU (through luxon's IANAZone, created on first need)
 * only for a moment before it or for a zone's printed name. Every other zone is luxon's
 * IANAZone, unchanged.
 *
 * The locale is fixed for the same reason: without one, luxon asks ICU for the host's the first
 * time it makes any DateTime or Duration. The keeper's formats are numeric, so nothing it prints
 * changes, and a host locale with other digits can no longer change how a token's expiry reads.
 */
Settings.defaultLocale = 'en-US';

export { DateTime } from 'luxon';

interface Steady {
  readonly offsetMinutes: number;
  /** Epoch ms from which the offset has not changed (the tz database's last transition). */
  readonly sinceMs: number;
}

// The end of war time: 1945-10-15 00:00 at +06:30.
const IST: Steady = { offsetMinutes: 330, sinceMs: Date.UTC(1945, 9, 14, 17, 30) };
const UTC: Steady = { offsetMinutes: 0, sinceMs: Number.NEGATIVE_INFINITY };

const STEADY: ReadonlyMap<string, Steady> = new Map([
  ['Asia/Kolkata', IST],
  ['Asia/Calcutta', IST],
  ['Etc/UTC', UTC],
  ['Etc/GMT', UTC],
]);

/** Names luxon itself reads as its own UTC zone, without ICU (and prints as "Z"). */
const LUXON_UTC = /^(utc|gmt)$/i;

/** An IANA zone whose offset is fixed from `sinceMs` on; behaves as luxon's IANAZone of that name. */
class SteadyZone extends Zone<true> {
  #history: IANAZone | undefined;

  constructor(
    private readonly zoneName: string,
    private readonly steady: Steady,
  ) {
    super();
  }

  /** luxon's zone before `sinceMs`, or for a zone's printed name: the only paths that reach ICU. */
  private history(): IANAZone {
    this.#history ??= IANAZone.create(this.zoneName);
    return this.#history;
  }

  override get type(): string {
    return 'iana';
  }

  override get name(): string {
    return this.zoneName;
  }

  /** luxon asks; the answer is the IANA name, as IANAZone's. */
  get ianaName(): string {
    return this.zoneName;
  }

  override get isUniversal(): boolean {
    return false;
  }

  override offsetName(ts: number, options: ZoneOffsetOptions): string {
    return this.history().offsetName(ts, options) ?? '';
  }

  override formatOffset(ts: number, format: ZoneOffsetFormat): string {
    return FixedOffsetZone.instance(this.offset(ts)).formatOffset(ts, format);
  }

  override offset(ts: number): number {
    return ts >= this.steady.sinceMs ? this.steady.offsetMinutes : this.history().offset(ts);
  }

  override equals(other: Zone): boolean {
    return other.type === 'iana' && other.name === this.zoneName;
  }

  override get isValid(): true {
    return true;
  }
}

const steadyZones = new Map<string, SteadyZone>();

/** What to give luxon for a configured zone name: a SteadyZone where one exists, else the name. */
function zoneFor(name: string): Zone | string {
  const steady = STEADY.get(name);
  if (steady === undefined) return name;
  let zone = steadyZones.get(name);
  if (zone === undefined) steadyZones.set(name, (zone = new SteadyZone(name, steady)));
  return zone;
}

/** luxon's options for a moment in the zone named `zoneName`. */
export function inZone(zoneName: string): DateTimeOptions {
  return { zone: zoneFor(zoneName) };
}

/** Whether `name` is a time zone luxon can use; the steady ones are known without asking ICU. */
export function isTimeZoneName(name: string): boolean {
  return STEADY.has(name) || LUXON_UTC.test(name) || IANAZone.isValidZone(name);
}
