import { defineConfig } from 'vitest/config';
import base from './vitest.config.js';

// The vitest configuration Stryker runs: the project's, limited to the test files named in
// STRYKER_TESTS (comma-separated), so one mutation run exercises one small scope, not the suite.
const files = (process.env.STRYKER_TESTS ?? 'test/lane-pacer.test.ts').split(',').map((f) => f.trim()).filter(Boolean);

export default defineConfig({ ...base, test: { ...base.test, include: files, maxWorkers: 1 } });
