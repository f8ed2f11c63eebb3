import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { MESSAGES, formatMessage, languageOf, textDirection, translator } from './strings.js';

describe('string catalogue', () => {
  it('has every English key in French and Arabic, none empty', () => {
    const keys = Object.keys(MESSAGES.en).sort();
    for (const lang of ['fr', 'ar'] as const) {
      expect(Object.keys(MESSAGES[lang]).sort()).toEqual(keys);
      expect(Object.values(MESSAGES[lang]).filter((v) => v.trim() === '')).toEqual([]);
    }
  });

  it('names the same {placeholders} in every language, and has an _other form for every _one', () => {
    const names = (text: string) => [...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!).sort();
    const en: Readonly<Record<string, string>> = MESSAGES.en;
    for (const lang of ['fr', 'ar'] as const) {
      const table: Readonly<Record<string, string>> = MESSAGES[lang];
      // A singular form may say its number in words ("قالب معتمد واحد") instead of {count}.
      const same = (key: string) => (key.endsWith('_one') ? (list: string[]) => list.filter((n) => n !== 'count') : (list: string[]) => list);
      expect(Object.keys(en).filter((key) => JSON.stringify(same(key)(names(table[key]!))) !== JSON.stringify(same(key)(names(en[key]!))))).toEqual([]);
    }
    expect(Object.keys(en).filter((key) => key.endsWith('_one') && !Object.hasOwn(en, key.replace(/_one$/, '_other')))).toEqual([]);
  });

  it('fills {placeholders} once, and picks _one or _other by count with the language rules', () => {
    expect(formatMessage('Template "{name}" sent on {where}.', { name: '{where}', where: 'WhatsApp' })).toBe('Template "{where}" sent on WhatsApp.');
    expect(formatMessage('Value for {name}', { name: '{{1}}' })).toBe('Value for {{1}}');
    expect(formatMessage('{missing} stays', {})).toBe('{missing} stays');
    expect(formatMessage('{toString}', {})).toBe('{toString}');
    const en = translator('en');
    expect(en('card_unsendable', { count: 1, reasons: 'x' })).toBe('1 approved template cannot be sent from here: x.');
    expect(en('card_unsendable', { count: 3, reasons: 'x' })).toBe('3 approved templates cannot be sent from here: x.');
    expect(translator('fr')('card_unsendable', { count: 2, reasons: 'x' })).toBe('2 modèles approuvés ne peuvent pas être envoyés d’ici : x.');
    expect(translator('ar')('card_unsendable', { count: 11, reasons: 'x' })).toBe('قوالب معتمدة لا يمكن إرسالها من هنا (العدد: 11): x.');
    expect(en('card_show_earlier', { count: 4 })).toBe('Show earlier messages (4)');
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
