import { performance } from 'node:perf_hooks';

/**
 * Node's fetch records a performance timeline entry for every request and keeps the first 250
 * for the life of the process, each with its full URL. Dhan's token generation carries the PIN
 * and a TOTP code in its query string, a Telegram channel's URL holds its bot token and a
 * webhook's may hold one too, so a keeper's first 250 calls kept those secrets in memory for
 * nobody (a heap snapshot or a core dump would show them), at about half a KB a call. The
 * keeper reads no resource timings, so none are kept: already buffered ones are dropped, later
 * ones are not buffered at all.
 */
export function keepNoFetchTimings(): void {
  performance.clearResourceTimings();
  performance.setResourceTimingBufferSize(0);
}
