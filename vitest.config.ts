import { defineConfig } from 'vitest/config';
import { fileURLToPath } from 'node:url';

// One vitest run covers unit tests beside the code (core/, connectors/) and the cross-package
// integration and end-to-end tests in test/. Workspace packages resolve to their TypeScript
// sources so tests never depend on a previous build.
export default defineConfig({
  resolve: {
    alias: {
      '@coex/connectors': fileURLToPath(new URL('./connectors/src/index.ts', import.meta.url)),
      '@coex/core': fileURLToPath(new URL('./core/src/index.ts', import.meta.url)),
    },
  },
  test: {
    include: ['core/src/**/*.test.ts', 'ui-shared/**/*.test.ts', 'connectors/src/**/*.test.ts', 'test/**/*.test.ts', 'hubspot-app/src/**/*.test.{ts,tsx}', 'hubspot-app/test/**/*.test.ts'],
    // test/slow/: `npm run test:slow` (vitest.slow.config.ts), which CI runs too.
    exclude: ['**/node_modules/**', '**/dist/**', 'test/slow/**'],
    globalSetup: ['test/global-setup.ts'],
    // Upper bounds sized for a loaded 2-core CI box (the suite is also run twice in parallel to check);
    // no test asserts a duration.
    testTimeout: 180_000,
    hookTimeout: 240_000,
    pool: 'forks',
    // Two cores are all we have: two test files at a time.
    maxWorkers: 2,
  },
});
