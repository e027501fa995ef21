import { createHook } from 'node:async_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { pinnedTickObject, pinTickObjectShape } from '../../src/tick-shape.js';

/** V8's own test helpers, reachable in a running process by compiling with the flag on. */
function v8Natives(): { haveSameMap: (a: object, b: object) => boolean; gc: () => void } {
  setFlagsFromString('--allow-natives-syntax');
  setFlagsFromString('--expose-gc');
  try {
    return {
      // eslint-disable-next-line @typescript-eslint/no-implied-eval -- the only way to reach V8's %HaveSameMap from a process started without the flag
      haveSameMap: new Function('a', 'b', 'return %HaveSameMap(a, b);') as (a: object, b: object) => boolean,
      gc: runInNewContext('gc') as () => void,
    };
  } finally {
    setFlagsFromString('--no-allow-natives-syntax');
    setFlagsFromString('--no-expose-gc');
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
  it('holds one of Node\'s own tick objects, with nothing else behind it', () => {
    pinTickObjectShape();
    const pinned = pinnedTickObject() as { callback?: { name: string }; args?: unknown } | undefined;
    expect(pinned).toBeDefined();
    expect(pinned?.callback?.name).toBe('noop');
    expect(pinned?.args).toBeUndefined();
  });

  it('keeps the hidden class tick objects get across full collections', async () => {
    const { haveSameMap, gc } = v8Natives();
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
