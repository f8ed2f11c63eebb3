import { describe, expect, it } from 'vitest';
import { wantsHuman } from './handoff-intent.js';

const ASKS_FOR_A_PERSON: Record<string, string[]> = {
  'darija (arabic letters)': [
    'بغيت نهضر مع شي واحد',
    'عطيني شي بنادم',
    'بغيت نتكلم مع المسؤول عافاك',
    'واش كاين شي حد نهضر معاه؟',
    'بغيت نهدر مع شي بنادم ماشي روبو',
    'عيطو ليا الله يخليك',
    'بْغِيتْ نْهْضَرْ مْعَ شِي وَاحْدْ', // with harakat
    'بغيت نهضـــر مع شي واحد', // with tatweel
  ],
  'darija (latin letters)': [
    'bghit nhder m3a chi wahed',
    'bghit nhdr m3a chi bnadem',
    '3tini chi wa7ed',
    'kayn chi had nhder m3ah?',
    'Bghit nhder m3a chi 7ad 3afak',
    'a3tini chi bnadem lah ykhlik',
    'bghiiit ntkellem m3a lmas2oul',
    'ma bghitch robot',
    '3ayto liya daba',
  ],
  french: [
    'je veux parler à un conseiller',
    'un humain svp',
    "passez-moi quelqu'un",
    'Je voudrais parler avec une vraie personne',
    'Est-ce que je peux être mis en relation avec un agent ?',
    'PARLER À UN HUMAIN',
    'rappelez-moi svp',
    'vous pouvez m’appeler ?',
  ],
  msa: ['أريد التحدث مع موظف', 'هل يمكنني التكلم مع شخص حقيقي؟', 'حولني إلى خدمة العملاء من فضلك', 'أود التواصل مع أحد المسؤولين'],
  english: [
    'talk to a human',
    'real person please',
    'agent',
    'Can I speak to someone?',
    'I want to talk with a real person',
    'please connect me to an agent',
    'HUMAN PLEASE!!',
    'can you call me back?',
  ],
};

const ORDINARY_MESSAGES = [
  'wach had l produit humain?',
  'wach kayn livraison l marrakech?',
  'ch7al taman dyal had sac?',
  'had lkhdma dyal lwahed ghali',
  'bghit n3ref wach kayn had lmodel',
  'واش كاين التوصيل لمراكش؟',
  'شحال الثمن ديال هاد الصندالة؟',
  'بغيت نتكلم على الطلبية ديالي', // "talk about my order" is not "talk to someone"
  'le livreur est une personne très gentille',
  'personne ne m’a répondu hier',
  "c'est un produit pour l'humain ?",
  'Je voudrais passer une commande',
  'the delivery agent was late',
  'is this cream safe for human skin?',
  'how do I get to the shop from the station?',
  'I spoke to my wife, we will take the red one',
  'هل هذا المنتج مناسب للانسان؟',
  'ما هو سعر التوصيل؟',
  'salam',
  '',
  '👍',
];

describe('wantsHuman', () => {
  for (const [language, messages] of Object.entries(ASKS_FOR_A_PERSON)) {
    describe(`recognises requests for a person in ${language}`, () => {
      for (const text of messages) {
        it(JSON.stringify(text), () => {
          const result = wantsHuman(text);
          expect(result.wants).toBe(true);
          expect(result.matched).toEqual(expect.any(String));
        });
      }
    });
  }

  describe('does not fire on ordinary questions that mention people-words', () => {
    for (const text of ORDINARY_MESSAGES) {
      it(JSON.stringify(text), () => {
        expect(wantsHuman(text)).toEqual({ wants: false, matched: null });
      });
    }
  });

  describe('paraphrases: a role or team, a call back, a polite question (issue 16)', () => {
    for (const text of [
      'bghit nhder m3a chi responsable',
      'passez-moi le service client',
      'I need your sales team',
      'أريد التحدث مع قسم المبيعات',
      '3iyto lia',
      'عيطو ليا عافاك',
      'rappelez-moi',
      'je souhaite être rappelé',
      'اتصلوا بي من فضلك',
      'call me back',
      "I'd like a callback",
      'wach momkin tkelmni chi wa7ed?',
      'واش ممكن تدوزني لشي حد؟',
      'est-ce que je pourrais parler à un conseiller ?',
      'هل يمكنني التحدث مع موظف؟',
      'is there someone I can speak with?',
      'chi wa7ed y3ayet lia 3afak', // a subject before the prefixed verb still asks for the call
      'rappelez-moi la semaine prochaine', // a time after "rappelez-moi": a call back, not "remind me"
    ]) {
      it(JSON.stringify(text), () => expect(wantsHuman(text).wants).toBe(true));
    }
  });

  describe('questions or reports about people and roles are not requests', () => {
    for (const text of [
      'chkoun l mudir dyalkom?',
      'who is your manager?',
      "est-ce que le livreur passe aujourd'hui ?",
      'est-ce que le service client est ouvert le dimanche ?',
      // "3ayet lia" / "عيط ليا" / "اتصل بي" is both "call me!" and "(he) called me": the subject or a past-time word decides
      '3ayet lia l livreur lbare7',
      'chkoun li 3ayet lia mn had nmra?',
      'lvendeur 3ayet lia',
      'عيط ليا الليفرور وما لقانيش',
      'اتصل بي موظف التوصيل أمس',
      // "me rappeler" + a noun phrase is "remind me"
      'pouvez-vous me rappeler le prix ?',
      "rappelez-moi l'adresse svp",
      "I'll call you back later",
    ]) {
      it(JSON.stringify(text), () => expect(wantsHuman(text)).toEqual({ wants: false, matched: null }));
    }
  });

  it('reports the canonical phrase that matched', () => {
    expect(wantsHuman('Salam, bghit nhder m3a chi wa7ed').matched).toBe('nhder ma chi wahed');
    expect(wantsHuman('un humain svp').matched).toBe('humain');
    expect(wantsHuman('passez-moi le service client').matched).toBe('pasez moi le service client');
  });
});
