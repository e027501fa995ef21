import { closeSync, openSync, readSync } from 'node:fs';
import type { Readable } from 'node:stream';

/** Thrown when an input is larger than it can sensibly be; callers turn it into their own message. */
export class InputTooLargeError extends Error {
  constructor(readonly limit: number) {
    super(`larger than ${limit} bytes`);
    this.name = 'InputTooLargeError';
  }
}

/**
 * Reads at most `limit` bytes of a file, and fails as soon as there are more: a path like
 * /dev/zero or a FIFO must not make us read gigabytes before we can say it is not a token.
 */
export function readFileBounded(path: string, limit: number): string {
  const fd = openSync(path, 'r');
  try {
    const buffer = Buffer.alloc(limit + 1);
    let length = 0;
    while (length <= limit) {
      const n = readSync(fd, buffer, length, limit + 1 - length, null);
      if (n === 0) break;
      length += n;
    }
    if (length > limit) throw new InputTooLargeError(limit);
    return buffer.subarray(0, length).toString('utf8');
  } finally {
    closeSync(fd);
  }
}

/** The same for a stream (stdin): stops reading, and fails, past `limit` bytes. */
export async function readStreamBounded(stream: Readable, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of stream) {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
    length += buffer.length;
    if (length > limit) {
      stream.destroy();
      throw new InputTooLargeError(limit);
    }
    chunks.push(buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}
