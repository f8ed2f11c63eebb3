import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { detectLanguage, type BaseLanguage } from '../language/detect.js';
import { DEFAULT_TEXTS, OfflineFaqResponder, businessProfileSchema, matchFaq } from './offline-responder.js';
import type { AgentDecision, AgentTools, AgentTurnInput, BusinessProfile, LanguageTag } from './provider.js';

const ATLAS_FILE = fileURLToPath(new URL('../../../examples/knowledge/atlas-shop.json', import.meta.url));
const atlas: BusinessProfile = businessProfileSchema.parse(JSON.parse(readFileSync(ATLAS_FILE, 'utf8')));
const BASE: readonly BaseLanguage[] = ['darija_arabic', 'darija_latin', 'french', 'msa', 'english'];

/** Tools that fail loudly: the offline responder must never call them. */
const forbiddenTools: AgentTools = {
  lookupOrder: () => Promise.reject(new Error('offline responder must not call lookupOrder')),
  upsertLead: () => Promise.reject(new Error('offline responder must not call upsertLead')),
};

function turn(text: string, language: LanguageTag = detectLanguage(text).tag, profile: BusinessProfile = atlas): AgentTurnInput {
  return {
    tenantId: 't1',
    threadId: 'th1',
    profile,
    history: [],
    latest: { text, language },
    customer: { name: 'Karim', phone: '+212612345678' },
  };
}

const responder = new OfflineFaqResponder();
const decide = (text: string, language?: LanguageTag, profile?: BusinessProfile): Promise<AgentDecision> =>
  responder.decide(turn(text, language, profile), forbiddenTools);

function answerOf(id: string, language: BaseLanguage): string {
  const entry = atlas.faq?.find((e) => e.id === id);
  if (!entry) throw new Error(`no FAQ entry ${id}`);
  return entry.answer[language] ?? entry.answer.default;
}

describe('examples/knowledge/atlas-shop.json', () => {
  it('validates against businessProfileSchema', () => {
    const parsed = businessProfileSchema.safeParse(JSON.parse(readFileSync(ATLAS_FILE, 'utf8')));
    expect(parsed.success, parsed.success ? '' : parsed.error.message).toBe(true);
    expect(atlas.name).toBe('Atlas Boutique');
    expect(atlas.description).toMatch(/20 dh/);
    expect(atlas.description).toMatch(/35 dh/);
  });

  it('has at least 12 FAQ entries, each answered in the five languages', () => {
    expect(atlas.faq?.length ?? 0).toBeGreaterThanOrEqual(12);
    for (const entry of atlas.faq ?? []) {
      for (const language of BASE) expect(entry.answer[language], `${entry.id}.${language}`).toEqual(expect.any(String));
    }
  });

  it('asks every FAQ question in Darija (both scripts), French, English and MSA', () => {
    for (const entry of atlas.faq ?? []) {
      const tags = new Set(entry.questions.map((q) => detectLanguage(q).tag));
      for (const language of BASE) expect(tags.has(language), `${entry.id} has a ${language} question`).toBe(true);
    }
  });
});

describe('businessProfileSchema', () => {
  const valid = { name: 'Shop', description: 'x', faq: [{ id: 'a', questions: ['q'], answer: { default: 'A' } }] };

  it('accepts a minimal profile and one without FAQ', () => {
    expect(businessProfileSchema.parse(valid).faq?.[0]?.answer.default).toBe('A');
    expect(businessProfileSchema.parse({ name: 'Shop', description: '' }).faq).toBeUndefined();
  });

  it('rejects a missing default answer, unknown language keys, empty questions and duplicate ids', () => {
    const bad = [
      { ...valid, faq: [{ id: 'a', questions: ['q'], answer: { french: 'A' } }] },
      { ...valid, faq: [{ id: 'a', questions: ['q'], answer: { default: 'A', darija: 'typo key' } }] },
      { ...valid, faq: [{ id: 'a', questions: [], answer: { default: 'A' } }] },
      { ...valid, faq: [valid.faq[0], valid.faq[0]] },
      { ...valid, name: '' },
    ];
    for (const profile of bad) expect(businessProfileSchema.safeParse(profile).success, JSON.stringify(profile)).toBe(false);
  });
});

