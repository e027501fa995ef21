// @ts-check
/*
 * Lint for dhan-token-keeper: typescript-eslint's strict, type-checked preset, because most of
 * what it catches is what this daemon cannot afford (a floating promise is a swap nobody awaits,
 * an `any` is a Dhan field read without a check, a misused promise is a sink that never reports).
 * Rules are relaxed only where they fight the house style, each with its reason below.
 * Run it with `npm run lint`; CI runs it before the tests (.ci/run).
 */
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';

export default defineConfig(
  { ignores: ['dist/', 'build/', 'node_modules/', 'coverage/', '.release/'] },
  js.configs.recommended,
  tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        projectService: { allowDefaultProject: ['eslint.config.js'] },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      // Numbers and booleans print unambiguously in messages (`${port}`, `${ms} ms`); objects,
      // undefined and null still need an explicit choice of text.
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true }],
      // `(r) => setTimeout(r, 20)` and `() => void task()` are the house's way to write callbacks.
      '@typescript-eslint/no-confusing-void-expression': [
        'error',
        { ignoreArrowShorthand: true, ignoreVoidOperator: true },
      ],
      // A leading underscore marks what is left out on purpose: `{ clientId: _c, ...rest }`.
      '@typescript-eslint/no-unused-vars': [
        'error',
        {
          argsIgnorePattern: '^_',
          varsIgnorePattern: '^_',
          destructuredArrayIgnorePattern: '^_',
          ignoreRestSiblings: true,
        },
      ],
      // `!` marks a value the code knows is there (a row from INSERT … RETURNING, an index just
      // checked); strictNullChecks and noUncheckedIndexedAccess already force every other case.
      '@typescript-eslint/no-non-null-assertion': 'off',
      // `async` on a callback that does not await yet keeps the contract (it returns a promise,
      // and a throw becomes a rejection, which single flight and the scheduler rely on).
      '@typescript-eslint/require-await': 'off',
      // Deleting keys from plain records (config trees, copies of process.env) is what we mean;
      // the rule targets objects used as maps, which we keep as Map.
      '@typescript-eslint/no-dynamic-delete': 'off',
    },
  },
  // The status page's script runs in the browser as plain JS (no build step, so the keeper serves
  // the file it ships): it gets the JS rules and browser globals, without type information.
  {
    files: ['src/server/ui/**/*.js'],
    extends: [tseslint.configs.disableTypeChecked],
    languageOptions: {
      sourceType: 'script',
      parserOptions: { projectService: false, project: null },
      globals: {
        window: 'readonly',
        document: 'readonly',
        EventSource: 'readonly',
        fetch: 'readonly',
        Intl: 'readonly',
        console: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
        navigator: 'readonly',
        location: 'readonly',
        history: 'readonly',
        confirm: 'readonly',
        URLSearchParams: 'readonly',
        Date: 'readonly',
        Math: 'readonly',
        Number: 'readonly',
        JSON: 'readonly',
      },
    },
  },
  // luxon through src/luxon.ts only: it keeps ICU (about 8 MB of a process's memory) out of the
  // daemon for the default zone and fixes luxon's locale. The simulator is a process of its own.
  {
    files: ['src/**/*.ts'],
    ignores: ['src/luxon.ts', 'src/sim/**'],
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          selector: "ImportDeclaration[source.value='luxon']",
          message: "import DateTime from src/luxon.ts, not from 'luxon' (see its header).",
        },
      ],
    },
  },
  // The layers of docs/architecture.md: imports point down, never up.
  {
    files: ['src/server/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['../keeper/*', '../commands/*', '../cli.js'],
              message:
                'server/ only reads committed state: what it needs from the keeper is an interface in server/ or a type below both (docs/architecture.md, "Layers").',
            },
          ],
        },
      ],
    },
  },
  {
    files: [
      'src/dhan/**/*.ts',
      'src/store/**/*.ts',
      'src/publish/**/*.ts',
      'src/config/**/*.ts',
      'src/consent/**/*.ts',
      'src/notify/**/*.ts',
      'src/metrics.ts',
      'src/log.ts',
      'src/totp.ts',
    ],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/keeper/*', '**/server/*', '**/commands/*', '**/cli.js'],
              message:
                'a lower layer never imports the keeper, the server or the commands (docs/architecture.md, "Layers").',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['src/sim/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['../*', '!../clock.js'],
              message:
                'the simulator is a second, separate reading of Dhan: it shares only the clock with the keeper (docs/architecture.md).',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['src/client/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['../*', '!../errors.js', '!../tokens.js'],
              message: 'client/ ships to bots: it may use only errors.ts and tokens.ts (docs/architecture.md).',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: {
      // Tests read JSON answers and assert on them at once: the assertion is the type check.
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      // `let sim: Simulator` set in beforeAll and closed with `sim?.close()`: the declared type
      // says "always there", but a failed setup leaves it undefined and the cleanup must not throw.
      '@typescript-eslint/no-unnecessary-condition': 'off',
    },
  },
);
