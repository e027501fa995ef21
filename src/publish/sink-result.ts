import { basename } from 'node:path';
import type { SinkConfig } from '../config/config.js';

export type SinkType = SinkConfig['type'];

/** One sink's outcome for one publish: recorded by the keeper as a history event and a metric. */
export interface SinkResult {
  readonly clientId: string;
  /** Stable across restarts while the config is unchanged: used as a metric label. */
  readonly sink: string;
  readonly type: SinkType;
  readonly ok: boolean;
  /** 0 when the sink was skipped (aborted before it started, or a newer token was already written). */
  readonly attempts: number;
  readonly durationMs: number;
  /** Safe to log and store: never holds a token, a secret or a URL's query. */
  readonly error?: string;
  /** The hook's exit code on its last attempt (exec sinks). */
  readonly exitCode?: number;
  /** The receiver's status on the last attempt (webhook sinks). */
  readonly httpStatus?: number;
}

/** What a sink reports; the publisher adds who, which and how long. */
export interface SinkOutcome {
  readonly ok: boolean;
  readonly attempts: number;
  readonly error?: string;
  readonly exitCode?: number;
  readonly httpStatus?: number;
}

function baseName(sink: SinkConfig): string {
  switch (sink.type) {
    case 'file':
      return `file:${sink.path}`;
    case 'exec':
      return `exec:${basename(sink.command[0] ?? '')}`;
    case 'webhook':
      return `webhook:${webhookHost(sink.url)}`;
  }
}

function webhookHost(url: string): string {
  try {
    // `host` never includes user info, and keeps the port so two local receivers differ.
    return new URL(url).host;
  } catch {
    return 'invalid-url';
  }
}

/**
 * Names for an account's sinks, in config order. Two hooks running `systemctl` would share a
 * name and so a metric series; the later ones get `#2`, `#3`, which stay stable while the
 * config does.
 */
export function sinkNames(sinks: readonly SinkConfig[]): string[] {
  const seen = new Map<string, number>();
  return sinks.map((sink) => {
    const name = baseName(sink);
    const count = (seen.get(name) ?? 0) + 1;
    seen.set(name, count);
    return count === 1 ? name : `${name}#${count}`;
  });
}
