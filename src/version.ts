import { readFileSync } from 'node:fs';

/** Read once from package.json beside dist/ (or src/ under tests), so there is one source of truth. */
function readVersion(): string {
  try {
    const raw = readFileSync(new URL('../package.json', import.meta.url), 'utf8');
    const parsed: unknown = JSON.parse(raw);
    if (parsed && typeof parsed === 'object' && 'version' in parsed && typeof parsed.version === 'string') {
      return parsed.version;
    }
  } catch {
    // A bundled or relocated build may lack package.json; the version is informational only.
  }
  return '0.0.0-unknown';
}

export const VERSION = readVersion();
