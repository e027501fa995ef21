import { createServer } from 'node:http';
import { setTimeout as delay } from 'node:timers/promises';
import type { AddressInfo } from 'node:net';
import { systemClock } from '../clock.js';
import { ApiKeyRing } from './auth.js';
import { CallbackRateLimit } from './consent-callback.js';
import { ConnectionGuard } from './connection-guard.js';
import type { ServerDeps } from './route.js';
import { createHandler } from './handler.js';
import { assertSafeBind, hostPort, listen } from './listen.js';
import { RequestCounter } from './in-flight.js';
import { LongPolls } from './long-polls.js';
import { MAX_WAIT_SECONDS } from './query.js';
import { TokenAnswers } from './token-answer.js';
import { RejectionLog } from './rejections.js';
import type { RunningServer, ServerOptions } from './server-api.js';
import { createUiDeps } from './ui-deps.js';

const DEFAULT_MAX_LONG_POLLS = 256;

/*
 * Limits against slow or abusive clients. A request is only its headers (bodies are
 * refused), so 10 s to send them is generous and bounds slowloris. requestTimeout only
 * runs until the request is fully received, but we keep it above the longest long-poll
 * so that no Node version cuts a legitimate wait. The checking interval defaults to 30 s,
 * which would let a stalled client linger that long past headersTimeout; every 5 s bounds it
 * to 15 s without waking an idle keeper every second (strangers are cut after 3 s anyway, by
 * the ConnectionGuard).
 */
const LIMITS = {
  maxHeaderSize: 8 * 1024,
  headersTimeout: 10_000,
  requestTimeout: (MAX_WAIT_SECONDS + 30) * 1000,
  keepAliveTimeout: 5_000,
  connectionsCheckingInterval: 5_000,
} as const;
// Far above what a handful of bots and a Prometheus need; bounds file descriptors.
const MAX_CONNECTIONS = 1024;
// A connection without a valid key gets this long to send a request, and this long idle after
// an answer: a bot, a health check or a scrape asks at once (see ConnectionGuard).
const STRANGER_IDLE_MS = 3_000;
// One log line per source and reason per minute under a flood of refused requests.
const REJECTION_LOG_INTERVAL_MS = 60_000;
const REJECTION_LOG_MAX_SOURCES = 64;
const CLOSE_GRACE_MS = 2_000;

/**
 * Serves the token API, /v1/status, /healthz, /readyz and /metrics on one port. Resolves
 * once listening; rejects with a KeeperError for an unsafe bind or a busy port.
 */
export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const { config } = options;
  assertSafeBind(config);
  const clock = options.clock ?? systemClock;
  const log = options.log.child({ component: 'server' });
  const polls = new LongPolls(options.maxLongPolls ?? config.maxLongPolls ?? DEFAULT_MAX_LONG_POLLS, clock);
  const rejections = new RejectionLog({
    log,
    clock,
    intervalMs: REJECTION_LOG_INTERVAL_MS,
    maxSources: REJECTION_LOG_MAX_SOURCES,
    ...(options.onRejected ? { count: options.onRejected } : {}),
  });
  const connections = new ConnectionGuard({
    max: options.maxConnections ?? MAX_CONNECTIONS,
    strangerIdleMs: STRANGER_IDLE_MS,
    onShed: () => rejections.record('(many)', 'connection-shed'),
  });
  const ui = options.ui ? createUiDeps(options.ui, options.provider, clock, options.timezone, log) : undefined;
  const deps: ServerDeps = {
    provider: options.provider,
    keys: new ApiKeyRing(config.apiKeys),
    polls,
    answers: new TokenAnswers(options.timezone),
    registry: options.metricsRegistry,
    zone: options.timezone,
    clock,
    log,
    consentCallback: options.consentCallback,
    callbackLimit: new CallbackRateLimit(clock),
    rejections,
    connections,
    ui,
  };

  let closing = false;
  const inFlight = new RequestCounter();
  const server = createServer(
    LIMITS,
    createHandler(deps, () => closing, inFlight),
  );
  // Instead of server.maxConnections, which refuses the newest connection and so lets a flood
  // of strangers lock the bots out.
  connections.attach(server);

  const unsubscribe = options.provider.onTokenChange((clientId) => {
    // This runs inside the keeper's swap: nothing here may throw back into it.
    try {
      polls.wake(clientId);
      ui?.events.changed();
    } catch (err) {
      log.error({ err, clientId }, 'waking long-polls failed');
    }
  });

  try {
    await listen(server, config.listen.host, config.listen.port);
  } catch (err) {
    unsubscribe();
    throw err;
  }
  // A string address only comes from pipes and Unix sockets; we listen on TCP.
  const address = server.address() as AddressInfo;
  const url = `http://${hostPort(address.address, address.port)}`;
  log.info({ url, keyNames: config.apiKeys.map((k) => k.name) }, 'HTTP server listening');

  let closed: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closed ??= (async () => {
      closing = true;
      unsubscribe();
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      polls.closeAll();
      ui?.events.closeAll();
      // Let the answers to parked long-polls and in-flight scrapes be written before the sockets
      // go, but never let a client that stopped reading hold the shutdown. Real time on purpose:
      // this bounds socket I/O, and a fake clock in a test must not hang close().
      await Promise.race([inFlight.drained(), delay(CLOSE_GRACE_MS, undefined, { ref: false })]);
      server.closeAllConnections();
      await stopped;
      rejections.flush();
      log.info({ url }, 'HTTP server closed');
    })();
    return closed;
  };
  return { url, close };
}
