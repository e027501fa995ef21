import { setFlagsFromString } from 'node:v8';

/**
 * V8 settings for the daemon's process, set at its start: before the first fetch and before
 * the start-up's collections, which is when each one matters.
 */
export function setDaemonV8Flags(): void {
  // fetch parses Dhan's answers with a WebAssembly build of llhttp. V8 first compiles it
  // quickly (Liftoff), then again optimised in a background thread whose ~30 MB of scratch
  // memory half the time stays in that thread's malloc arena: 13 MB of RSS for the life of
  // the daemon, to speed up parsing a few answers a second. The token API's own parser is
  // native and unaffected.
  setFlagsFromString('--liftoff-only');
  // V8 watches how many of the objects made at each place in the code outlive a young
  // collection, and once most do, makes that place allocate straight into the old generation.
  // A cold start (thousands of tokens generated, every account's objects kept) taught it that
  // about Node's own HTTP request objects, which the token API then made 75,000 times a second
  // and dropped at once: the old generation filled at about 11 MB/s, a full collection came
  // every 0.8 s, and the p99 stayed 3 to 4 times the bare server's. Without the feature the
  // keeper's long-lived objects are promoted by the young collections instead, once each.
  setFlagsFromString('--no-allocation-site-pretenuring');
}
