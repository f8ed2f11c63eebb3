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
    const { CI: _ci, COEX_REQUIRE_POSTGRES: _pg, ...rest } = process.env;
    return spawnSync(process.execPath, [script, file], { encoding: 'utf8', env: { ...rest, ...env } });
  };
  const pg = { fullName: 'store [postgres] works', status: 'passed' };

  it('fails a skipped test under CI=true, and passes it outside CI', () => {
    const tests = [pg, { fullName: 'Zoho widget in headless Chromium renders', status: 'skipped' }];
    const ci = run(tests, { CI: 'true', COEX_REQUIRE_POSTGRES: '1' });
    expect(ci.status).toBe(1);
    expect(ci.stderr).toContain('Zoho widget in headless Chromium renders');
    expect(run(tests, {}).status).toBe(0);
  });

  it('lets an allow-listed test skip in CI and says why', () => {
    const ci = run([pg, { fullName: 'local whisper > a real model at WHISPER_MODEL_PATH clears a loose WER ceiling on English and French', status: 'skipped' }], { CI: 'true', COEX_REQUIRE_POSTGRES: '1' });
    expect(ci.status).toBe(0);
    expect(ci.stdout).toMatch(/allowed: needs a real Whisper model file/);
  });

  it('still fails on failures and on missing PostgreSQL-backed tests', () => {
    expect(run([pg, { fullName: 'a', status: 'failed' }], {}).status).toBe(1);
    expect(run([{ fullName: 'a', status: 'passed' }], { COEX_REQUIRE_POSTGRES: '1' }).status).toBe(1);
  });
});
