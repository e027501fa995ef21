/**
 * Every `code` a KeeperError can carry, so that callers can switch on it and the compiler lists
 * the cases. A new error needs its code here first. Grouped by the module that raises them.
 */
export type KeeperErrorCode =
  // cli, config
  | 'usage'
  | 'config-invalid'
  // commands
  | 'renew-failed'
  | 'generate-failed'
  | 'reset-failed'
  | 'import-failed'
  | 'import-expired'
  | 'import-lifetime-too-long'
  | 'import-expiry-too-far'
  | 'import-would-replace-live'
  | 'no-live-token'
  | 'unhealthy'
  | 'login-failed'
  | 'notify-failed'
  // dhan: `dhan-${DhanErrorKind}` (DhanError), and expiry
  | 'dhan-token-invalid'
  | 'dhan-rate-limited'
  | 'dhan-credentials-rejected'
  | 'dhan-access-denied'
  | 'dhan-bad-request'
  | 'dhan-transient'
  | 'dhan-unknown'
  | 'dhan-renew-refused'
  | 'token-expiry-unknown'
  // keeper
  | 'token-expired'
  | 'lease-held'
  | 'lease-lost'
  // store
  | 'store-options'
  | 'store-no-wal'
  | 'store-async-transaction'
  | 'store-empty-token'
  | 'store-missing'
  | 'store-too-new'
  | 'store-outdated'
  | 'unknown-account'
  | 'store-key-missing'
  | 'store-key-wrong'
  | 'store-sealed-corrupt'
  | 'seal-key'
  | 'store-no-leadership'
  // store: PostgreSQL, leadership, migrate-storage
  | 'not-leader'
  | 'source-in-use'
  | 'migrate-verify-failed'
  // publish
  | 'publish-file-not-writable'
  | 'publish-group-invalid'
  | 'publish-group-unknown'
  | 'publish-webhook-url'
  | 'publish-env-unsafe'
  // server
  | 'server-unsafe-bind'
  | 'server-address-in-use'
  | 'server-listen-denied'
  | 'server-address-unavailable'
  | 'server-listen-failed'
  // client (TokenClientError, in bots)
  | 'unauthorized'
  | 'forbidden'
  | 'unknown-client'
  | 'unavailable'
  | 'bad-request'
  | 'bad-response'
  | 'http-error'
  | 'network';

/**
 * One base class for every error we raise on purpose, each with a stable `code`
 * that callers switch on (never on message text). Messages say what happened and what to do, and never carry a secret:
 * callers pass only what is safe to print.
 */
export class KeeperError extends Error {
  readonly code: KeeperErrorCode;
  /** What the user can do about it, when we know. */
  readonly hint: string | undefined;

  constructor(code: KeeperErrorCode, message: string, options?: { hint?: string; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.hint = options?.hint;
  }
}

/** Bad input from the user (CLI usage, config): exit code 2. */
export class UsageError extends KeeperError {
  constructor(message: string, options?: { hint?: string }) {
    super('usage', message, options);
  }
}

/** Every problem found in a config file, reported together: exit code 2. */
export class ConfigError extends KeeperError {
  readonly problems: readonly string[];

  constructor(problems: readonly string[]) {
    super('config-invalid', `invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.problems = problems;
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
