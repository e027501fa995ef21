import type { Clock } from '../clock.js';
import type { Config } from '../config/config.js';
import { DhanClient } from '../dhan/index.js';
import { keepNoFetchTimings } from '../fetch-timings.js';
import type { DhanCallReport } from '../dhan/dhan-api.js';
import type { Logger } from '../log.js';
import { Publisher, type SinkResult } from '../publish/index.js';
import type { AsyncStore } from '../store/contract.js';
import type { LeaderFence } from '../store/postgres/leadership.js';
import { VERSION } from '../version.js';
import type { WorkerHooks } from './account-worker.js';
import { Keeper } from './keeper.js';
import type { SweepStarter } from './sweep.js';

export interface AssembleOptions {
  readonly clock: Clock;
  readonly log: Logger;
  readonly hooks?: Partial<WorkerHooks>;
  readonly onDhanCall?: (report: DhanCallReport) => void;
  readonly onSinkResult?: (result: SinkResult) => void;
  readonly startSweep?: SweepStarter;
  readonly random?: () => number;
  /** Tests shorten hook and webhook retry delays. */
  readonly sinkRetryBaseMs?: number;
  /** Several keepers on one database: only the leader acts on Dhan. */
  readonly leadership?: { fence(): LeaderFence | undefined };
}

/**
 * Wires one keeper from a validated config and an open store, the same way for the daemon,
 * the one-shot commands and the tests, so that what is tested is what runs.
 */
export function assembleKeeper(config: Config, store: AsyncStore, options: AssembleOptions): Keeper {
  const { clock, log } = options;
  keepNoFetchTimings();
  const dhan = new DhanClient({
    authBaseUrl: config.dhan.authBaseUrl,
    apiBaseUrl: config.dhan.apiBaseUrl,
    timezone: config.dhan.timezone,
    requestTimeoutMs: config.dhan.requestTimeoutMs,
    clock,
    userAgent: `dhan-token-keeper/${VERSION}`,
    ...(options.onDhanCall ? { onCall: options.onDhanCall } : {}),
  });
  const publisher = new Publisher({
    sinks: config.accounts,
    timezone: config.dhan.timezone,
    clock,
    log,
    ...(options.sinkRetryBaseMs === undefined ? {} : { retryBaseMs: options.sinkRetryBaseMs }),
    onResult: (result) => {
      // Every sink outcome is history (docs/promises.md, promise 5); a success of a plain file write is too
      // routine to keep, unless it needed retries.
      if (!result.ok || result.type !== 'file' || result.attempts > 1) {
        store
          .addEvent({
            clientId: result.clientId,
            at: clock.now(),
            kind: 'sink',
            result: result.ok ? 'success' : 'failure',
            message: result.ok ? `${result.sink}: delivered` : `${result.sink}: ${result.error ?? 'failed'}`,
            durationMs: Math.round(result.durationMs),
            detail: {
              sink: result.sink,
              attempts: result.attempts,
              ...(result.exitCode === undefined ? {} : { exitCode: result.exitCode }),
              ...(result.httpStatus === undefined ? {} : { httpStatus: result.httpStatus }),
            },
          })
          .catch((err: unknown) =>
            log.error({ err: err instanceof Error ? err.message : String(err) }, 'could not record a sink result'),
          );
      }
      if (!result.ok)
        log.warn(
          { clientId: result.clientId, sink: result.sink, attempts: result.attempts },
          `sink failed: ${result.error ?? 'unknown error'}`,
        );
      options.onSinkResult?.(result);
    },
  });
  return new Keeper({
    config,
    store,
    dhan,
    consentDhan: dhan,
    clock,
    log,
    publisher,
    ...(options.hooks ? { hooks: options.hooks } : {}),
    ...(options.startSweep ? { startSweep: options.startSweep } : {}),
    ...(options.random ? { random: options.random } : {}),
    ...(options.leadership ? { leadership: options.leadership } : {}),
  });
}
