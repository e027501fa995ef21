import { connect, type Socket } from 'node:net';

/**
 * One of the long-poll measurement's client processes (see long-poll.ts): parks its share of
 * the requests, says so, and reports when each answer's first bytes arrived, on the clock all
 * the processes share. Raw sockets rather than node:http: the answers are a few hundred bytes,
 * one read each, and the client's own parsing is not what is measured.
 */

export type ClientMessage =
  | { readonly type: 'parked' }
  | { readonly type: 'result'; readonly arrivals: readonly number[]; readonly refused: number };

export interface ClientArgs {
  readonly url: string;
  readonly count: number;
  readonly headers: Readonly<Record<string, string>>;
}

const args = JSON.parse(process.argv[2] ?? '{}') as ClientArgs;
const send = (message: ClientMessage): void => {
  process.send?.(message);
};
/** Unix time in ms, comparable across processes. */
const now = (): number => performance.timeOrigin + performance.now();

const target = new URL(args.url);
const extra = Object.entries(args.headers)
  .map(([name, value]) => `${name}: ${value}\r\n`)
  .join('');
const request = `GET ${target.pathname}${target.search} HTTP/1.1\r\nHost: ${target.host}\r\n${extra}Connection: close\r\n\r\n`;

const arrivals: number[] = [];
let refused = 0;
let settled = 0;
let written = 0;
let reported = false;

function report(): void {
  if (reported) return;
  reported = true;
  send({ type: 'result', arrivals, refused });
}

function park(): void {
  const socket: Socket = connect(Number(target.port), target.hostname);
  let answered = false;
  const settle = (ok: boolean): void => {
    if (answered) return;
    answered = true;
    if (!ok) refused++;
    if (++settled === args.count) report();
  };
  socket.setNoDelay(true);
  socket.once('connect', () => {
    socket.write(request, () => {
      if (++written === args.count) send({ type: 'parked' });
    });
  });
  socket.once('data', (chunk: Buffer) => {
    const at = now();
    // "HTTP/1.1 200 ": the status is all that is read.
    const ok = chunk.toString('latin1', 9, 12) === '200';
    if (ok) arrivals.push(at);
    settle(ok);
    socket.destroy();
  });
  socket.once('error', () => settle(false));
  socket.once('close', () => settle(false));
}

for (let i = 0; i < args.count; i++) park();
// The parent asks for what arrived so far when its own deadline passes, and ends this process.
process.on('message', () => report());
