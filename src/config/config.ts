import type { CronSchedule } from '../cron-times.js';
import type { PostgresConnection } from '../store/postgres/connection.js';
import type { AccountMode } from '../tokens.js';

/**
 * The validated configuration: produced once by `loadConfig`, deep-frozen, trusted by
 * everything downstream: nothing re-checks it. Durations are milliseconds; paths are absolute.
 */
export interface Config {
  /** Absolute path of the file this came from. */
  readonly sourcePath: string;
  readonly storage: StorageConfig;
  readonly ha: HaConfig;
  readonly dhan: DhanConfig;
  readonly server: ServerConfig;
  readonly renewal: RenewalConfig;
  readonly log: LogConfig;
  readonly consent: ConsentConfig;
  readonly notify: NotifyConfig;
  readonly accounts: readonly AccountConfig[];
}

export interface StorageConfig {
  readonly path: string;
  readonly historyRetentionMs: number;
  /**
   * Secret: the key that seals stored tokens, as 64 hex digits; undefined when tokens are stored
   * as plaintext, or when the command loaded the config without it (see LoadOptions.storageKey).
   */
  readonly encryptionKey: string | undefined;
  /** Set by storage.url: the keeper keeps its data in PostgreSQL, and `path` is not used. */
  readonly postgres: PostgresConfig | undefined;
}

export interface PostgresConfig {
  /** Holds secrets (the password, a client key): hand it to openStorage, never print it. */
  readonly connection: PostgresConnection;
  /** Where the keeper's tables live; undefined: the server's search_path decides. */
  readonly schema: string | undefined;
  /** The URL without its password, and the schema: safe to print. */
  readonly location: string;
}

/** Several keepers on one PostgreSQL database; defaults apply when `ha:` is absent. */
export interface HaConfig {
  /** A standby takes over at most this long after the leader went silent. */
  readonly takeoverAfterMs: number;
}

export interface DhanConfig {
  readonly authBaseUrl: string;
  readonly apiBaseUrl: string;
  readonly timezone: string;
  readonly requestTimeoutMs: number;
  readonly minGenerateIntervalMs: number;
  /** Added to every wait between generations: Dhan counts its window from when it processed the call. */
  readonly generateMarginMs: number;
  readonly maxConcurrency: number;
}

export interface ServerConfig {
  readonly listen: { readonly host: string; readonly port: number };
  readonly apiKeys: readonly ApiKeyConfig[];
  /** Long-polls parked at once; beyond it a consumer gets 503 with Retry-After. */
  readonly maxLongPolls?: number;
}

export interface ApiKeyConfig {
  readonly name: string;
  /** Secret. */
  readonly key: string;
  /** Client ids this key may read, or '*' for all. */
  readonly clients: readonly string[] | '*';
  /** May open the status page (and act on its clients there); absent means no. */
  readonly ui?: true;
}

/** "8h" or "33%": an absolute duration, or a share of the token's lifetime. */
export type DurationOrShare =
  { readonly kind: 'duration'; readonly ms: number } | { readonly kind: 'share'; readonly ratio: number };

export interface RenewalConfig {
  readonly renewBefore: DurationOrShare;
  readonly jitter: DurationOrShare;
  readonly sweep: string;
  readonly probeIntervalMs: number;
  /** Profile checks a second, all accounts together; undefined: no limit. */
  readonly maxProbeRate: number | undefined;
  readonly avoid: readonly AvoidWindow[];
  /** Moments for a fresh full-lifetime token (e.g. every trading morning), in their zones. */
  readonly refreshAt: readonly CronSchedule[];
  /** A refreshAt is skipped when the token is younger than this. */
  readonly refreshAtSkipIfNewerThanMs: number;
  /** Moments for an extra profile check of every account (e.g. just after a nightly cut-off). */
  readonly probeAt: readonly CronSchedule[];
}

/** A weekly window in which no token swap should happen (e.g. market hours). */
export interface AvoidWindow {
  /** ISO weekdays, 1 = Monday … 7 = Sunday (luxon's numbering). */
  readonly days: readonly number[];
  /** Minutes after local midnight. */
  readonly fromMinute: number;
  /** Minutes after local midnight; a window may cross midnight when toMinute <= fromMinute. */
  readonly toMinute: number;
  readonly timezone: string;
}

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface LogConfig {
  readonly level: LogLevel;
}

export interface AccountConfig {
  readonly clientId: string;
  readonly name: string;
  readonly mode: AccountMode;
  /** Secret; present for auto and generate-only. */
  readonly pin: string | undefined;
  /** Secret, normalised base32 (upper case, no spaces); present for auto and generate-only. */
  readonly totpSecret: string | undefined;
  /**
   * A salted hash of pin and TOTP secret, safe to store: when it changes, an account in
   * `attention` for rejected credentials may try again.
   */
  readonly credentialsFingerprint: string;
  /**
   * Secrets: the API key and secret of the account's Dhan app, for the browser login (consent).
   * An `auto` account with TOTP credentials too generates with TOTP first.
   */
  readonly app: { readonly apiKey: string; readonly apiSecret: string } | undefined;
  readonly sinks: readonly SinkConfig[];
}

export interface ConsentConfig {
  /** A login request goes out this long before a token that cannot be renewed expires. */
  readonly askBeforeMs: number;
  /**
   * The redirect URL registered with Dhan for the API key; the keeper serves its path
   * (/v1/consent/callback). Shown to the person; undefined when not configured.
   */
  readonly redirectUrl: string | undefined;
}

export type SinkConfig = FileSinkConfig | ExecSinkConfig | WebhookSinkConfig;

export interface FileSinkConfig {
  readonly type: 'file';
  readonly path: string;
  readonly format: 'json' | 'env';
  /** Permission bits, default 0o600. */
  readonly mode: number;
  /** Group name or numeric gid to chown the file to. */
  readonly group: string | undefined;
}

export interface ExecSinkConfig {
  readonly type: 'exec';
  readonly command: readonly string[];
  readonly timeoutMs: number;
}

export interface WebhookSinkConfig {
  readonly type: 'webhook';
  readonly url: string;
  /** Secret for the HMAC-SHA256 signature header. */
  readonly secret: string | undefined;
  readonly includeToken: boolean;
  readonly timeoutMs: number;
}

/** What a person can be told about. */
export type NotifyEventKind =
  'login-needed' | 'attention' | 'attention-lifted' | 'token-dead' | 'recovered' | 'summary';

export interface NotifyConfig {
  /** The same event for the same account is sent at most this often while it lasts. */
  readonly repeatEveryMs: number;
  /** node-cron expression of a daily summary, or undefined for none. */
  readonly dailySummary: string | undefined;
  readonly channels: readonly NotifyChannelConfig[];
}

interface NotifyChannelBase {
  /** Unique; the metric's `channel` label. */
  readonly name: string;
  readonly events: readonly NotifyEventKind[];
  /** Client ids or account names, or '*'. */
  readonly accounts: readonly string[] | '*';
}

export type NotifyChannelConfig =
  | (NotifyChannelBase & {
      readonly type: 'telegram';
      /** Secret. */
      readonly botToken: string;
      readonly chatId: string;
      readonly apiBaseUrl: string;
    })
  | (NotifyChannelBase & {
      readonly type: 'ntfy';
      readonly url: string;
      readonly topic: string;
      /** Secret: an access token for a protected topic. */
      readonly token: string | undefined;
    })
  | (NotifyChannelBase & {
      readonly type: 'webhook';
      readonly url: string;
      /** Secret: the HMAC-SHA256 key of the signature header, as for the webhook sink. */
      readonly secret: string | undefined;
    });
