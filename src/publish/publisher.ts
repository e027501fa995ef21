import type { Clock } from '../clock.js';
import type { SinkConfig } from '../config/config.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import type { PublishedToken, StoredToken } from '../tokens.js';
import { checkSinks, type SinkAccount } from './check-sinks.js';
import { runExecSink } from './exec-sink.js';
import { runFileSink } from './file-sink.js';
import { fingerprint, toPublished } from './payload.js';
import { redactor } from './redact.js';
import { retryDelays } from './retry.js';
import type { SinkContext } from './sink-context.js';
import { sinkNames, type SinkOutcome, type SinkResult } from './sink-result.js';
import { runWebhookSink } from './webhook-sink.js';

/** An account's sinks, looked up on every publish so that a reloaded config applies at once. */
export type SinkLookup = (clientId: string) => readonly SinkConfig[] | undefined;

export interface PublisherOptions {
  readonly sinks: SinkLookup | readonly SinkAccount[];
  /** Zone of the ISO times consumers receive. */
  readonly timezone: string;
  readonly clock: Clock;
  readonly log: Logger;
  /** Called as soon as each sink finishes, before slower sinks of the same publish. Must not throw. */
  readonly onResult?: (result: SinkResult) => void;
  /** First retry delay of hooks and webhooks (default 1 s); the second is four times longer. */
  readonly retryBaseMs?: number;
  /** Between SIGTERM and SIGKILL for a hook past its timeout (default 2 s). */
  readonly killGraceMs?: number;
}

interface FileLane {
  tail: Promise<unknown>;
  newestTokenId: number;
}

/**
 * Delivers a new token to an account's sinks, all at once: one slow or broken consumer must not
 * keep the others on a token that is about to die (docs/promises.md, promise 1).
 */
export class Publisher {
  private readonly lookup: SinkLookup;
  private readonly log: Logger;
  private readonly retryDelaysMs: readonly number[];
  private readonly killGraceMs: number;
  /** Per file path: writes run one at a time, and an older token never replaces a newer one. */
  private readonly fileLanes = new Map<string, FileLane>();

  constructor(private readonly options: PublisherOptions) {
    const sinks = options.sinks;
    if (typeof sinks === 'function') this.lookup = sinks;
    else {
      // A lookup per publish, and a start republishes every account: a scan here was quadratic
      // (2 s of a 10,000-account start).
      const byClient = new Map<string, readonly SinkConfig[]>();
      for (const account of sinks) if (!byClient.has(account.clientId)) byClient.set(account.clientId, account.sinks);
      this.lookup = (clientId) => byClient.get(clientId);
    }
    this.log = options.log.child({ component: 'publish' });
    this.retryDelaysMs = retryDelays(options.retryBaseMs ?? 1_000);
    this.killGraceMs = options.killGraceMs ?? 2_000;
  }

  /** Runs every sink of the account in parallel. Never throws: each sink's outcome is in the result. */
  async publish(clientId: string, token: StoredToken, signal?: AbortSignal): Promise<SinkResult[]> {
    const sinks = this.lookup(clientId) ?? [];
    if (sinks.length === 0) return [];
    const names = sinkNames(sinks);
    const published = toPublished(token, this.options.timezone);
    const secrets = [token.accessToken, ...sinks.map((s) => (s.type === 'webhook' ? s.secret : undefined))];
    const redact = redactor(secrets);
    const mismatch = token.clientId === clientId ? undefined : 'the token belongs to another account; not published';

    const settled = await Promise.allSettled(
      sinks.map((sink, i) =>
        this.runSink(clientId, names[i] ?? sink.type, sink, published, token, { signal, redact, mismatch }),
      ),
    );
    return settled.map((s, i) => {
      if (s.status === 'fulfilled') return s.value;
      // runSink catches everything; this only guards against a bug in it.
      const sink = sinks[i];
      return {
        clientId,
        sink: names[i] ?? 'unknown',
        type: sink?.type ?? 'file',
        ok: false,
        attempts: 0,
        durationMs: 0,
        error: redact(errorMessage(s.reason)),
      };
    });
  }

  /** Start-up checks for every account's sinks; one line per problem. */
  checkSinks(accounts: readonly SinkAccount[]): Promise<string[]> {
    return checkSinks(accounts);
  }

  private async runSink(
    clientId: string,
    name: string,
    sink: SinkConfig,
    published: PublishedToken,
    token: StoredToken,
    run: { signal: AbortSignal | undefined; redact: (text: string) => string; mismatch: string | undefined },
  ): Promise<SinkResult> {
    const startedAt = this.options.clock.now();
    const log = this.log.child({ clientId, sink: name });
    let outcome: SinkOutcome;
    try {
      if (run.mismatch !== undefined) outcome = { ok: false, attempts: 0, error: run.mismatch };
      else if (run.signal?.aborted) outcome = { ok: false, attempts: 0, error: 'stopped: publishing was aborted' };
      else {
        const ctx: SinkContext = {
          clock: this.options.clock,
          log,
          signal: run.signal,
          retryDelaysMs: this.retryDelaysMs,
          killGraceMs: this.killGraceMs,
          redact: run.redact,
        };
        switch (sink.type) {
          case 'file':
            outcome = await this.inFileLane(sink.path, token.id, () => runFileSink(sink, published));
            break;
          case 'exec':
            outcome = await runExecSink(sink, published, ctx);
            break;
          case 'webhook':
            outcome = await runWebhookSink(sink, published, ctx);
            break;
        }
      }
    } catch (err) {
      outcome = { ok: false, attempts: 1, error: errorMessage(err) };
    }

    const result: SinkResult = {
      clientId,
      sink: name,
      type: sink.type,
      durationMs: this.options.clock.now() - startedAt,
      ...outcome,
      ...(outcome.error === undefined ? {} : { error: run.redact(outcome.error) }),
    };
    // clientId and sink are already bound to `log`.
    const { clientId: _c, sink: _s, ...rest } = result;
    const fields = { ...rest, fingerprint: fingerprint(token.accessToken) };
    if (result.ok) log.info(fields, 'token published');
    else log.error(fields, 'token not published');
    try {
      this.options.onResult?.(result);
    } catch (err) {
      log.error({ error: run.redact(errorMessage(err)) }, 'onResult callback failed');
    }
    return result;
  }

  /**
   * Two publishes of one account can overlap (a manual renew during a scheduled one). Their
   * renames must not land out of order and leave the older token in the file.
   */
  private inFileLane(path: string, tokenId: number, write: () => Promise<SinkOutcome>): Promise<SinkOutcome> {
    const lane = this.fileLanes.get(path) ?? { tail: Promise.resolve(), newestTokenId: Number.NEGATIVE_INFINITY };
    this.fileLanes.set(path, lane);
    const next = lane.tail.then(async (): Promise<SinkOutcome> => {
      if (tokenId < lane.newestTokenId) return { ok: true, attempts: 0 };
      const outcome = await write();
      if (outcome.ok) lane.newestTokenId = Math.max(lane.newestTokenId, tokenId);
      return outcome;
    });
    lane.tail = next.catch(() => undefined);
    return next;
  }
}
