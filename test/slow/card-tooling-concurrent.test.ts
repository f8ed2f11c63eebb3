import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

// hubspot-app/scripts/check-card.mjs keeps the card's dependencies in one cache folder and works in
// a copy of the project there. Two runs at once — two suites on one machine, or `npm run check:card`
// while the suite runs — rewrote each other's sources, build output and node_modules: seen as a run
// that printed nothing (card-tooling.test.ts: "Unexpected end of JSON input") and as `npm ci`
// failing with ENOTEMPTY. Reproduced with a second run started 2–11 s after the first.
const script = fileURLToPath(new URL('../../hubspot-app/scripts/check-card.mjs', import.meta.url));

async function checkCard(delayMs: number): Promise<{ code: number; line: string; stderr: string }> {
  await new Promise((resolve) => setTimeout(resolve, delayMs));
  return promisify(execFile)(process.execPath, [script], { maxBuffer: 32 * 1024 * 1024, timeout: 540_000 }).then(
    ({ stdout, stderr }) => ({ code: 0, line: stdout.trim().split('\n').pop() ?? '', stderr }),
    (error: { code?: number; stdout?: string; stderr?: string }) => ({ code: error.code ?? -1, line: (error.stdout ?? '').trim().split('\n').pop() ?? '', stderr: error.stderr ?? '' }),
  );
}

describe('check-card.mjs run three times at once', () => {
  it('every run lints and builds the card (a later one waits for the earlier instead of rewriting its copy)', async () => {
    const runs = await Promise.all([checkCard(0), checkCard(3_000), checkCard(7_000)]);
    for (const run of runs) {
      expect(run.stderr).not.toMatch(/Error/);
      expect(run.code, run.stderr).toBe(0);
      const report = JSON.parse(run.line) as { lint: { ok: boolean }; build: { ok: boolean } };
      expect(report.lint.ok).toBe(true);
      expect(report.build.ok).toBe(true);
    }
  });
});
