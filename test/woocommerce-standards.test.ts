// The WooCommerce plugin as the WordPress.org directory checks it, offline:
// - WordPress Coding Standards (PHPCS + WPCS, from the tarball in COEX_PHPCS_DIR, which .ci/run points
//   at ../shared/vendor/php-coding-standards) over woocommerce-plugin/phpcs.xml.dist: no error, no warning;
// - translations: bin/make-pot.sh (GNU gettext's xgettext with WordPress's keyword list) run on a copy
//   gives the committed .pot, .po and .mo files; French and Arabic translate every string.
// Each part skips with its reason when its tool is missing (.ci/extras installs php and gettext).
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const PLUGIN = join(ROOT, 'woocommerce-plugin');
const has = (cmd: string, arg = '--version') => spawnSync(cmd, [arg], { encoding: 'utf8' }).status === 0;

const phpcsDir = process.env.COEX_PHPCS_DIR ? resolve(ROOT, process.env.COEX_PHPCS_DIR) : undefined;
const phpcsTarball = phpcsDir ? join(phpcsDir, 'php-coding-standards.tar.gz') : undefined;
const phpcsSkip = !has('php', '-v')
  ? 'php is missing (apt-get install php-cli; .ci/extras does it in CI)'
  : !phpcsTarball
    ? 'COEX_PHPCS_DIR is unset (the folder holding php-coding-standards.tar.gz; .ci/run sets it to ../shared/vendor/php-coding-standards)'
    : !existsSync(phpcsTarball)
      ? `${phpcsTarball} does not exist`
      : null;
const gettextSkip = has('xgettext') && has('msgfmt') && has('msgmerge') && has('msgunfmt') ? null : 'GNU gettext is missing (apt-get install gettext; .ci/extras does it in CI)';
if (phpcsSkip) console.warn(`SKIP WordPress Coding Standards: ${phpcsSkip}`);
if (gettextSkip) console.warn(`SKIP plugin translation checks: ${gettextSkip}`);

const temps: string[] = [];
afterAll(() => {
  for (const dir of temps) rmSync(dir, { recursive: true, force: true });
});
const temp = (prefix: string) => {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  temps.push(dir);
  return dir;
};

describe.skipIf(phpcsSkip !== null)('WooCommerce plugin: WordPress Coding Standards', () => {
  it('phpcs.xml.dist passes with no error and no warning', () => {
    const tools = temp('coex-phpcs-');
    execFileSync('tar', ['-xzf', phpcsTarball!, '-C', tools]);
    const phpcs = join(tools, 'phpcs', 'bin', 'phpcs');
    // installed_paths lives in the extracted copy's CodeSniffer.conf, nowhere else.
    execFileSync('php', [phpcs, '--config-set', 'installed_paths', ['wpcs', 'phpcsextra', 'phpcsutils'].map((d) => join(tools, d)).join(',')]);
    const run = spawnSync('php', [phpcs, '--standard=phpcs.xml.dist', '--no-colors', '--report=full', '-q'], { cwd: PLUGIN, encoding: 'utf8', timeout: 300_000 });
    expect(run.stdout + run.stderr).not.toMatch(/\|\s*(ERROR|WARNING)\s*\|/);
    expect(run.status, run.stdout + run.stderr).toBe(0);
  }, 320_000);
});

describe.skipIf(gettextSkip !== null)('WooCommerce plugin: translations', () => {
  const languages = join(PLUGIN, 'languages');
  const withoutDates = (text: string) => text.replace(/^"(POT-Creation-Date|PO-Revision-Date):.*\n/gm, '');
  const locales = readdirSync(languages).flatMap((f) => /^coex-whatsapp-(.+)\.po$/.exec(f)?.[1] ?? []);

  it('ships French and Arabic', () => {
    expect(locales.sort()).toEqual(['ar', 'fr_FR']);
  });

  it('the committed .pot, .po and .mo files are what bin/make-pot.sh makes from the PHP', () => {
    const copy = temp('coex-i18n-');
    cpSync(PLUGIN, copy, { recursive: true, filter: (p) => !p.includes('node_modules') });
    execFileSync('bash', [join(copy, 'bin', 'make-pot.sh')], { encoding: 'utf8' });
    const read = (dir: string, name: string) => readFileSync(join(dir, 'languages', name), 'utf8');
    expect(withoutDates(read(PLUGIN, 'coex-whatsapp.pot')), 'run woocommerce-plugin/bin/make-pot.sh').toBe(withoutDates(read(copy, 'coex-whatsapp.pot')));
    for (const locale of locales) {
      const po = `coex-whatsapp-${locale}.po`;
      expect(withoutDates(read(PLUGIN, po)), `${po}: run bin/make-pot.sh`).toBe(withoutDates(read(copy, po)));
      const unfmt = (dir: string) => withoutDates(execFileSync('msgunfmt', ['--no-wrap', join(dir, 'languages', `coex-whatsapp-${locale}.mo`)], { encoding: 'utf8' }));
      expect(unfmt(PLUGIN), `coex-whatsapp-${locale}.mo: run bin/make-pot.sh`).toBe(unfmt(copy));
    }
  });

  it.each(['fr_FR', 'ar'])('%s translates every string, keeping its placeholders', (locale) => {
    const po = join(languages, `coex-whatsapp-${locale}.po`);
    // --check validates php-format placeholders; --statistics counts untranslated and fuzzy entries.
    const stats = spawnSync('msgfmt', ['--check', '--statistics', '-o', '/dev/null', po], { encoding: 'utf8' });
    expect(stats.status, stats.stderr).toBe(0);
    expect(stats.stderr).toMatch(/^\d+ translated messages\.\s*$/m);
    const total = (readFileSync(join(languages, 'coex-whatsapp.pot'), 'utf8').match(/^msgid "/gm) ?? []).length - 1;
    expect(Number(/^(\d+) translated/m.exec(stats.stderr)?.[1])).toBe(total);
  });
});

describe('WooCommerce plugin: right-to-left admin (Arabic)', () => {
  const css = readFileSync(join(PLUGIN, 'assets/css/coex-timeline.css'), 'utf8').replace(/\/\*[\s\S]*?\*\//g, '');

  it('the timeline stylesheet uses logical properties only, so it mirrors under dir="rtl"', () => {
    const physical = css.match(/(?:margin|padding|border)-(?:left|right)\b[^;]*|text-align:\s*(?:left|right)|float:\s*(?:left|right)|(?<![-\w])(?:left|right)\s*:[^;]*/g) ?? [];
    expect(physical).toEqual([]);
  });

  it('message texts take their own direction from their content', () => {
    for (const selector of ['.coex-item__text', '.coex-item__transcript', '.coex-template-form__preview']) {
      const rule = new RegExp(`${selector.replace(/[.]/g, '\\.')}\\s*\\{([^}]*)\\}`).exec(css)?.[1] ?? '';
      expect(rule, selector).toMatch(/unicode-bidi:\s*plaintext/);
    }
  });
});
