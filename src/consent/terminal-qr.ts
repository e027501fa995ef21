import { renderUnicodeCompact } from 'uqr';

/**
 * The login link as a QR code made of half-block characters, two modules per character row,
 * so that a phone can scan it off an SSH terminal. The link holds no secret.
 */
export function renderQr(text: string): string {
  return renderUnicodeCompact(text, { border: 2 });
}
