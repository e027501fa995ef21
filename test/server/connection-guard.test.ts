import { EventEmitter } from 'node:events';
import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { ConnectionGuard } from '../../src/server/connection-guard.js';

/** Just what the guard uses of a socket: its close event and destroy(). */
class FakeSocket extends EventEmitter {
  destroyed = false;
  constructor(readonly name: string) {
    super();
  }
  destroy(): void {
    this.destroyed = true;
    this.emit('close');
  }
}

describe('ConnectionGuard when full', () => {
  it('drops the stranger idle longest, never a busy or trusted connection, and refuses when none is left', () => {
    const shed: string[] = [];
    const guard = new ConnectionGuard({ max: 3, strangerIdleMs: 60_000, onShed: (why) => shed.push(why) });
    const server = new EventEmitter();
    guard.attach(server as unknown as Server);
    const sockets = new Map<string, FakeSocket>();
    const connect = (name: string): FakeSocket => {
      const socket = new FakeSocket(name);
      sockets.set(name, socket);
      server.emit('connection', socket);
      return socket;
    };
    const as = (socket: FakeSocket): Socket => socket as unknown as Socket;
    const dropped = (): string[] => [...sockets.values()].filter((s) => s.destroyed).map((s) => s.name);

    const a = connect('a');
    const b = connect('b');
    connect('c');
    guard.begin(as(a)); // a is being answered
    connect('d');
    expect(dropped()).toEqual(['b']);

    guard.end(as(a), true); // a carried a valid key: never dropped
    guard.begin(as(sockets.get('c')!));
    guard.end(as(sockets.get('c')!), false); // c idled again, after d
    connect('e');
    expect(dropped()).toEqual(['b', 'd']);

    guard.begin(as(sockets.get('c')!));
    guard.begin(as(sockets.get('e')!));
    connect('f'); // a trusted, c and e busy: nothing may go
    expect(dropped()).toEqual(['b', 'd', 'f']);
    expect(shed).toEqual(['evicted', 'evicted', 'refused']);
    expect(guard.size).toBe(3);
    expect(b.destroyed).toBe(true);
  });
});
