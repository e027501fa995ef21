/**
 * One base class for every error we raise on purpose, each with a stable `code`
 * that callers switch on (never on message text). Messages say what happened and what to do, and never carry a secret:
 * callers pass only what is safe to print.
 */
export class KeeperError extends Error {
  readonly code: string;
  /** What the user can do about it, when we know. */
  readonly hint: string | undefined;

  constructor(code: string, message: string, options?: { hint?: string; cause?: unknown }) {
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
