import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { PHONE_PROPERTIES } from '../src/app/cards/lib/thread-logic.js';

// HubSpot's own tools on the card (scripts/check-card.mjs): `hs project lint` with the ESLint config
// of HubSpot's card template, and `uie build`, whose manifest says which CRM properties HubSpot
// prefetches. No HubSpot account is involved; the first run installs the card's dependencies from
// the npm registry (src/app/cards/package-lock.json) into a cache.

const script = fileURLToPath(new URL('../scripts/check-card.mjs', import.meta.url));
const outcome = z.object({ ok: z.boolean(), output: z.string() });
const report = z.object({
  lint: outcome,
  build: outcome.extend({ dataDeps: z.array(z.looseObject({ properties: z.looseObject({ type: z.string() }) })).nullable() }),
});

describe("the card under HubSpot's tools", () => {
  let result: z.infer<typeof report>;
  beforeAll(async () => {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [script], { maxBuffer: 32 * 1024 * 1024, timeout: 840_000 }).catch(
      (error: { stdout?: string; stderr?: string; message: string }) => ({ stdout: error.stdout ?? '', stderr: `${error.stderr ?? ''}${error.message}` }),
    );
    const line = stdout.trim().split('\n').pop() ?? '';
    // A run that crashed prints no report: say why instead of "Unexpected end of JSON input".
    if (!line.startsWith('{')) throw new Error(`check-card.mjs printed no report:\n${stderr}`);
    result = report.parse(JSON.parse(line));
  }, 900_000);

  it('passes `hs project lint` (HubSpot 2026.09 card ESLint config)', () => {
    expect(result.lint.output).toContain('src/app/cards');
    expect(result.lint.ok, result.lint.output).toBe(true);
  });

  it('builds with `uie build`, and HubSpot prefetches the phone properties the card reads', () => {
    expect(result.build.ok, result.build.output).toBe(true);
    const deps = result.build.dataDeps ?? [];
    const record = deps.find((d) => d.properties.type === 'CrmRecordProperties')?.properties;
    const associated = deps.find((d) => d.properties.type === 'CrmRecordAssociationProperties')?.properties;
    // A spread (`[...PHONE_PROPERTIES]`) leaves these out of the manifest: HubSpot then fetches late.
    expect(record?.recordProperties).toEqual([...PHONE_PROPERTIES]);
    expect(associated?.requestProperties).toEqual(expect.arrayContaining([...PHONE_PROPERTIES]));
  });
});
