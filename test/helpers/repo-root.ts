import { resolve } from 'node:path';

/** The repository's root, wherever the test that asks sits under test/. */
export const REPO_ROOT = resolve(import.meta.dirname, '..', '..');
