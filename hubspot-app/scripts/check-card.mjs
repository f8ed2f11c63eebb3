#!/usr/bin/env node
// Runs HubSpot's own tools on the card, offline from any HubSpot account:
//   1. `hs project lint` (HubSpot CLI, the ESLint config of HubSpot's 2026.09 card template);
//   2. `uie build` of the card entry (the bundler HubSpot's build uses), and reads the manifest it
//      writes: `dataDeps` lists the CRM properties HubSpot prefetches for the card.
// It works on a copy of the project (cached under the system temp dir, or COEX_HUBSPOT_CARD_DEPS_DIR,
// keyed by the card's lockfile) whose src/app/cards/node_modules holds the card's own dependencies
// (`npm ci` of src/app/cards/package-lock.json, once), so the repository's tree keeps one React for vitest.
// One run at a time per cache folder (a lock, proper-lockfile): two runs at once — two suites on one
// machine, or this script while the suite runs — rewrote each other's copy and node_modules.
// Prints one JSON line: { lint: { ok, output }, build: { ok, output, dataDeps } }; exits 1 on failure.
// Used by test/card-tooling.test.ts (CI) and `npm run check:card -w @coex/hubspot-app`.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import lockfile from 'proper-lockfile';

const run = promisify(execFile);
const appDir = fileURLToPath(new URL('../', import.meta.url));
const repoBin = join(appDir, '..', 'node_modules', '.bin');
const cardsDir = join(appDir, 'src', 'app', 'cards');

/**
 * The environment for HubSpot's tools: npm's own variables removed. Under `npm test`, npm sets
 * INIT_CWD to the repository root, and `hs project lint` looks for the project there instead of in
 * its working directory ("No project detected").
 */
function toolEnv(extra) {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'INIT_CWD' && !k.startsWith('npm_')));
  return { ...env, ...extra, FORCE_COLOR: '0', NO_COLOR: '1' };
}

async function sh(cmd, args, cwd, env = {}) {
  try {
    const { stdout, stderr } = await run(cmd, args, { cwd, env: toolEnv(env), maxBuffer: 32 * 1024 * 1024, timeout: 480_000 });
    return { ok: true, output: `${stdout}${stderr}` };
  } catch (error) {
    return { ok: false, output: `${error.stdout ?? ''}${error.stderr ?? ''}${error.message}` };
  }
}

/**
 * A copy of the project whose src/app/cards/node_modules holds the card's own dependencies,
 * installed once per lockfile content (`npm ci`) and kept between runs. Not a symlink to a shared
 * install: `uie build` rearranges the node_modules it finds (it replaced a link with a directory).
 */
async function projectCopy(cacheDir) {
  const lock = readFileSync(join(cardsDir, 'package-lock.json'));
  const key = createHash('sha256').update(readFileSync(join(cardsDir, 'package.json'))).update(lock).digest('hex').slice(0, 16);
  const project = join(cacheDir, key);
  const workCards = join(project, 'src', 'app', 'cards');
  const ready = existsSync(join(project, '.installed')) && existsSync(join(workCards, 'node_modules', '.bin', 'eslint'));
  if (!ready) {
    rmSync(project, { recursive: true, force: true });
    mkdirSync(workCards, { recursive: true });
    cpSync(join(cardsDir, 'package.json'), join(workCards, 'package.json'));
    cpSync(join(cardsDir, 'package-lock.json'), join(workCards, 'package-lock.json'));
    const install = await sh('npm', ['ci', '--no-audit', '--no-fund', '--ignore-scripts'], workCards);
    if (!install.ok) throw new Error(`npm ci of the card's dependencies failed:\n${install.output}`);
    writeFileSync(join(project, '.installed'), new Date().toISOString());
  }
  // Fresh sources on every run; only the installed node_modules stays.
  for (const name of readdirSync(project)) if (name !== 'src' && name !== '.installed') rmSync(join(project, name), { recursive: true, force: true });
  const keep = join(workCards, 'node_modules');
  const clear = (dir) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (path === keep) continue;
      if (keep.startsWith(path + '/')) clear(path);
      else rmSync(path, { recursive: true, force: true });
    }
  };
  clear(join(project, 'src'));
  cpSync(join(appDir, 'hsproject.json'), join(project, 'hsproject.json'));
  cpSync(join(appDir, '.hsignore'), join(project, '.hsignore'));
  cpSync(join(appDir, 'src'), join(project, 'src'), { recursive: true, filter: (path) => !/[/\\](node_modules|dist)$/.test(path) });
  return project;
}

const cacheDir = process.env.COEX_HUBSPOT_CARD_DEPS_DIR ?? join(tmpdir(), 'coex-hubspot-card-deps');
mkdirSync(cacheDir, { recursive: true });
// Waits for a run in progress (a run takes ~20 s, an `npm ci` of the card's dependencies minutes); a
// lock whose holder died is taken over once it has not been refreshed for `stale` ms.
const release = await lockfile.lock(cacheDir, { stale: 60_000, update: 10_000, retries: { retries: 600, factor: 1, minTimeout: 1_000, maxTimeout: 1_000 } });
try {
  const work = await projectCopy(cacheDir);
  const workCards = join(work, 'src', 'app', 'cards');
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
  await release();
}