describe('OfflineFaqResponder answers from the FAQ in the customer’s language', () => {
  const cases: Array<[string, string, BaseLanguage]> = [
    // Darija, Arabic letters
    ['سلام، شحال الليفريزون لفاس؟', 'delivery_price', 'darija_arabic'],
    ['فين جا المحل بالضبط؟', 'location', 'darija_arabic'],
    ['واش نقدر نبدل الصباط؟', 'returns_exchanges', 'darija_arabic'],
    ['كيفاش ندير الكوموند؟', 'how_to_order', 'darija_arabic'],
    // Darija, Latin letters (Arabizi)
    ['slm, ch7al dyal livraison l fes?', 'delivery_price', 'darija_latin'],
    ['fo9ach kat7elo nhar sebt?', 'opening_hours', 'darija_latin'],
    ['3afak 3tini l adresse dyal lmagasin', 'location', 'darija_latin'],
    ['wach kayn chi promo had l2ayam?', 'promotions', 'darija_latin'],
    // French
    ['Bonsoir, la livraison pour Fès c’est combien ?', 'delivery_price', 'french'],
    ['Vous livrez jusqu’à Tanger ?', 'delivery_zones', 'french'],
    ['On peut payer en espèces à la livraison ?', 'payment', 'french'],
    ['Vous êtes ouverts à quelle heure le samedi ?', 'opening_hours', 'french'],
    // MSA
    ['كم سعر التوصيل إلى فاس؟', 'delivery_price', 'msa'],
    ['هل يمكنني الدفع نقدا عند الاستلام؟', 'payment', 'msa'],
    ['متى يفتح المتجر يوم السبت؟', 'opening_hours', 'msa'],
    ['ما هي المقاسات المتاحة للأحذية؟', 'sizes', 'msa'],
    // English
    ['hello, how much is delivery to Fes?', 'delivery_price', 'english'],
    ['do you ship to tangier?', 'delivery_zones', 'english'],
    ['what time do you open on saturday?', 'opening_hours', 'english'],
    ['how do I exchange a size?', 'returns_exchanges', 'english'],
  ];
  for (const [text, id, language] of cases) {
    it(`${JSON.stringify(text)} → ${id} (${language})`, async () => {
      expect(detectLanguage(text).tag).toBe(language);
      const decision = await decide(text);
      expect(decision).toEqual({ kind: 'reply', text: answerOf(id, language), toolCalls: [] });
    });
  }

  it('tolerates typos and elongations', async () => {
    expect(await decide('ch7aaal livrason l casa??')).toEqual({ kind: 'reply', text: answerOf('delivery_price', 'darija_latin'), toolCalls: [] });
    expect(await decide('quelle est votre adrese ?')).toMatchObject({ kind: 'reply', text: answerOf('location', 'french') });
  });

  it('falls back to the default answer when the FAQ has none for the language', async () => {
    const profile: BusinessProfile = {
      name: 'Riad Zitoun',
      description: 'Riad in the medina',
      faq: [{ id: 'checkin', questions: ['What time is check-in?', 'À quelle heure est le check-in ?'], answer: { default: 'Check-in from 14:00.', french: 'Arrivée à partir de 14h.' } }],
    };
    expect(await decide('what time is check-in?', 'english', profile)).toMatchObject({ kind: 'reply', text: 'Check-in from 14:00.' });
    expect(await decide('à quelle heure est le check-in ?', 'french', profile)).toMatchObject({ kind: 'reply', text: 'Arrivée à partir de 14h.' });
  });

  it('uses the FAQ’s `mixed` answer when given, else the strongest language of a mixed message', async () => {
    const text = 'Bonjour, vous livrez à Agadir? bghit n3ref wach kayn';
    expect(detectLanguage(text).tag).toBe('mixed');
    const withMixed: BusinessProfile = {
      ...atlas,
      faq: (atlas.faq ?? []).map((e) => (e.id === 'delivery_zones' ? { ...e, answer: { ...e.answer, mixed: 'Oui, on livre partout au Maroc, 35 dh hors Marrakech.' } } : e)),
    };
    expect(await decide(text, 'mixed', withMixed)).toMatchObject({ kind: 'reply', text: 'Oui, on livre partout au Maroc, 35 dh hors Marrakech.' });
    const scores = detectLanguage(text).scores;
    const strongest = BASE.reduce((best, l) => (scores[l] > scores[best] ? l : best));
    expect(['darija_latin', 'french']).toContain(strongest);
    expect(await decide(text, 'mixed')).toMatchObject({ kind: 'reply', text: answerOf('delivery_zones', strongest) });
  });
});

