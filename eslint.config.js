// Lint: typescript-eslint's recommended rules, plus the tier boundaries the
// design promises: ingest/ and query/ reach engine/ only through its public
// door (engine/index.ts) and never import each other.
import js from '@eslint/js'
import tseslint from 'typescript-eslint'

const engineInternals = {
  group: ['**/engine/*', '!**/engine/index.ts'],
  message: 'Import engine/index.ts, the engine public door, not its internals.',
}

export default tseslint.config(
  { ignores: ['node_modules/', 'ui/dist/', 'data/', 'bench/results/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly' } },
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // The browser tracker, served as written (ingest/tracker-route.ts): plain ES5-era script for any page.
    files: ['ingest/tracker/*.js'],
    languageOptions: {
      sourceType: 'script',
      globals: { window: 'readonly', document: 'readonly', navigator: 'readonly', history: 'readonly', fetch: 'readonly', URL: 'readonly', URLSearchParams: 'readonly' },
    },
  },
  {
    files: ['ingest/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [engineInternals, { group: ['**/query/**', '**/cli/**'], message: 'ingest/ never imports query/ or cli/.' }] }] },
  },
  {
    files: ['query/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [engineInternals, { group: ['**/ingest/**', '**/cli/**'], message: 'query/ never imports ingest/ or cli/.' }] }] },
  },
  {
    // The dashboard may share the read API's types (query/read-contract.ts), never its code; the one
    // exception is the pure unit table (engine/model/units.ts: no runtime imports), so a kind reads in one unit everywhere.
    files: ['ui/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['**/engine/*', '!**/engine/model', '**/engine/model/*', '!**/engine/model/units.ts', '**/ingest/**', '**/cli/**'], message: 'ui/ talks to the server over HTTP only.' },
            { group: ['**/query/*', '!**/query/read-contract.ts'], message: 'ui/ may import types from query/read-contract.ts only.' },
            { group: ['**/query/read-contract.ts'], allowTypeImports: true, message: 'Import the read contract with `import type`.' },
          ],
        },
      ],
    },
  }
)
