import { createHook } from 'node:async_hooks';

/*
 * Every HTTP request the token API answers goes through process.nextTick several times, and
 * each call builds Node's tick object: a literal whose first two keys are symbols. V8 keeps the
 * hidden classes (maps) of such objects only while something holds one. Tick objects live for
 * a moment, so a full collection (V8's memory reducer about 8 s after a start goes quiet, or the
 * heap trim) that runs while none is alive drops those maps, and the optimised request path
 * then builds every tick object through the runtime's slow path, re-optimising as it goes, for
 * the life of the process: measured on Node 20, the token API cost a quarter to a third more
 * CPU a request, and perf showed Runtime_DefineKeyedOwnPropertyInLiteral and map migrations
 * where a keeper loaded early shows none. Holding one tick object keeps the maps alive. An
 * object literal of our own with the same keys does not share them; the only way to hold a
 * real one is to see it created, so an init hook is on for exactly one nextTick call.
 */
let pinned: object | undefined;

/** Called once, at the daemon's start; without effect where Node builds no tick object. */
export function pinTickObjectShape(): void {
  if (pinned !== undefined) return;
  const hook = createHook({
    init(_asyncId, type, _triggerAsyncId, resource) {
      if (type === 'TickObject') pinned = resource;
    },
  });
  hook.enable();
  try {
    // A callback that holds nothing, so that the pinned object keeps nothing else alive.
    process.nextTick(noop);
  } finally {
    hook.disable();
  }
}

function noop(): void {}

/** The tick object held, for the test that proves it keeps the maps on this Node. */
export function pinnedTickObject(): object | undefined {
  return pinned;
}
