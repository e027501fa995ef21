import type { StoredToken } from '../tokens.js';
import { tokenResponseBody } from './payload.js';
import { preparedJson, type PreparedJson } from './respond.js';

/** A refresh in progress usually lands within seconds; asking sooner only adds load. */
const NO_TOKEN_RETRY_AFTER_S = 5;

/** A 200 from the token API, serialised once per token rather than once per request. */
export interface TokenAnswer {
  readonly tokenId: number;
  readonly accessToken: string;
  readonly fingerprint: string;
  readonly body: PreparedJson;
}

/**
 * The answer for an account changes a few times a day, when its token does: the JSON, the
 * fingerprint (a SHA-256) and the ISO times (luxon, in the trader's zone) are made on the
 * first request after a swap and reused until the provider hands out another token. A stored
 * token never changes, so its id and its text (the same string object while the keeper's
 * cache holds it, so the check is a pointer comparison) say whether the answer still fits.
 */
export class TokenAnswers {
  private readonly answers = new Map<string, TokenAnswer>();
  private readonly noTokenAnswers = new Map<string, PreparedJson>();

  constructor(private readonly zone: string) {}

  for(token: StoredToken): TokenAnswer {
    const cached = this.answers.get(token.clientId);
    if (cached?.tokenId === token.id && cached.accessToken === token.accessToken) return cached;
    const body = tokenResponseBody(token, this.zone);
    const answer: TokenAnswer = {
      tokenId: token.id,
      accessToken: token.accessToken,
      fingerprint: body.fingerprint,
      body: preparedJson(JSON.stringify(body)),
    };
    this.answers.set(token.clientId, answer);
    return answer;
  }

  /**
   * The 503 for an account without a live token, made once per account: while Dhan is down at
   * a cold start every bot may be asking in a loop, and the keeper's event loop is what gets the
   * tokens. Callers have checked that the client is configured, so the map stays that size.
   */
  noLiveToken(clientId: string): PreparedJson {
    let answer = this.noTokenAnswers.get(clientId);
    if (answer === undefined) {
      const body = {
        error: 'no-live-token',
        message: `client ${clientId} has no live token right now; the keeper is working on it`,
      };
      answer = preparedJson(JSON.stringify(body), ['retry-after', String(NO_TOKEN_RETRY_AFTER_S)]);
      this.noTokenAnswers.set(clientId, answer);
    }
    return answer;
  }
}
