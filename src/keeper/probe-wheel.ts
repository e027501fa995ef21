import type { Clock, Timer } from '../clock.js';

/**
 * Probe moments gathered into slots of `slotMs`, with one timer for the earliest slot rather
 * than one per account. Probes are spread over their interval on purpose, so with 10,000
 * accounts a timer per account woke the process 11 times a second for one HTTP call each, and
 * a wake-up costs a quiet process more CPU than the call. A slot of a few seconds turns that
 * into one wake-up per slot whose calls run back to back (still through the Dhan limiter), and
 * holds one map entry per account instead of a timer and its closures.
 */
export class ProbeWheel<T> {
  private readonly slots = new Map<number, Set<T>>();
  private readonly slotOf = new Map<T, number>();
  private timer: Timer | undefined;
  private armedSlot: number | undefined;

  constructor(
    private readonly clock: Clock,
    private readonly slotMs: number,
    private readonly onDue: (item: T) => void,
  ) {}

  /**
   * Due at the start of the slot holding `at`: up to one slot early, never late, because a late
   * probe would stretch the time a killed token sits in the sinks past the probe interval
   * docs/how-it-works.md promises. A moment in the slot under way is due at the next boundary, not in the past.
   */
  schedule(item: T, at: number): void {
    this.cancel(item);
    const slot = Math.max(Math.floor(at / this.slotMs), Math.ceil(this.clock.now() / this.slotMs));
    let members = this.slots.get(slot);
    if (members === undefined) {
      members = new Set();
      this.slots.set(slot, members);
    }
    members.add(item);
    this.slotOf.set(item, slot);
    if (this.armedSlot === undefined || slot < this.armedSlot) this.arm(slot);
  }

  cancel(item: T): void {
    const slot = this.slotOf.get(item);
    if (slot === undefined) return;
    this.slotOf.delete(item);
    const members = this.slots.get(slot);
    members?.delete(item);
    // An emptied slot keeps its timer: firing on nothing once is cheaper than finding the next slot.
    if (members?.size === 0) this.slots.delete(slot);
  }

  /** How many items wait for a slot. */
  get size(): number {
    return this.slotOf.size;
  }

  clear(): void {
    this.timer?.cancel();
    this.timer = undefined;
    this.armedSlot = undefined;
    this.slots.clear();
    this.slotOf.clear();
  }

  private arm(slot: number): void {
    this.timer?.cancel();
    this.armedSlot = slot;
    this.timer = this.clock.setTimer(Math.max(0, slot * this.slotMs - this.clock.now()), () => this.fire());
  }

  private fire(): void {
    this.timer = undefined;
    this.armedSlot = undefined;
    const nowSlot = Math.floor(this.clock.now() / this.slotMs);
    const due: T[] = [];
    for (const [slot, members] of this.slots) {
      if (slot > nowSlot) continue;
      for (const item of members) {
        due.push(item);
        this.slotOf.delete(item);
      }
      this.slots.delete(slot);
    }
    // Armed before the callbacks, which schedule their own next probes (into later slots).
    this.armEarliest();
    for (const item of due) this.onDue(item);
  }

  private armEarliest(): void {
    let earliest: number | undefined;
    for (const slot of this.slots.keys()) if (earliest === undefined || slot < earliest) earliest = slot;
    if (earliest !== undefined) this.arm(earliest);
  }
}
