import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ODOO_I18N_DIR, staleOutputs } from './build.mjs';

const ROOT = new URL('../', import.meta.url);

describe('ui-shared build outputs', () => {
  // CI runs this: a change to ui-shared/src without `npm run build -w ui-shared` fails here.
  it('are committed as the sources give them in every UI', async () => {
    expect(await staleOutputs()).toEqual([]);
  }, 60_000);

  it("give Odoo a French and an Arabic translation of every _t() string of the panel, as entries Odoo serves to the web client", () => {
    const panel = readFileSync(new URL('odoo-addon-bridge/coex_whatsapp_bridge/static/src/thread_panel/thread_panel.js', ROOT), 'utf8');
    const literals = [...panel.matchAll(/_t\("((?:[^"\\]|\\.)*)"\)/g)].map((m) => m[1]!);
    expect(literals.length).toBeGreaterThan(60);
    for (const lang of ['fr', 'ar']) {
      const po = readFileSync(new URL(`${ODOO_I18N_DIR}/${lang}.po`, ROOT), 'utf8');
      const entries = po.split('\n\n').filter((block) => /^msgid "[^"]/m.test(block));
      const translated = new Map<string, string>();
      for (const block of entries) {
        // Odoo's loader (odoo/tools/translate.py) keeps a code entry for JS only with these comments.
        expect(block).toContain('#. module: coex_whatsapp_bridge\n#. odoo-javascript\n#: code:addons/coex_whatsapp_bridge/static/src/');
        const msgid = /^msgid "(.*)"$/m.exec(block)![1]!;
        translated.set(msgid, /^msgstr "(.*)"$/m.exec(block)![1]!);
      }
      expect(literals.filter((text) => !translated.get(text))).toEqual([]);
    }
  });
});
