import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { ConfigError } from '../../src/errors.js';
import { tempDir } from '../helpers/config-fixtures.js';

/* Issue 14, item 5: a config is bounded in size, and checking a hostile one stays linear. */

function configError(path: string): ConfigError {
  try {
    loadConfig(path, {});
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

const head = 'accounts:\n  - clientId: "1000000001"\n    mode: renew-only\n';

describe('config size and cost', () => {
  it('reports 40,000 unknown keys in a bounded answer, with did-you-mean where it helps', () => {
    const path = join(tempDir(), 'config.yaml');
    const keys = Array.from({ length: 40_000 }, (_, i) => `unknownKey${i}: 1`).join('\n');
    writeFileSync(path, `${head}storag: {}\n${keys}\n`, { mode: 0o600 });
    const err = configError(path);
    // Bounded: 50 problems and a count, not 40,001 lines (and not minutes of duplicate-key checks).
    expect(err.problems).toHaveLength(51);
    expect(err.problems.at(-1)).toBe('… and 39951 more problems like these');
    expect(err.problems).toContain('storag: unknown key — did you mean storage?');
  }, 60_000);

  it('refuses a config larger than a few MB before parsing it', () => {
    const path = join(tempDir(), 'config.yaml');
    const keys = Array.from({ length: 700_000 }, (_, i) => `k${i}: 1`).join('\n');
    writeFileSync(path, `${head}${keys}\n`, { mode: 0o600 });
    expect(configError(path).problems).toEqual([
      `${path}: larger than 4 MiB, which no keeper config needs — is it the right file?`,
    ]);
  });

  it('still refuses a key given twice, naming it and its line', () => {
    const path = join(tempDir(), 'config.yaml');
    writeFileSync(path, `${head}log:\n  level: info\n  level: debug\n`, { mode: 0o600 });
    expect(configError(path).problems).toEqual([
      `${path}: invalid YAML — Map keys must be unique at line 6, column 3: "level" is given twice in one mapping`,
    ]);
  });

  it('allows merge keys more than once', () => {
    const path = join(tempDir(), 'config.yaml');
    writeFileSync(
      path,
      `x-a: &a {mode: renew-only}\nx-b: &b {name: main}\naccounts:\n  - clientId: "1000000001"\n    <<: *a\n    <<: *b\n`,
      { mode: 0o600 },
    );
    // Unknown top-level x- keys are errors of their own; what matters is no duplicate-key error.
    expect(configError(path).problems.join('\n')).not.toMatch(/given twice/);
  });
});
