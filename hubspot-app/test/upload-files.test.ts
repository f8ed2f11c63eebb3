import { execFileSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// What `hs project upload` would send: the HubSpot CLI archives src/ file by file through
// @hubspot/local-dev-lib's shouldIgnoreFile, which reads hubspot-app/.hsignore (found from the
// working directory, as when an operator runs the upload there). Tests must stay out of it.

const appDir = fileURLToPath(new URL('../', import.meta.url));
const srcDir = join(appDir, 'src');

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    if (name === 'node_modules' || name === 'dist') return [];
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : [relative(srcDir, path)];
  });
}

describe('hs project upload archive', () => {
  it('leaves the tests out and keeps the card, its config and its package files', () => {
    const names = files(srcDir);
    // Same call the CLI's upload makes (cli/lib/projects/upload.js: shouldIgnoreFile(file.name, true)).
    const script = `
      import { shouldIgnoreFile } from '@hubspot/local-dev-lib/ignoreRules';
      const names = JSON.parse(process.argv[1]);
      process.stdout.write(JSON.stringify(names.filter((n) => !shouldIgnoreFile(n, true))));
    `;
    const uploaded: string[] = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script, JSON.stringify(names)], { cwd: appDir, encoding: 'utf8' }));
    expect(names.filter((n) => /\.test\.tsx?$/.test(n)).length).toBeGreaterThan(0);
    expect(uploaded.filter((n) => /\.test\.tsx?$/.test(n))).toEqual([]);
    expect(uploaded).toEqual(expect.arrayContaining(['app/app-hsmeta.json', 'app/cards/CoexThreadCard.tsx', 'app/cards/CoexCard.tsx', 'app/cards/package.json', 'app/cards/package-lock.json', 'app/cards/lib/config.ts']));
  });
});
