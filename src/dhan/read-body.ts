export interface LimitedBody {
  readonly text: string;
  /** The body went past the limit; `text` is empty and the rest was never read. */
  readonly tooLarge: boolean;
}

/**
 * Reads a response body up to `maxBytes`, stopping (and cancelling the stream, which drops the
 * connection) as soon as it is known to be bigger: a misbehaving proxy must not make us buffer
 * megabytes. Errors of the stream (a truncated body, an abort) propagate to the caller.
 */
export async function readBodyLimited(response: Response, maxBytes: number): Promise<LimitedBody> {
  const body = response.body;
  if (body === null) return { text: '', tooLarge: false };

  const length = response.headers.get('content-length');
  const declared = length === null ? Number.NaN : Number(length);
  if (Number.isFinite(declared) && declared > maxBytes) {
    await body.cancel().catch(() => undefined);
    return { text: '', tooLarge: true };
  }
  // A declared length within the limit bounds what the HTTP parser will hand over, so the whole
  // body can be taken at once: cheaper than reading the stream chunk by chunk on every probe.
  // Not when compressed: fetch inflates, and the length is the compressed one.
  const encoding = response.headers.get('content-encoding');
  if (Number.isFinite(declared) && (encoding === null || encoding === 'identity'))
    return { text: await response.text(), tooLarge: false };

  // Typed by hand: undici types a fetch body's chunks as any, but they are bytes.
  const reader: ReadableStreamDefaultReader<Uint8Array> = body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > maxBytes) {
        // cancel() can reject when the stream already failed; we are leaving either way.
        await reader.cancel().catch(() => undefined);
        return { text: '', tooLarge: true };
      }
      chunks.push(value);
    }
  } finally {
    reader.releaseLock();
  }
  return { text: new TextDecoder('utf-8').decode(Buffer.concat(chunks)), tooLarge: false };
}
