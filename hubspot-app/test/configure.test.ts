import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

// scripts/configure.mjs: how an operator puts their own domain and support contacts into the
// project before `hs project upload` (run here on a copy of src/).

const script = fileURLToPath(new URL('../scripts/configure.mjs', import.meta.url));
const src = fileURLToPath(new URL('../src', import.meta.url));

async function configure(root: string, ...args: string[]): Promise<{ code: number; out: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [script, '--root', root, ...args], { env: { PATH: process.env.PATH ?? '' } });
    return { code: 0, out: stdout + stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, out: e.stdout + e.stderr };
  }
}

describe('scripts/configure.mjs', () => {
  let root: string;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'coex-hs-configure-'));
    cpSync(src, join(root, 'src'), { recursive: true, filter: (p) => !/[/\\](node_modules|dist)$/.test(p) });
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  const app = () => JSON.parse(readFileSync(join(root, 'src/app/app-hsmeta.json'), 'utf8'));
  const config = () => readFileSync(join(root, 'src/app/cards/lib/config.ts'), 'utf8');

  it('refuses an upload while the example.com placeholders are left', async () => {
    const check = await configure(root, '--check');
    expect(check.code).toBe(1);
    expect(check.out).toContain('permittedUrls.fetch');
    expect(check.out).toContain('COEX_SERVER_URL');
    expect(check.out).toContain('supportPhone');
  });

  it('writes the domain into the OAuth redirect, permitted fetch URL, support links and the card', async () => {
    const run = await configure(root, '--server-url', 'https://coex.atlas-shop.ma/', '--support-email', 'aide@atlas-shop.ma', '--support-phone', '+212 522 48 10 10');
    expect(run.code, run.out).toBe(0);
    const a = app();
    expect(a.config.auth.redirectUrls).toEqual(['https://coex.atlas-shop.ma/oauth/hubspot/callback']);
    expect(a.config.permittedUrls.fetch).toEqual(['https://coex.atlas-shop.ma']);
    expect(a.config.support).toEqual({
      supportEmail: 'aide@atlas-shop.ma',
      supportPhone: '+212 522 48 10 10',
      supportUrl: 'https://coex.atlas-shop.ma/support',
      documentationUrl: 'https://coex.atlas-shop.ma/docs',
    });
    expect(config()).toContain("export const COEX_SERVER_URL = 'https://coex.atlas-shop.ma';");
    // Scopes and the rest of the app are untouched.
    expect(a.config.auth.requiredScopes).toContain('oauth');
    expect((await configure(root, '--check')).code).toBe(0);
  });

  it('refuses URLs hubspot.fetch would refuse', async () => {
    expect((await configure(root, '--server-url', 'http://coex.atlas-shop.ma')).out).toMatch(/must use https/);
    expect((await configure(root, '--server-url', 'https://coex.atlas-shop.ma/?k=1')).out).toMatch(/query/);
    expect((await configure(root)).code).toBe(1);
    expect(config()).toContain("'https://coex.example.com'");
  });
});
