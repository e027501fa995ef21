import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { ClientArgs, ClientMessage } from './long-poll-client.js';

export interface WakeResult {
  readonly parked: number;
  readonly refused: number;
  /** How long after the first woken consumer the others had their answer: the fan-out cost. */
  readonly spreadP50Ms: number;
  readonly spreadP99Ms: number;
}

/** Client processes the parked requests are split across (BENCH_LONG_POLL_CLIENTS). */
export const LONG_POLL_CLIENTS = Number(process.env['BENCH_LONG_POLL_CLIENTS'] ?? 4);
const clientScript = fileURLToPath(new URL('./long-poll-client.js', import.meta.url));

/** The p-th percentile of ascending values (nearest rank). */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
}

interface Client {
  readonly proc: ChildProcess;
  readonly parked: Promise<void>;
  readonly result: Promise<{ arrivals: readonly number[]; refused: number }>;
}

function startClient(args: ClientArgs): Client {
  const proc = fork(clientScript, [JSON.stringify(args)], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  let parked!: () => void;
  let result!: (r: { arrivals: readonly number[]; refused: number }) => void;
  const client: Client = {
    proc,
    parked: new Promise<void>((resolve) => (parked = resolve)),
    result: new Promise((resolve) => (result = resolve)),
  };
  proc.on('message', (message: ClientMessage) => {
    if (message.type === 'parked') parked();
    else result({ arrivals: message.arrivals, refused: message.refused });
  });
  // A client that dies without a report counts all its requests as refused.
  proc.once('exit', () => {
    parked();
    result({ arrivals: [], refused: args.count });
  });
  return client;
}

/**
 * Parks `count` requests at `url`, waits until they are all in, calls `trigger`, and times
 * when each answer arrives. Measured from the first answer rather than from the trigger,
 * because the moment a keeper swaps its token is not visible from outside; what grows with
 * 1,000 parked consumers is the spread between the first and the last.
 *
 * The requests come from several client processes (LONG_POLL_CLIENTS) on raw sockets, their
 * arrival times merged on the clock the processes share (performance.timeOrigin +
 * performance.now()). One node:http client process measured 243 ms for the bare server's own
 * wake-up, part of it the client reading 1,000 answers one after another; split, what is left
 * is mostly the server's 1,000 writes (and on a small machine, the client processes taking
 * turns with it for the cores), which is why the bare server's figure stays beside ours.
 */
export async function parkAndWake(
  url: string,
  count: number,
  headers: Readonly<Record<string, string>>,
  trigger: () => Promise<void>,
): Promise<WakeResult> {
  const clients: Client[] = [];
  for (let i = 0; i < LONG_POLL_CLIENTS; i++) {
    const share = Math.floor(count / LONG_POLL_CLIENTS) + (i < count % LONG_POLL_CLIENTS ? 1 : 0);
    if (share > 0) clients.push(startClient({ url, count: share, headers }));
  }
  try {
    await Promise.all(clients.map((c) => c.parked));
    // Parking is not observable from outside either; 1,000 loopback requests are in well within this.
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    await trigger();
    const deadline = setTimeout(() => {
      for (const c of clients) if (c.proc.connected) c.proc.send('report');
    }, 60_000);
    const results = await Promise.all(clients.map((c) => c.result));
    clearTimeout(deadline);
    const arrivals = results.flatMap((r) => r.arrivals).sort((a, b) => a - b);
    const refused = results.reduce((n, r) => n + r.refused, 0);
    const first = arrivals[0] ?? 0;
    const spread = arrivals.map((t) => t - first);
    return {
      parked: arrivals.length,
      refused,
      spreadP50Ms: percentile(spread, 50),
      spreadP99Ms: percentile(spread, 99),
    };
  } finally {
    for (const c of clients) if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill();
  }
}
