import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { ENV, baseConfig, problemsOf, tempDir, writeConfig } from '../helpers/config-fixtures.js';

describe('server.maxLongPolls', () => {
  it('is left to the server default when not given, and taken when given', () => {
    expect(loadConfig(writeConfig(tempDir(), baseConfig()), ENV).config.server.maxLongPolls).toBeUndefined();
    const given = loadConfig(writeConfig(tempDir(), { ...baseConfig(), server: { maxLongPolls: 1000 } }), ENV);
    expect(given.config.server.maxLongPolls).toBe(1000);
  });

  it.each([0, 1001, 2.5, 'many'])('refuses %s, naming the key', (value) => {
    const problems = problemsOf(writeConfig(tempDir(), { ...baseConfig(), server: { maxLongPolls: value } }));
    expect(problems.join('\n')).toMatch(/server\.maxLongPolls/);
  });
});
