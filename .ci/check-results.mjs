// Reads vitest's JSON report: fails when no PostgreSQL-backed test passed (they are named "[postgres]"),
// or, with COEX_REQUIRE_REAL_CRMS, when a test against the real CRM servers (named "[real-crm]") was
// skipped or none ran; prints the plain closing line "N passed, N failed".
import { readFileSync } from 'node:fs';

// One or more reports (the default suite and the slow suite); a missing one counts as a failure.
let missing = 0;
const tests = process.argv.slice(2).flatMap((path) => {
  try {
    return JSON.parse(readFileSync(path, 'utf8')).testResults.flatMap((file) => file.assertionResults);
  } catch {
    console.error(`ci: no test report at ${path}`);
    missing += 1;
    return [];
  }
});
const passed = tests.filter((t) => t.status === 'passed');
const failed = tests.filter((t) => t.status === 'failed');
const skipped = tests.length - passed.length - failed.length;
const postgres = passed.filter((t) => t.fullName.includes('[postgres]'));
console.log(`ci: ${postgres.length} PostgreSQL-backed tests passed`);
let code = 0;
if (process.env.COEX_REQUIRE_POSTGRES && postgres.length === 0) {
  console.error('ci: no PostgreSQL-backed test ran (TEST_DATABASE_URL not honoured?)');
  code = 1;
}
const realCrm = tests.filter((t) => t.fullName.includes('[real-crm]'));
const realCrmSkipped = realCrm.filter((t) => t.status !== 'passed' && t.status !== 'failed');
console.log(`ci: ${realCrm.length - realCrmSkipped.length} real-CRM tests ran, ${realCrmSkipped.length} skipped`);
if ((process.env.COEX_REQUIRE_REAL_CRMS || process.env.CI === 'true') && (realCrm.length === 0 || realCrmSkipped.length > 0)) {
  console.error(`ci: the real-CRM tests did not all run (COEX_REAL_CRMS=${process.env.COEX_REAL_CRMS || 'unset'}); see ../shared/real-crms/README.md`);
  code = 1;
}
console.log(`${passed.length} passed, ${failed.length} failed, ${skipped} skipped`);
process.exit(failed.length > 0 || missing > 0 ? 1 : code);
