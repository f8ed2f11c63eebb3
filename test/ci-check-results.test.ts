import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/** .ci/check-results.mjs: no silent skips in CI, except the allow-listed ones (with their reason). */
describe('.ci/check-results.mjs', () => {
  const script = fileURLToPath(new URL('../.ci/check-results.mjs', import.meta.url));
  const run = (tests: Array<{ fullName: string; status: string }>, env: Record<string, string>) => {
    const file = join(mkdtempSync(join(tmpdir(), 'coex-ci-')), 'vitest.json');
    writeFileSync(file, JSON.stringify({ testResults: [{ name: 'x.test.ts', assertionResults: tests }] }));
    const { CI: _ci, COEX_REQUIRE_POSTGRES: _pg, COEX_REQUIRE_REAL_CRMS: _real, ...rest } = process.env;
    return spawnSync(process.execPath, [script, file], { encoding: 'utf8', env: { ...rest, ...env } });
  };
  const pg = { fullName: 'store [postgres] works', status: 'passed' };
  const realCrm = { fullName: 'WooCommerce 10 [real-crm] archives notes', status: 'passed' };

  it('fails a skipped test under CI=true, and passes it outside CI', () => {
    const tests = [pg, { fullName: 'Zoho widget in headless Chromium renders', status: 'skipped' }];
    const ci = run(tests, { CI: 'true', COEX_REQUIRE_POSTGRES: '1' });
    expect(ci.status).toBe(1);
    expect(ci.stderr).toContain('Zoho widget in headless Chromium renders');
    expect(run(tests, {}).status).toBe(0);
  });

  it('lets an allow-listed test skip in CI and says why', () => {
    const ci = run([pg, realCrm, { fullName: 'local whisper > a real model at WHISPER_MODEL_PATH clears a loose WER ceiling on English and French', status: 'skipped' }], { CI: 'true', COEX_REQUIRE_POSTGRES: '1' });
    expect(ci.status).toBe(0);
    expect(ci.stdout).toMatch(/allowed: needs a real Whisper model file/);
  });

  it('fails in CI when the real-CRM tests were skipped or none ran', () => {
    expect(run([pg, realCrm], { CI: 'true', COEX_REQUIRE_POSTGRES: '1' }).status).toBe(0);
    expect(run([pg], { CI: 'true', COEX_REQUIRE_POSTGRES: '1' }).status).toBe(1);
    const skipped = run([pg, realCrm, { fullName: 'Odoo 19 [real-crm] chatter', status: 'skipped' }], { COEX_REQUIRE_REAL_CRMS: '1' });
    expect(skipped.status).toBe(1);
    expect(skipped.stderr).toContain('the real-CRM tests did not all run');
  });

  it('fails when a report is missing (the slow suite did not write one)', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'coex-ci-')), 'vitest.json');
    writeFileSync(file, JSON.stringify({ testResults: [{ name: 'x.test.ts', assertionResults: [pg] }] }));
    const { CI: _ci, COEX_REQUIRE_POSTGRES: _pg, COEX_REQUIRE_REAL_CRMS: _real, ...rest } = process.env;
    const r = spawnSync(process.execPath, [script, file, join(tmpdir(), 'no-such-report.json')], { encoding: 'utf8', env: rest });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('no test report at');
  });

  it('still fails on failures and on missing PostgreSQL-backed tests', () => {
    expect(run([pg, { fullName: 'a', status: 'failed' }], {}).status).toBe(1);
    expect(run([{ fullName: 'a', status: 'passed' }], { COEX_REQUIRE_POSTGRES: '1' }).status).toBe(1);
  });
});
