import { defineConfig } from 'vitest/config';

// Runs this workspace's tests on their own (`npm test -w @coex/hubspot-app`). The root
// vitest.config.ts picks them up once its include list has the same two patterns.
export default defineConfig({
  test: {
    include: ['src/**/*.test.{ts,tsx}', 'test/**/*.test.ts'],
    testTimeout: 30_000,
  },
});
