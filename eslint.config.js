// @ts-check
import eslint from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: [
      'scratch/',
      'dist/',
      'node_modules/',
      '.peers/',
      'test/gen/',
      'bench/results/',
      'test/interop/rustbond-peer/',
    ],
  },
  eslint.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  ...tseslint.configs.stylisticTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          allowForKnownSafeCalls: [
            { from: 'package', package: 'node:test', name: ['describe', 'it', 'test', 'suite'] },
          ],
        },
      ],
      '@typescript-eslint/no-explicit-any': 'error',
      // Conflicts with no-non-null-assertion (strict): an explicit `as T` is allowed.
      '@typescript-eslint/non-nullable-type-assertion-style': 'off',
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true }],
    },
  },
  {
    // Tests feed arbitrary numbers to the reference protobuf library on purpose.
    files: ['test/**/*.ts'],
    rules: { '@typescript-eslint/no-unsafe-enum-assignment': 'off' },
  },
  {
    files: ['**/*.js'],
    extends: [tseslint.configs.disableTypeChecked],
  },
  {
    // The status page's script runs in the browser; tsconfig.page.json type-checks it against the
    // DOM library, which catches undefined names.
    // They are classic scripts joined into one function scope (src/http/page.ts): their top-level
    // names are shared between the files.
    files: ['src/http/page/*.js'],
    languageOptions: { sourceType: 'script' },
    rules: {
      'no-undef': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { vars: 'local' }],
    },
  },
);
