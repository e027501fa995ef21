import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger, type Logger } from '../../src/log.js';
import type { StoredToken } from '../../src/tokens.js';

/** Shaped like a Dhan JWT: base64url parts, so it holds both '-' and '_'. */
export const JWT =
  'eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzUxMiJ9.eyJpc3MiOiJkaGFuIiwicGFydG5lcklkIjoiIiwiZXhwIjoxNzgzNDc2NjcyLCJ0b2tlbkNvbnN1bWVyVHlwZSI6IlNFTEYiLCJkaGFuQ2xpZW50SWQiOiIxMTAwMDAwMDAxIn0.' +
  'k-7Rz_4Qm2vQ8xWbX3-_abcDEF_ghIJKlmnoPQRstuVWxyz0123456789-_AbCdEfGhIjKlMnOpQrStUvWxYz-_q1w2e3r4t5y6A';

export function storedToken(overrides: Partial<StoredToken> = {}): StoredToken {
  return {
    id: 1,
    clientId: '1100000001',
    accessToken: JWT,
    source: 'totp',
    // 2026-07-07T07:41:12.284+05:30 and a day later
    obtainedAt: Date.UTC(2026, 6, 7, 2, 11, 12, 284),
    expiresAt: Date.UTC(2026, 6, 8, 2, 11, 12, 284),
    expiryTime: '2026-07-08T07:41:12.284',
    supersededAt: null,
    ...overrides,
  };
}

export interface TempDirs {
  make(): string;
  cleanup(): void;
}

export function tempDirs(): TempDirs {
  const made: string[] = [];
  return {
    make() {
      const dir = mkdtempSync(join(tmpdir(), 'dtk-publish-'));
      made.push(dir);
      return dir;
    },
    cleanup() {
      for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface CapturedLog {
  readonly log: Logger;
  readonly lines: string[];
}

export function captureLog(): CapturedLog {
  const lines: string[] = [];
  const log = createLogger({ level: 'debug', destination: { write: (line: string) => void lines.push(line) } });
  return { log, lines };
}
