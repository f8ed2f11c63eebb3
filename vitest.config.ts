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
    exclude: ['**/node_modules/**', '**/dist/**'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // PGlite instances take ~700 MB and two cores are all we have: keep file parallelism modest.
    maxWorkers: 2,
  },
});
