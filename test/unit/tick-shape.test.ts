import { createHook } from 'node:async_hooks';
import { setFlagsFromString } from 'node:v8';
import { describe, expect, it } from 'vitest';
import { fullCollector } from '../../src/heap-trim.js';
import { pinnedTickObject, pinTickObjectShape } from '../../src/tick-shape.js';

/** V8's own test helper, reachable in a running process by compiling with the flag on. */
function haveSameMapHelper(): (a: object, b: object) => boolean {
  setFlagsFromString('--allow-natives-syntax');
  try {
    // eslint-disable-next-line @typescript-eslint/no-implied-eval -- the only way to reach V8's %HaveSameMap from a process started without the flag
    return new Function('a', 'b', 'return %HaveSameMap(a, b);') as (a: object, b: object) => boolean;
  } finally {
    setFlagsFromString('--no-allow-natives-syntax');
  }
}

/** The tick object the next process.nextTick builds. */
function nextTickObject(): object {
  let seen: object | undefined;
  const hook = createHook({
    init(_asyncId, type, _triggerAsyncId, resource) {
      if (type === 'TickObject') seen = resource;
    },
  }).enable();
  process.nextTick(() => {});
  hook.disable();
  if (seen === undefined) throw new Error('this Node built no tick object');
  return seen;
}

describe('pinTickObjectShape', () => {
  it("holds one of Node's own tick objects, with nothing else behind it", () => {
    pinTickObjectShape();
    const pinned = pinnedTickObject() as { callback?: { name: string }; args?: unknown } | undefined;
    expect(pinned).toBeDefined();
    expect(pinned?.callback?.name).toBe('noop');
    expect(pinned?.args).toBeUndefined();
  });

  it('keeps the hidden class tick objects get across full collections', async () => {
    const haveSameMap = haveSameMapHelper();
    const gc = fullCollector();
    if (gc === undefined) throw new Error('no full collector in this process');
    pinTickObjectShape();
    const pinned = pinnedTickObject();
    if (pinned === undefined) throw new Error('nothing pinned');
    // Several collections with no tick object of ours alive, as in a quiet keeper.
    for (let i = 0; i < 3; i++) {
      await new Promise((resolve) => setImmediate(resolve));
      gc();
    }
    expect(haveSameMap(pinned, nextTickObject())).toBe(true);
  });
});
