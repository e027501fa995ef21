import { Agent, request } from 'node:http';

export interface WakeResult {
  readonly parked: number;
  readonly refused: number;
  /** How long after the first woken consumer the others had their answer: the fan-out cost. */
  readonly spreadP50Ms: number;
  readonly spreadP99Ms: number;
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
}

/**
 * Parks `count` requests at `url`, waits until they are all in, calls `trigger`, and times
 * when each answer arrives. Measured from the first answer rather than from the trigger,
 * because the moment a keeper swaps its token is not visible from outside; what grows with
 * 1,000 parked consumers is the spread between the first and the last.
 */
export async function parkAndWake(url: string, count: number, headers: Readonly<Record<string, string>>, trigger: () => Promise<void>): Promise<WakeResult> {
  const agent = new Agent({ keepAlive: false, maxSockets: Infinity });
  const arrivals: number[] = [];
  let refused = 0;
  const done = Array.from({ length: count }, () =>
    new Promise<void>((resolve) => {
      const req = request(url, { agent, headers }, (res) => {
        res.resume();
        res.on('end', () => {
          if (res.statusCode === 200) arrivals.push(performance.now());
          else refused++;
          resolve();
        });
      });
      req.on('error', () => {
        refused++;
        resolve();
      });
      req.end();
    }),
  );
  // Parking is not observable from outside either; 1,000 loopback requests are in well within this.
  await new Promise((resolve) => setTimeout(resolve, 3_000));
  await trigger();
  await Promise.race([Promise.all(done), new Promise((resolve) => setTimeout(resolve, 60_000))]);
  agent.destroy();
  arrivals.sort((a, b) => a - b);
  const first = arrivals[0] ?? 0;
  const spread = arrivals.map((t) => t - first);
  return { parked: arrivals.length, refused, spreadP50Ms: percentile(spread, 50), spreadP99Ms: percentile(spread, 99) };
}
