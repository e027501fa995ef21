import { readFileSync } from 'node:fs';

/** The token in a JSON file sink, or undefined while the sink does not exist yet. */
export function readJsonSink(path: string): { accessToken: string; expiresAt: string; source: string } | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
  // The keeper replaces the file atomically (rename), so a read never sees half a file.
  return JSON.parse(text) as { accessToken: string; expiresAt: string; source: string };
}

/** The access token in a JSON file sink; throws when there is none, since the caller expects one. */
export function sinkToken(path: string): string {
  const sink = readJsonSink(path);
  if (sink === undefined) throw new Error(`no token file at ${path}`);
  return sink.accessToken;
}
