#!/usr/bin/env node
// Runs HubSpot's own tools on the card, offline from any HubSpot account:
//   1. `hs project lint` (HubSpot CLI, the ESLint config of HubSpot's 2026.09 card template);
//   2. `uie build` of the card entry (the bundler HubSpot's build uses), and reads the manifest it
//      writes: `dataDeps` lists the CRM properties HubSpot prefetches for the card.
// It works on a copy of the project whose src/app/cards/node_modules links to the card's own
// dependencies (src/app/cards/package-lock.json, installed once with `npm ci` into a cache keyed by
// the lockfile), so the repository's tree keeps a single React for vitest.
// Prints one JSON line: { lint: { ok, output }, build: { ok, output, dataDeps } }; exits 1 on failure.
// Used by test/card-tooling.test.ts (CI) and `npm run check:card -w @coex/hubspot-app`.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const appDir = fileURLToPath(new URL('../', import.meta.url));
const repoBin = join(appDir, '..', 'node_modules', '.bin');
const cardsDir = join(appDir, 'src', 'app', 'cards');

async function sh(cmd, args, cwd, env = {}) {
  try {
    const { stdout, stderr } = await run(cmd, args, { cwd, env: { ...process.env, ...env, FORCE_COLOR: '0', NO_COLOR: '1' }, maxBuffer: 32 * 1024 * 1024, timeout: 480_000 });
    return { ok: true, output: `${stdout}${stderr}` };
  } catch (error) {
    return { ok: false, output: `${error.stdout ?? ''}${error.stderr ?? ''}${error.message}` };
  }
}

/** The card's dependencies (lint toolchain included), installed once per lockfile content. */
async function cardDependencies() {
  const lock = readFileSync(join(cardsDir, 'package-lock.json'));
  const key = createHash('sha256').update(readFileSync(join(cardsDir, 'package.json'))).update(lock).digest('hex').slice(0, 16);
  const dir = join(process.env.COEX_HUBSPOT_CARD_DEPS_DIR ?? join(tmpdir(), 'coex-hubspot-card-deps'), key);
  if (existsSync(join(dir, '.installed'))) return dir;
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  cpSync(join(cardsDir, 'package.json'), join(dir, 'package.json'));
  cpSync(join(cardsDir, 'package-lock.json'), join(dir, 'package-lock.json'));
  const install = await sh('npm', ['ci', '--no-audit', '--no-fund', '--ignore-scripts'], dir);
  if (!install.ok) throw new Error(`npm ci of the card's dependencies failed:\n${install.output}`);
  writeFileSync(join(dir, '.installed'), new Date().toISOString());
  return dir;
}

const deps = await cardDependencies();
const work = mkdtempSync(join(tmpdir(), 'coex-hubspot-project-'));
try {
  cpSync(join(appDir, 'hsproject.json'), join(work, 'hsproject.json'));
  cpSync(join(appDir, '.hsignore'), join(work, '.hsignore'));
  cpSync(join(appDir, 'src'), join(work, 'src'), { recursive: true, filter: (path) => !/[/\\](node_modules|dist)$/.test(path) });
  const workCards = join(work, 'src', 'app', 'cards');
  symlinkSync(join(deps, 'node_modules'), join(workCards, 'node_modules'), 'dir');
  // The CLI keeps its config and logs under HOME: a throwaway one, no HubSpot account involved.
  const home = mkdtempSync(join(tmpdir(), 'coex-hs-home-'));
  const env = { HOME: home, PATH: `${repoBin}:${process.env.PATH ?? ''}` };

  const lint = await sh(join(repoBin, 'hs'), ['project', 'lint', '--install-missing-deps=false'], work, env);
  lint.ok = lint.ok && /Linting passed in 1 directory/.test(lint.output) && !/Linting failed/.test(lint.output);

  const entry = JSON.parse(readFileSync(join(workCards, 'coex-thread-hsmeta.json'), 'utf8')).config.entrypoint;
  const build = await sh(join(repoBin, 'uie'), ['build', entry.replace(/^\/app\/cards\//, '')], workCards, env);
  const manifestPath = join(workCards, 'dist', `${entry.split('/').pop().replace(/\.[jt]sx?$/, '')}-manifest.json`);
  const manifest = existsSync(manifestPath) ? JSON.parse(readFileSync(manifestPath, 'utf8')) : null;
  build.ok = build.ok && manifest !== null;
  rmSync(home, { recursive: true, force: true });

  const result = { lint, build: { ...build, dataDeps: manifest?.dataDeps ?? null } };
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exitCode = lint.ok && build.ok ? 0 : 1;
} finally {
  rmSync(work, { recursive: true, force: true });
}
