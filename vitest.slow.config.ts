import { defineConfig } from 'vitest/config';
import base from './vitest.config.js';

// `npm run test:slow` (CI runs it after `npm test`): the cases that take minutes on a loaded 2-core
// machine — real `coex serve` processes killed with -9, local Whisper inference, the full agent storm.
// Same aliases and global setup as the default suite; its own files, bounds and parallelism.
export default defineConfig({
  ...base,
  test: {
    ...base.test,
    include: ['test/slow/**/*.test.ts'],
    exclude: ['**/node_modules/**', '**/dist/**'],
    testTimeout: 600_000,
    hookTimeout: 600_000,
    // One file at a time: each of them loads the machine on its own.
    maxWorkers: 1,
  },
});
