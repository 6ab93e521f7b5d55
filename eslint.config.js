// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** Layering rule (architecture.md): core modules never import protocols/ or http/; lib/ imports nothing of ours. */
const core = ['authn', 'claims', 'directory', 'tokens', 'trust', 'keys', 'stores', 'branding'];

export default tseslint.config(
  {
    ignores: [
      'dist/**',
      'node_modules/**',
      'keys/**',
      'coverage/**',
      '**/*.mjs',
      'eslint.config.js',
      // Test data, not our code: e.g. the AD FS theme export's script/onload.js that the import must ignore.
      'tests/fixtures/**/*.js',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/restrict-template-expressions': [
        'error',
        { allowNumber: true, allowBoolean: true },
      ],
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
    },
  },
  ...core.map((dir) => ({
    files: [`server/${dir}/**/*.ts`],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/protocols/**', '**/http/**'],
              message: `server/${dir} must not depend on protocols/ or http/`,
            },
          ],
        },
      ],
    },
  })),
  {
    files: ['server/lib/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ group: ['../*', '../../*'], message: 'lib/ imports nothing of ours' }] },
      ],
    },
  },
  {
    files: ['tests/**/*.ts', 'bench/**/*.ts'],
    rules: {
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          allowForKnownSafeCalls: [
            { from: 'package', name: ['test', 'it', 'describe', 'suite'], package: 'node:test' },
          ],
        },
      ],
    },
  },
  {
    // Browser scripts served from the theme folder (views/theme/*.js): plain ES5-style scripts for the pages, not
    // TypeScript, so the typed rules do not apply; the browser globals they use are declared.
    files: ['views/**/*.js'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      sourceType: 'script',
      parserOptions: { projectService: false },
      globals: {
        window: 'readonly',
        document: 'readonly',
        navigator: 'readonly',
        PublicKeyCredential: 'readonly',
        Uint8Array: 'readonly',
        ArrayBuffer: 'readonly',
        JSON: 'readonly',
        atob: 'readonly',
        btoa: 'readonly',
        String: 'readonly',
        DOMException: 'readonly',
      },
    },
  },
);
