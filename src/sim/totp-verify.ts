import { createHmac } from 'node:crypto';

/**
 * RFC 6238 (SHA-1, 6 digits, 30 s) written out with node:crypto instead of otplib: the keeper
 * generates its codes with otplib, and a shared library would let one bug pass on both sides.
 */

const BASE32_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
const STEP_SECONDS = 30;
const DIGITS = 6;

/** Decodes a base32 secret as users paste it: any case, spaces and `=` padding allowed. */
export function decodeBase32Secret(secret: string): Buffer {
  const clean = secret.replace(/[\s=]/g, '').toUpperCase();
  if (clean.length === 0) throw new Error('TOTP secret is empty');
  const bytes: number[] = [];
  let buffer = 0;
  let bits = 0;
  for (const ch of clean) {
    const value = BASE32_ALPHABET.indexOf(ch);
    if (value < 0) throw new Error('TOTP secret is not base32 (allowed: A-Z, 2-7, spaces)');
    buffer = ((buffer << 5) | value) & 0xffff;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      bytes.push((buffer >> bits) & 0xff);
    }
  }
  // Leftover bits under a byte are padding by definition (RFC 4648 §6).
  return Buffer.from(bytes);
}

export function totpStep(nowMs: number): number {
  return Math.floor(nowMs / 1000 / STEP_SECONDS);
}

/** RFC 4226 HOTP for one counter value. */
export function hotp(key: Buffer, counter: number): string {
  const msg = Buffer.alloc(8);
  msg.writeBigUInt64BE(BigInt(counter));
  const mac = createHmac('sha1', key).update(msg).digest();
  // The last nibble picks where the 31-bit dynamic truncation starts (RFC 4226 §5.3).
  const offset = (mac[mac.length - 1] ?? 0) & 0x0f;
  const binary = mac.readUInt32BE(offset) & 0x7fffffff;
  return String(binary % 10 ** DIGITS).padStart(DIGITS, '0');
}

/**
 * The time step `code` belongs to, when it is the current or the previous step's code and newer
 * than `lastUsedStep`. Refusing every step at or before the last accepted one is RFC 6238 §5.2's
 * replay rule: it also refuses an unused older code once a newer one was spent.
 */
export function acceptedStep(
  key: Buffer,
  code: string | null,
  nowMs: number,
  lastUsedStep: number | undefined,
): number | undefined {
  if (code === null || !/^\d{6}$/.test(code)) return undefined;
  const current = totpStep(nowMs);
  for (const step of [current, current - 1]) {
    if (lastUsedStep !== undefined && step <= lastUsedStep) continue;
    if (hotp(key, step) === code) return step;
  }
  return undefined;
}

/**
 * Which step, within one of now, `code` is the code of: for stats only (a step seen twice is a code
 * sent twice), never to accept a code. Undefined when it matches none of them.
 */
export function stepOfCode(key: Buffer, code: string | null, nowMs: number): number | undefined {
  if (code === null || !/^\d{6}$/.test(code)) return undefined;
  const current = totpStep(nowMs);
  return [current, current - 1, current + 1].find((step) => hotp(key, step) === code);
}
