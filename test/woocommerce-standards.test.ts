// The WooCommerce plugin as the WordPress.org directory checks it, offline:
// - WordPress Coding Standards (PHPCS + WPCS, from the tarball in COEX_PHPCS_DIR, which .ci/run points
//   at ../shared/vendor/php-coding-standards) over woocommerce-plugin/phpcs.xml.dist: no error, no warning;
// - translations: bin/make-pot.sh (GNU gettext's xgettext with WordPress's keyword list) run on a copy
//   gives the committed .pot, .po and .mo files; French and Arabic translate every string.
// - right-to-left: the timeline CSS mirrors under dir="rtl" and lets each message take its own
//   direction, measured in headless Chromium.
// Each part skips with its reason when its tool is missing (.ci/extras installs php, gettext, chromium).
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CHROMIUM = '/usr/bin/chromium';

/** Headless Chromium with a throwaway profile; resolves with stdout (--dump-dom). */
function runChromium(args: string[]): Promise<string> {
  const profile = mkdtempSync(join(tmpdir(), 'coex-chromium-'));
  return new Promise((done, fail) => {
    execFile(CHROMIUM, ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-dev-shm-usage', `--user-data-dir=${profile}`, ...args], { timeout: 90_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      rmSync(profile, { recursive: true, force: true });
      if (err) fail(new Error(`${err.message}\n${stderr}`));
      else done(stdout);
    });
  });
}
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

  it.skipIf(!existsSync(CHROMIUM))('renders mirrored in an Arabic admin, and an Arabic message right-to-left in a French one (headless Chromium)', async () => {
    const dir = temp('coex-rtl-');
    const page = (htmlDir: 'rtl' | 'ltr', lang: string) => {
      const file = join(dir, `${htmlDir}.html`);
      // Static markup with the timeline's classes (the module builds the same structure); a script
      // measures the layout and writes it into data attributes for --dump-dom.
      writeFileSync(
        file,
        `<!doctype html><html dir="${htmlDir}" lang="${lang}"><head><meta charset="utf-8"><style>${readFileSync(join(PLUGIN, 'assets/css/coex-timeline.css'), 'utf8')}
body{margin:0;padding:16px;width:700px;font:13px sans-serif}</style></head><body>
<div class="coex-timeline"><div class="coex-timeline__header"><strong>Amina</strong><div class="coex-bot" id="bot"><span class="coex-bot__state">AI</span></div></div>
<ul class="coex-timeline__items" id="list">
<li class="coex-item coex-item--message coex-item--in" id="in"><p class="coex-item__text" id="ar">السلام، واش وصلات الكوموند؟</p><span class="coex-item__meta">10:02</span></li>
<li class="coex-item coex-item--message coex-item--out" id="out"><p class="coex-item__text" id="fr">Votre colis arrive demain, inchallah.</p><span class="coex-item__meta">10:05</span></li>
</ul><p class="coex-optout" id="optout">Opted out</p></div>
<script>
const box = (id) => document.getElementById(id).getBoundingClientRect();
const textBox = (id) => { const r = document.createRange(); r.selectNodeContents(document.getElementById(id)); return r.getBoundingClientRect(); };
const list = box('list'), header = document.querySelector('.coex-timeline__header').getBoundingClientRect();
const ar = document.getElementById('ar').getBoundingClientRect(), arText = textBox('ar');
const fr = document.getElementById('fr').getBoundingClientRect(), frText = textBox('fr');
const border = getComputedStyle(document.getElementById('optout'));
document.body.dataset.layout = JSON.stringify({
  inAtRight: Math.abs(box('in').right - list.right) < 2, inAtLeft: Math.abs(box('in').left - list.left) < 2,
  outAtRight: Math.abs(box('out').right - list.right) < 2, outAtLeft: Math.abs(box('out').left - list.left) < 2,
  botAtLeft: box('bot').left < header.left + header.width / 2,
  arabicTextHugsRight: Math.abs(arText.right - ar.right) < 2, latinTextHugsLeft: Math.abs(frText.left - fr.left) < 2,
  optOutBarOnRight: border.borderRightWidth === '4px', optOutBarOnLeft: border.borderLeftWidth === '4px',
});
</script></body></html>`,
      );
      return pathToFileURL(file).href;
    };
    const layout = async (url: string) => {
      const dom = await runChromium(['--dump-dom', url]);
      const raw = /data-layout="([^"]*)"/.exec(dom)?.[1] ?? '';
      return JSON.parse(raw.replace(/&quot;/g, '"')) as Record<string, boolean>;
    };
    const rtl = await layout(page('rtl', 'ar'));
    // Arabic admin: the customer on the right, the shop on the left, the agent toggle and the opt-out bar mirrored.
    expect(rtl).toMatchObject({ inAtRight: true, outAtLeft: true, botAtLeft: true, optOutBarOnRight: true, arabicTextHugsRight: true, latinTextHugsLeft: true });
    const ltr = await layout(page('ltr', 'fr'));
    expect(ltr).toMatchObject({ inAtLeft: true, outAtRight: true, botAtLeft: false, optOutBarOnLeft: true, arabicTextHugsRight: true, latinTextHugsLeft: true });
  }, 120_000);

  it('message texts take their own direction from their content', () => {
    for (const selector of ['.coex-item__text', '.coex-item__transcript', '.coex-template-form__preview']) {
      const rule = new RegExp(`${selector.replace(/[.]/g, '\\.')}\\s*\\{([^}]*)\\}`).exec(css)?.[1] ?? '';
      expect(rule, selector).toMatch(/unicode-bidi:\s*plaintext/);
    }
  });
});
