const CENSOR = '[redacted]';
/** Shorter strings would censor ordinary words; no token or secret we hold is this short. */
const MIN_SECRET_LENGTH = 6;

/**
 * Removes every occurrence of the given secrets from a text that is about to be logged or
 * stored. The last line of defence for texts we do not write ourselves: a hook's output, an
 * error message from a library.
 */
export function redactor(secrets: readonly (string | undefined)[]): (text: string) => string {
  const known = secrets
    .filter((s): s is string => s !== undefined && s.length >= MIN_SECRET_LENGTH)
    // Longest first, so that a secret containing another one is censored whole.
    .sort((a, b) => b.length - a.length);
  return (text) => known.reduce((out, secret) => out.split(secret).join(CENSOR), text);
}

/**
 * A URL as it may appear in a log: scheme, host and port only. User info and query strings
 * carry credentials, and so do the paths of many webhook services (Slack, Discord), so the
 * path is left out too; the sink name tells sinks on one host apart.
 */
export function displayUrl(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return 'invalid-url';
  }
}
