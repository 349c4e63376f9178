// @ts-check
import { defineConfig, globalIgnores } from 'eslint/config';
import tseslint from 'typescript-eslint';

export default defineConfig(
  globalIgnores(['dist/', 'node_modules/', 'build/', 'coverage/']),
  tseslint.configs.recommended,
  {
    rules: {
      // `_name` marks a parameter an interface requires but this implementation does not use.
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // A flow reads as plan, run, interpret, report: each part its own function, small enough to read at once.
    files: [
      'src/release/backend/deploy.ts',
      'src/release/backend/deploy-services.ts',
      'src/release/backend/rollback.ts',
      'src/release/backend/rollback-services.ts',
      'src/release/notify-run.ts',
      'src/inputs/image-source.ts',
    ],
    rules: {
      'max-lines-per-function': ['error', { max: 120, skipBlankLines: true, skipComments: true }],
      complexity: ['error', 25],
    },
  },
);
