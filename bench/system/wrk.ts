import { execFileSync } from 'node:child_process';
import { cpuSeconds } from './proc-stats.js';

export interface LoadResult {
  readonly rps: number;
  readonly p99Ms: number;
  readonly non2xx: number;
  /** The server's CPU (user + system) per request answered, in µs; NaN when no process was watched. */
  readonly cpuUsPerRequest: number;
}

/** A server under load: where to send requests, and the process whose CPU they cost. */
export interface Target {
  readonly url: string;
  readonly pid: number;
}

export const WRK = {
  threads: 1,
  connections: 32,
  seconds: Number(process.env['BENCH_WRK_SECONDS'] ?? 3),
  warmSeconds: Number(process.env['BENCH_WARM_SECONDS'] ?? 10),
} as const;

/**
 * A run before the measured rounds, so that neither side is measured while V8 is still
 * optimising its request path and growing its young generation. The keeper's path is several
 * times the bare server's: after a start it made about 200 optimisations in its first 2 s of
 * load, 60 in the next 2, and 7 by the fifth, and its p99 came down over the same time
 * (6.5, 2.3, 1.8, 1.6 ms at 1,000 accounts); after 1 s of warming its measured rounds were
 * still in that descent. Its own figures are reported: what the first seconds of load cost.
 */
export function warmWrk(url: string, headers: Readonly<Record<string, string>> = {}, serverPid?: number): LoadResult {
  return wrk(url, headers, serverPid, WRK.warmSeconds);
}

/** One bounded wrk run against a loopback URL; wrk is a separate process, so it measures what a client sees. */
export function wrk(
  url: string,
  headers: Readonly<Record<string, string>> = {},
  serverPid?: number,
  seconds: number = WRK.seconds,
): LoadResult {
  if (!/^http:\/\/127\.0\.0\.1:/.test(url)) throw new Error(`load tests only on loopback, not ${url}`);
  const args = ['-t', String(WRK.threads), '-c', String(WRK.connections), '-d', `${seconds}s`, '--latency'];
  for (const [name, value] of Object.entries(headers)) args.push('-H', `${name}: ${value}`);
  const cpuBefore = serverPid === undefined ? Number.NaN : cpuSeconds(serverPid);
  const out = execFileSync('wrk', [...args, url], { encoding: 'utf8', timeout: (seconds + 30) * 1000 });
  const cpuUsed = serverPid === undefined ? Number.NaN : cpuSeconds(serverPid) - cpuBefore;
  const requests = Number(/(\d+) requests in/.exec(out)?.[1]);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]);
  const p99 = /\s99%\s+([\d.]+)(us|ms|s)\b/.exec(out);
  const scale = p99?.[2] === 'us' ? 0.001 : p99?.[2] === 's' ? 1000 : 1;
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0);
  return { rps, p99Ms: p99 ? Number(p99[1]) * scale : Number.NaN, non2xx, cpuUsPerRequest: (cpuUsed * 1e6) / requests };
}

export function haveWrk(): boolean {
  try {
    execFileSync('wrk', ['--version'], { stdio: 'ignore' });
    return true;
  } catch (err) {
    // wrk --version exits 1 after printing its version; only a missing binary is ENOENT.
    return (err as NodeJS.ErrnoException).code !== 'ENOENT';
  }
}

export interface Comparison {
  readonly bare: LoadResult;
  readonly keeper: LoadResult;
  /** The keeper's warm-up run: its first seconds of this load. */
  readonly keeperWarming: LoadResult;
}

/**
 * Alternating rounds of the baseline and the keeper, best round of each: on a shared machine a
 * neighbour's burst lands in one round, and the best round is the one it spared. Both sides get
 * the same treatment, so the ratio stays fair. Requests per second and p99 come from the round
 * with the most requests; CPU per request is each side's lowest, which a slow phase of a shared
 * machine moves less than throughput (it stretches the client and the server alike).
 */
export function compare(bare: Target, keeper: Target, headers: Readonly<Record<string, string>> = {}): Comparison {
  const rounds = Number(process.env['BENCH_ROUNDS'] ?? 3);
  const best = (a: LoadResult | undefined, b: LoadResult): LoadResult => {
    if (a === undefined) return b;
    const faster = b.rps > a.rps ? b : a;
    return { ...faster, cpuUsPerRequest: Math.min(a.cpuUsPerRequest, b.cpuUsPerRequest) };
  };
  let bareBest: LoadResult | undefined;
  let keeperBest: LoadResult | undefined;
  warmWrk(bare.url, headers, bare.pid);
  const keeperWarming = warmWrk(keeper.url, headers, keeper.pid);
  for (let i = 0; i < rounds; i++) {
    bareBest = best(bareBest, wrk(bare.url, headers, bare.pid));
    keeperBest = best(keeperBest, wrk(keeper.url, headers, keeper.pid));
  }
  return { bare: bareBest!, keeper: keeperBest!, keeperWarming };
}
