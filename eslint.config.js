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
    files: ['ingest/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [engineInternals, { group: ['**/query/**', '**/cli/**'], message: 'ingest/ never imports query/ or cli/.' }] }] },
  },
  {
    files: ['query/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [engineInternals, { group: ['**/ingest/**', '**/cli/**'], message: 'query/ never imports ingest/ or cli/.' }] }] },
  },
  {
    files: ['ui/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [{ group: ['**/engine/**', '**/ingest/**', '**/query/**', '**/cli/**'], message: 'ui/ talks to query/ over HTTP only.' }] }] },
  }
)
