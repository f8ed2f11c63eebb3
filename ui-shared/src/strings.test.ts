import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { MESSAGES, languageOf, textDirection, translator } from './strings.js';

describe('string catalogue', () => {
  it('has every English key in French and Arabic, none empty', () => {
    const keys = Object.keys(MESSAGES.en).sort();
    for (const lang of ['fr', 'ar'] as const) {
      expect(Object.keys(MESSAGES[lang]).sort()).toEqual(keys);
      expect(Object.values(MESSAGES[lang]).filter((v) => v.trim() === '')).toEqual([]);
    }
  });

  it('picks the language from a locale, falls back to English, and reads Arabic right to left', () => {
    expect(['fr-MA', 'fr_FR', 'AR', 'ar-MA', 'es', undefined, null].map(languageOf)).toEqual(['fr', 'fr', 'ar', 'ar', 'en', 'en', 'en']);
    expect([textDirection('ar-MA'), textDirection('fr-MA'), textDirection(undefined)]).toEqual(['rtl', 'ltr', 'ltr']);
    expect(translator('fr-MA')('send')).toBe('Envoyer');
    expect(translator('ar')('send')).toBe('إرسال');
    expect(translator('es')('send')).toBe('Send');
    expect(translator('fr')('no_such_key')).toBe('no_such_key');
    expect(translator('fr')('toString')).toBe('toString');
  });

  it("is what the Odoo panel's _t() literals say in English (Odoo extracts and translates those)", () => {
    const panel = readFileSync(new URL('../../odoo-addon-bridge/coex_whatsapp_bridge/static/src/thread_panel/thread_panel.js', import.meta.url), 'utf8');
    const labels = [...panel.matchAll(/^\s+(\w+): _t\("((?:[^"\\]|\\.)*)"\),$/gm)].map((m) => [m[1], m[2]]);
    expect(labels.length).toBeGreaterThan(60);
    const en: Readonly<Record<string, string>> = MESSAGES.en;
    expect(labels.filter(([key, text]) => en[key!] !== text)).toEqual([]);
  });
});
