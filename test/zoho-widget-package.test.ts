// The Zoho CRM widget as Zoho receives it: Zoho's own packager (zet, npm zoho-extension-toolkit)
// validates the project and packs it, and the zip holds exactly the widget's files, every one the
// page loads. For Zoho CRM, zet packs app/ only and leaves plugin-manifest.json out on purpose:
// placement, hosting and the install settings are set in Zoho (zoho-widget/README.md).
import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const WIDGET = join(ROOT, 'zoho-widget');
const ZET = join(ROOT, 'node_modules/.bin/zet');

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

async function zipEntries(zip: string): Promise<string[]> {
  // Python's zipfile reads the archive's own directory (no unzip binary needed).
  const { stdout } = await run('python3', ['-c', 'import json,sys,zipfile; print(json.dumps(zipfile.ZipFile(sys.argv[1]).namelist()))', zip]);
  return (JSON.parse(stdout) as string[]).sort();
}

// zet is a pinned devDependency of zoho-widget/: a missing binary is an install problem, not a skip.
describe('Zoho widget package (zet)', () => {
  let project = '';
  let validateOut = '';
  let packOut = '';
  let entries: string[] = [];

  beforeAll(async () => {
    // zet writes dist/ into the project: work on a copy named like the extension.
    project = join(mkdtempSync(join(tmpdir(), 'coex-zet-')), 'coex-whatsapp');
    cpSync(join(WIDGET, 'app'), join(project, 'app'), { recursive: true });
    cpSync(join(WIDGET, 'plugin-manifest.json'), join(project, 'plugin-manifest.json'));
    const env = { ...process.env, NO_UPDATE_NOTIFIER: '1' };
    validateOut = (await run(ZET, ['validate'], { cwd: project, env, timeout: 120_000 })).stdout;
    packOut = (await run(ZET, ['pack'], { cwd: project, env, timeout: 120_000 })).stdout;
    entries = await zipEntries(join(project, 'dist', 'coex-whatsapp.zip'));
  }, 180_000);

  afterAll(() => {
    if (project) rmSync(join(project, '..'), { recursive: true, force: true });
  });

  it('passes zet validate and packs without leaving a file out', () => {
    expect(validateOut).toContain('Validation Rules passed successfully');
    expect(packOut).toContain('packed successfully');
    // zet lists files of a type Zoho does not host (e.g. .d.ts, .ts, .map) and drops them.
    expect(packOut).not.toMatch(/==>/);
  });

  it('holds exactly the files of app/, and no manifest (Zoho CRM takes placement and settings from its own setup)', () => {
    const expected = filesUnder(join(WIDGET, 'app')).map((f) => relative(WIDGET, f).split('\\').join('/')).sort();
    expect(entries).toEqual(expected);
    expect(entries).toContain('app/widget.html');
    expect(entries).toContain('app/vendor/coex-thread-view.js');
    expect(entries).not.toContain('plugin-manifest.json');
    expect(JSON.parse(readFileSync(join(WIDGET, 'plugin-manifest.json'), 'utf8'))).toEqual({ service: 'CRM' });
  });

  it('has in the zip every file the page and its modules load', () => {
    const html = readFileSync(join(WIDGET, 'app/widget.html'), 'utf8');
    const local = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!).filter((u) => !/^https?:/.test(u));
    const jsFiles = entries.filter((e) => e.endsWith('.js'));
    const imports = jsFiles.flatMap((file) =>
      [...readFileSync(join(WIDGET, file), 'utf8').matchAll(/(?:from|import)\s*"(\.[^"]+)"/g)].map((m) => join(file, '..', m[1]!).split('\\').join('/')),
    );
    expect(local.length).toBeGreaterThanOrEqual(2);
    expect(imports).toContain('app/vendor/coex-thread-view.js');
    for (const path of [...local.map((u) => `app/${u}`), ...imports]) expect(entries).toContain(path);
  });
});