describe('OfflineFaqResponder greetings and thanks', () => {
  const greetings: Array<[string, BaseLanguage, 'greeting' | 'salamReply']> = [
    ['salam', 'darija_latin', 'salamReply'],
    ['slm khouya', 'darija_latin', 'salamReply'],
    ['سلام', 'darija_arabic', 'salamReply'],
    ['السلام عليكم', 'msa', 'salamReply'],
    ['bonjour', 'french', 'greeting'],
    ['Hi!', 'english', 'greeting'],
    ['مرحبا', 'msa', 'greeting'],
  ];
  for (const [text, language, kind] of greetings) {
    it(`${JSON.stringify(text)} → ${kind} in ${language}`, async () => {
      const decision = await decide(text);
      expect(decision).toEqual({ kind: 'reply', text: DEFAULT_TEXTS[kind][language].replace('{name}', 'Atlas Boutique'), toolCalls: [] });
    });
  }

  it('answers thanks in the customer’s language instead of handing over', async () => {
    expect(await decide('chokran bzaf 🙏')).toMatchObject({ kind: 'reply', text: DEFAULT_TEXTS.thanks.darija_latin });
    expect(await decide('شكرا جزيلا')).toMatchObject({ kind: 'reply', text: DEFAULT_TEXTS.thanks.msa });
    expect(await decide('merci beaucoup')).toMatchObject({ kind: 'reply', text: DEFAULT_TEXTS.thanks.french });
    expect(await decide('thanks!')).toMatchObject({ kind: 'reply', text: DEFAULT_TEXTS.thanks.english });
  });
});

describe('OfflineFaqResponder hands over', () => {
  const asks: Array<[string, BaseLanguage]> = [
    ['بغيت نهضر مع شي واحد', 'darija_arabic'],
    ['bghit nhder m3a chi bnadem', 'darija_latin'],
    ['Je veux parler à un conseiller', 'french'],
    ['أريد التحدث مع موظف', 'msa'],
    ['Can I talk to a human?', 'english'],
  ];
  for (const [text, language] of asks) {
    it(`when asked for a person: ${JSON.stringify(text)}`, async () => {
      expect(await decide(text, language)).toEqual({
        kind: 'handoff',
        reason: 'customer_requested_human',
        text: DEFAULT_TEXTS.handoffRequested[language],
        toolCalls: [],
      });
    });
  }

  it('asks for a person even when the message also matches the FAQ', async () => {
    expect(await decide('ch7al livraison? bghit nhder m3a chi wa7ed')).toMatchObject({ kind: 'handoff', reason: 'customer_requested_human' });
  });

  const offTopic: Array<[string, BaseLanguage]> = [
    ['wach kat3awdo tel?', 'darija_latin'],
    ['واش عندكم الحوت؟', 'darija_arabic'],
    ['Vous vendez des meubles ?', 'french'],
    ['هل تبيعون الهواتف؟', 'msa'],
    ['is the restaurant next door open?', 'english'],
    ['ch7al?', 'darija_latin'],
  ];
  for (const [text, language] of offTopic) {
    it(`when nothing in the FAQ matches: ${JSON.stringify(text)}`, async () => {
      expect(await decide(text)).toEqual({ kind: 'handoff', reason: 'no_confident_faq_match', text: DEFAULT_TEXTS.handoffNoMatch[language], toolCalls: [] });
    });
  }

  it('without text (sticker, failed transcript) hands over silently', async () => {
    expect(await decide('   ', 'unknown')).toEqual({ kind: 'handoff', reason: 'empty_message', text: null, toolCalls: [] });
  });

  it('with a profile without FAQ, hands over anything but small talk', async () => {
    const bare: BusinessProfile = { name: 'Garage Atlas', description: 'Car repairs' };
    expect(await decide('wach kayn livraison?', undefined, bare)).toMatchObject({ kind: 'handoff', reason: 'no_confident_faq_match' });
    expect(await decide('bonjour', undefined, bare)).toMatchObject({ kind: 'reply', text: DEFAULT_TEXTS.greeting.french.replace('{name}', 'Garage Atlas') });
  });

  it('uses the fallback language for canned texts when the language is unknown', async () => {
    expect(await decide('🤷‍♂️🤷‍♂️', 'unknown')).toMatchObject({ kind: 'handoff', text: DEFAULT_TEXTS.handoffNoMatch.french });
    const english = new OfflineFaqResponder({ fallbackLanguage: 'english' });
    expect(await english.decide(turn('🤷‍♂️', 'unknown'), forbiddenTools)).toMatchObject({ text: DEFAULT_TEXTS.handoffNoMatch.english });
  });
});

