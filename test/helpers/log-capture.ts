import { createLogger, type Logger } from '../../src/log.js';

/** A debug logger whose output a test reads back, as raw text or as parsed JSON lines. */
export function captureLog(): { log: Logger; lines: () => Record<string, unknown>[]; text: () => string } {
  const chunks: string[] = [];
  const log = createLogger({ level: 'debug', destination: { write: (msg: string) => void chunks.push(msg) } });
  return {
    log,
    text: () => chunks.join(''),
    lines: () =>
      chunks
        .join('')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}
