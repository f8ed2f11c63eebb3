import { describe, expect, it } from 'vitest';
import { BASE_LANGUAGES, detectLanguage, detectScript } from './detect.js';

describe('detectLanguage', () => {
  const cases: Array<[string, string, string]> = [
    // [text, tag, script]
    ['واش كاين التوصيل لمراكش؟', 'darija_arabic', 'arabic'],
    ['بغيت نشري هاد الصندالة، شحال فيها؟', 'darija_arabic', 'arabic'],
    ['wach kayn livraison l marrakech?', 'darija_latin', 'latin'],
    ['bghit n3ref ch7al', 'darija_latin', 'latin'],
    ['salam, bghit commande dyal 2 t-shirts, possible livraison demain?', 'darija_latin', 'latin'],
    ['Bonjour, est-ce que la robe existe en bleu ?', 'french', 'latin'],
    ['ماذا تقصد بهذا العرض؟ هل يشمل التوصيل؟', 'msa', 'arabic'],
    ['من فضلك، كيف حالك؟ أريد الاستفسار', 'msa', 'arabic'],
    ['Could you tell me when the shop opens tomorrow?', 'english', 'latin'],
    ['Bonjour, je voudrais savoir wach kayn la taille M f had lmodel', 'mixed', 'latin'],
    ['السلام عليكم، je voudrais un rendez-vous svp', 'mixed', 'mixed'],
  ];
  for (const [text, tag, script] of cases) {
    it(`${JSON.stringify(text)} → ${tag}`, () => {
      const result = detectLanguage(text);
      expect(result.tag).toBe(tag);
      expect(result.script).toBe(script);
    });
  }

  describe('very short greetings', () => {
    const greetings: Array<[string, string]> = [
      ['salam', 'darija_latin'],
      ['slm', 'darija_latin'],
      ['Salaaaam 👋', 'darija_latin'],
      ['bonjour', 'french'],
      ['hi', 'english'],
      ['السلام عليكم', 'msa'],
      ['سلام', 'darija_arabic'],
    ];
    for (const [text, tag] of greetings) {
      it(`${JSON.stringify(text)} → ${tag}`, () => expect(detectLanguage(text).tag).toBe(tag));
    }
  });

  it('returns unknown for empty text, emojis, numbers and punctuation', () => {
    for (const text of ['', '   ', '👍🙏', '0612345678', '???', '250 dh']) {
      const result = detectLanguage(text);
      expect(result.tag, text).toBe('unknown');
      expect(result.confidence).toBe(0);
    }
    expect(detectLanguage('').script).toBe('none');
  });

  it('ignores links, e-mails and @handles', () => {
    expect(detectLanguage('شوف الإنستغرام ديالنا @atlas.boutique.marrakech').tag).toBe('darija_arabic');
    expect(detectLanguage('Merci, voici mon mail: karim.benali@example.com').tag).toBe('french');
  });

  it('treats place names as neutral (مراكش does not look like Darija ش, marrakech not like ma…ch)', () => {
    expect(detectLanguage('سعر التوصيل إلى مراكش هو 20 درهما').tag).toBe('msa');
    expect(detectLanguage('I live in Marrakech').tag).toBe('english');
  });

  it('is not fooled by Arabizi-looking units and times', () => {
    expect(detectLanguage('Table for 4 at 8pm please').tag).toBe('english');
    expect(detectLanguage('Je fais 1m75 pour 70kg, quelle taille ?').tag).toBe('french');
  });

  it('returns scores that are shares summing to 1 and a bounded confidence', () => {
    const result = detectLanguage('wach kayn chi promo had simana?');
    const sum = BASE_LANGUAGES.reduce((s, l) => s + result.scores[l], 0);
    expect(sum).toBeCloseTo(1, 2);
    expect(result.scores.darija_latin).toBeGreaterThan(0.5);
    expect(result.confidence).toBeGreaterThan(0);
    expect(result.confidence).toBeLessThanOrEqual(1);
  });

  it('grows more confident with more evidence', () => {
    expect(detectLanguage('wach kayn chi promo had simana? bghit n3ref daba').confidence).toBeGreaterThan(detectLanguage('wach').confidence);
  });

  it('is deterministic', () => {
    const text = 'j’ai commandé hier mais mazal ma wsalni walo';
    expect(detectLanguage(text)).toEqual(detectLanguage(text));
  });

  it('keeps a lone Latin size or brand inside Darija as Darija', () => {
    expect(detectLanguage('واش كاين XL ف هاد الكبوط؟').tag).toBe('darija_arabic');
  });
});

describe('detectScript', () => {
  it('distinguishes arabic, latin, mixed and none', () => {
    expect(detectScript('واش كاين')).toBe('arabic');
    expect(detectScript('wach kayn')).toBe('latin');
    expect(detectScript('بغيت commande')).toBe('mixed');
    expect(detectScript('واش كاين L ولا M؟')).toBe('arabic');
    expect(detectScript('😀 123')).toBe('none');
  });
});
