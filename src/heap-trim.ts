import { performance } from 'node:perf_hooks';
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Logger } from './log.js';

/*
 * A start-up, and above all a cold start that generates thousands of tokens, leaves V8 with a
 * heap several times what the keeper then keeps alive (1,000 accounts: 30 MB live in 95 MB;
 * 10,000: a few hundred MB), and V8 gives that back to the system only slowly or not at all:
 * the young generation stays at its largest, old pages stay half empty. Once the keeper has
 * gone quiet, one memory-reducing collection returns it. It runs only after the heap grew and
 * when the event loop has been nearly idle for a whole check (10 s), so a busy keeper never
 * pauses for it; the pause is that of a full collection.
 *
 * A full collection used to cost the token API a quarter to a third more CPU a request for the
 * rest of the process's life, when it came before the request path had run hot: it dropped the
 * hidden classes of Node's tick objects (V8's own memory reducer, about 8 s after a start goes
 * quiet, did the same). The daemon now holds one tick object from its start (tick-shape.ts),
 * and neither collection does that harm.
 */
const CHECK_EVERY_MS = 10_000;
// Small enough that the first quiet moment after any start-up trims (1,000 accounts warm:
// 26 MB of heap, 19 MB after), large enough that ordinary churn of a few MB never does.
const MIN_GROWTH_BYTES = 8 * 1024 * 1024;
// 10,000 accounts' probes alone keep the loop about 5% busy: quiet is below a quarter.
const QUIET_UTILIZATION = 0.25;

/** Without options: one synchronous full collection, which also shrinks the young generation. */
type Collect = () => void;

let collector: Collect | null | undefined;

/** V8's own collector, made reachable the documented way for a process started without --expose-gc. */
export function fullCollector(): Collect | undefined {
  if (collector === undefined) {
    try {
      setFlagsFromString('--expose-gc');
      collector = runInNewContext('gc') as Collect;
      setFlagsFromString('--no-expose-gc');
    } catch {
      collector = null;
    }
  }
  return collector ?? undefined;
}

/**
 * Worth a collection when the heap grew by more than 8 MB and by half since the last trim:
 * how much of it is garbage only a full collection can tell, and after one the heap is what
 * the keeper keeps alive, so the next trim waits for real growth.
 */
export function worthTrimming(totalBytes: number, afterLastTrimBytes: number): boolean {
  return totalBytes - afterLastTrimBytes > MIN_GROWTH_BYTES && totalBytes > afterLastTrimBytes * 1.5;
}

/** Starts the checks; the timer is unref'd and the caller clears it on stop. */
export function startHeapTrim(log: Logger): NodeJS.Timeout {
  let last = performance.eventLoopUtilization();
  let afterLastTrim = 0;
  const timer = setInterval(() => {
    const now = performance.eventLoopUtilization();
    const busy = performance.eventLoopUtilization(now, last).utilization;
    last = now;
    const before = getHeapStatistics();
    if (busy > QUIET_UTILIZATION || !worthTrimming(before.total_heap_size, afterLastTrim)) return;
    const gc = fullCollector();
    if (!gc) return;
    const started = performance.now();
    gc();
    const after = getHeapStatistics();
    afterLastTrim = after.total_heap_size;
    const mb = (bytes: number): number => Math.round(bytes / 1048576);
    log.debug(
      {
        heapMbBefore: mb(before.total_heap_size),
        heapMbAfter: mb(after.total_heap_size),
        liveMb: mb(after.used_heap_size),
        ms: Math.round(performance.now() - started),
      },
      'returned unused heap to the system',
    );
    last = performance.eventLoopUtilization();
  }, CHECK_EVERY_MS);
  timer.unref();
  return timer;
}