describe('OfflineFaqResponder never invents', () => {
  it('every reply is a FAQ answer or a canned text, whatever the customer asks', async () => {
    const allowed = new Set<string>();
    for (const entry of atlas.faq ?? []) for (const answer of Object.values(entry.answer)) if (answer) allowed.add(answer);
    for (const kind of Object.values(DEFAULT_TEXTS)) for (const text of Object.values(kind)) allowed.add(text.replaceAll('{name}', atlas.name));
    const questions = [
      'ch7al had tshirt lkhdr?',
      'combien coûte la robe rouge en 38 ?',
      'how much for 3 jeans?',
      'بشحال الجلابة؟',
      'كم سعر الحذاء الأسود مقاس 42؟',
      'wach kayn livraison l dakhla b 10 dh?',
      'Vous faites -50% ?',
      'gimme a price',
    ];
    for (const text of questions) {
      const decision = await decide(text);
      if (decision.text !== null) expect(allowed.has(decision.text), `${text} → ${decision.text}`).toBe(true);
      expect(decision.toolCalls).toEqual([]);
    }
  });
});

describe('OfflineFaqResponder contract', () => {
  it('is named offline-faq and validates its options', () => {
    expect(responder.name).toBe('offline-faq');
    expect(() => new OfflineFaqResponder({ minScore: 0 })).toThrow(RangeError);
    expect(() => new OfflineFaqResponder({ minScore: 1.5 })).toThrow(RangeError);
  });

  it('honours an aborted signal', async () => {
    const controller = new AbortController();
    controller.abort(new Error('superseded by an app echo'));
    await expect(responder.decide(turn('salam'), forbiddenTools, controller.signal)).rejects.toThrow('superseded by an app echo');
  });

  it('accepts tenant overrides of canned texts', async () => {
    const custom = new OfflineFaqResponder({ texts: { greeting: { french: 'Salut et bienvenue chez {name} !' } } });
    expect(await custom.decide(turn('bonjour'), forbiddenTools)).toMatchObject({ text: 'Salut et bienvenue chez Atlas Boutique !' });
  });

  it('a stricter minScore hands over borderline matches', async () => {
    const strict = new OfflineFaqResponder({ minScore: 0.95 });
    const text = 'how do I exchange a size?';
    const match = matchFaq(atlas.faq, text);
    expect(match?.id).toBe('returns_exchanges');
    expect(match?.score ?? 1).toBeLessThan(0.95);
    expect(await strict.decide(turn(text), forbiddenTools)).toMatchObject({ kind: 'handoff', reason: 'no_confident_faq_match' });
  });
});

describe('matchFaq', () => {
  it('returns null for an empty FAQ or a message without content words', () => {
    expect(matchFaq(undefined, 'livraison')).toBeNull();
    expect(matchFaq([], 'livraison')).toBeNull();
    expect(matchFaq(atlas.faq, 'wach')).toBeNull();
  });

  it('treats city names as interchangeable', () => {
    expect(matchFaq(atlas.faq, 'Do you deliver to Oujda?')).toMatchObject({ id: 'delivery_zones', score: 1 });
    expect(matchFaq(atlas.faq, 'واش كتوصلو لوجدة؟')).toMatchObject({ id: 'delivery_zones', score: 1 });
  });
});
