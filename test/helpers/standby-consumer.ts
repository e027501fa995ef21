import { sleep } from './cli.js';

/*
 * A bot that follows one account's token by long-polling a keeper's token API (a standby, the
 * same one until it fails or starts to lead), and a judge that asks the simulator every `sampleEveryMs` whether the token the bot
 * holds right now is live. The keeper it polls can be killed under it: it then moves on to
 * another, as a bot with several keeper addresses would.
 */

export interface ConsumerTarget {
  readonly url: string;
  readonly standby: boolean;
}

export interface StandbyConsumerOptions {
  readonly clientId: string;
  readonly apiKey: string;
  /** Where to poll now: standbys first; empty when no keeper runs. */
  readonly targets: () => readonly ConsumerTarget[];
  readonly isLive: (accessToken: string) => boolean;
  readonly waitSeconds?: number;
  readonly sampleEveryMs?: number;
}

export interface LiveSample {
  readonly at: number;
  readonly live: boolean;
}

export class StandbyConsumer {
  readonly samples: LiveSample[] = [];
  /** Answers that carried a new token, by whether the keeper was a standby when asked. */
  readonly swapsSeen = { fromStandby: 0, fromLeader: 0 };
  /**
   * Answers that carried a token older (by obtainedAt) than the one held: a keeper serving a
   * stale token. The consumer takes it anyway, as a bot that trusts its keeper would.
   */
  readonly staleAnswers: Array<{ at: number; url: string; heldObtainedAt: number; answeredObtainedAt: number }> = [];
  /** Every change of token, for post-mortems. */
  readonly switches: Array<{ at: number; url: string; fingerprint: string; obtainedAt: number }> = [];
  #token: { accessToken: string; fingerprint: string; obtainedAt: number } | undefined;
  #stickTo: string | undefined;
  #running = true;
  #loops: Promise<void>[] = [];
  readonly #polls = new Set<{ url: string; abandon: AbortController }>();

  constructor(readonly options: StandbyConsumerOptions) {}

  start(): void {
    this.#loops = [this.#follow(), this.#judge()];
  }

  /**
   * Gives up the polls parked on this keeper, as a bot's health check would when it stops
   * answering (a paused process keeps its sockets open and would hold the poll to its timeout).
   */
  abandon(url: string): void {
    for (const poll of this.#polls) if (poll.url === url) poll.abandon.abort();
  }

  async stop(): Promise<void> {
    this.#running = false;
    await Promise.all(this.#loops);
  }

  async #follow(): Promise<void> {
    const { clientId, apiKey } = this.options;
    const wait = this.options.waitSeconds ?? 5;
    let turn = 0;
    while (this.#running) {
      // Sticks to one standby, as a bot follows its own machine's keeper, and moves on only
      // when that one fails or starts to lead.
      const targets = this.options.targets();
      const standbys = targets.filter((t) => t.standby);
      const pool = standbys.length > 0 ? standbys : targets;
      const target = pool.find((t) => t.url === this.#stickTo) ?? pool[turn++ % Math.max(1, pool.length)];
      this.#stickTo = target?.url;
      if (target === undefined) {
        await sleep(100);
        continue;
      }
      const after = this.#token?.fingerprint ?? '';
      const abandon = new AbortController();
      const poll = { url: target.url, abandon };
      this.#polls.add(poll);
      try {
        const res = await fetch(`${target.url}/v1/tokens/${clientId}?after=${encodeURIComponent(after)}&wait=${wait}`, {
          headers: { authorization: `Bearer ${apiKey}` },
          signal: AbortSignal.any([abandon.signal, AbortSignal.timeout((wait + 3) * 1000)]),
        });
        if (res.status === 200) {
          const body = (await res.json()) as { accessToken: string; fingerprint: string; obtainedAt: string | number };
          const obtainedAt = typeof body.obtainedAt === 'number' ? body.obtainedAt : Date.parse(body.obtainedAt);
          const held = this.#token;
          if (body.fingerprint !== held?.fingerprint) {
            if (target.standby) this.swapsSeen.fromStandby += 1;
            else this.swapsSeen.fromLeader += 1;
            this.switches.push({ at: Date.now(), url: target.url, fingerprint: body.fingerprint, obtainedAt });
            if (held !== undefined && obtainedAt < held.obtainedAt) {
              this.staleAnswers.push({
                at: Date.now(),
                url: target.url,
                heldObtainedAt: held.obtainedAt,
                answeredObtainedAt: obtainedAt,
              });
            }
          }
          this.#token = { accessToken: body.accessToken, fingerprint: body.fingerprint, obtainedAt };
        } else {
          await res.arrayBuffer();
          if (res.status !== 304) await sleep(100);
        }
      } catch {
        // That keeper died or is paused under us: the next one.
        this.#stickTo = undefined;
        await sleep(50);
      } finally {
        this.#polls.delete(poll);
      }
    }
  }

  async #judge(): Promise<void> {
    const every = this.options.sampleEveryMs ?? 100;
    while (this.#running) {
      const token = this.#token;
      if (token !== undefined) this.samples.push({ at: Date.now(), live: this.options.isLive(token.accessToken) });
      await sleep(every);
    }
  }
}
