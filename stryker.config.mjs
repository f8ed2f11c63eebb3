// Mutation testing (StrykerJS): `npm run test:mutation`, one small scope at a time on this 2-core
// machine, e.g. `npm run test:mutation -- --mutate core/src/campaigns/lane-pacer.ts` with
// `STRYKER_TESTS=test/lane-pacer.test.ts` (the test files vitest may run; comma-separated).
// Scores and the surviving mutants' explanations: docs/testing.md. Not part of CI (too slow).
/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  // The core the README's promises rest on (docs/testing.md).
  mutate: [
    'core/src/webhooks/**/*.ts',
    'core/src/worker/**/*.ts',
    'core/src/store/**/*.ts',
    'core/src/whatsapp/**/*.ts',
    'core/src/outbound/pacer.ts',
    'core/src/outbound/send-service.ts',
    'core/src/crm/outbox.ts',
    'core/src/campaigns/lane-pacer.ts',
    '!**/*.test.ts',
  ],
  testRunner: 'vitest',
  vitest: { configFile: 'stryker.vitest.config.ts', related: false },
  // No TypeScript checker: the project compiles with TypeScript 7 (native), which has no JavaScript
  // API for @stryker-mutator/typescript-checker or Stryker's tsconfig rewriting (docs/testing.md).
  // A mutant that would not type-check simply runs (vitest strips types) and is killed or reported.
  tsconfigFile: 'no-tsconfig-rewrite.json',
  disableTypeChecks: true,
  coverageAnalysis: 'perTest',
  concurrency: 1,
  timeoutMS: 60_000,
  reporters: ['clear-text', 'json', 'progress'],
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  tempDirName: 'reports/mutation/.stryker-tmp',
  cleanTempDir: 'always',
  ignorePatterns: ['reports', 'data', 'docs', 'bench', 'woocommerce-plugin', 'odoo-addon-bridge', '**/dist'],
};
