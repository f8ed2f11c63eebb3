import { describe, expect, it } from 'vitest';
import {
  canonicalPhrase,
  collapseRepeats,
  consonantSkeleton,
  editDistance,
  foldArabiziDigits,
  foldLatin,
  normalizeText,
  phoneticKey,
  segmentPhrases,
  squeeze,
  stemVariants,
  stripArabicDiacritics,
  tokenScript,
  tokenize,
  unifyArabicLetters,
} from './text-normalize.js';

describe('Arabic normalization', () => {
  it('strips harakat, shadda, tanween and tatweel', () => {
    expect(stripArabicDiacritics('شُكْرًا')).toBe('شكرا');
    expect(stripArabicDiacritics('بـــزاف')).toBe('بزاف');
    expect(stripArabicDiacritics('مُحَمَّد')).toBe('محمد');
  });

  it('unifies alef, yaa, taa marbuta, Maghrebi letters and digits', () => {
    expect(unifyArabicLetters('أريد إلغاء آخر')).toBe('اريد الغاء اخر');
    expect(unifyArabicLetters('مدرسة على')).toBe('مدرسه علي');
    expect(unifyArabicLetters('ڭلسة')).toBe('كلسه');
    expect(unifyArabicLetters('٢٠ درهم؟')).toBe('20 درهم?');
  });
});

describe('Latin normalization', () => {
  it('lowercases and folds accents', () => {
    expect(foldLatin('Arrêtez LÀ, désolé œuf')).toBe('arretez la, desole oeuf');
  });

  it('collapses elongations but keeps legitimate doubles by default', () => {
    expect(collapseRepeats('salaaaam')).toBe('salaam');
    expect(collapseRepeats('salaaaam', 1)).toBe('salam');
    expect(collapseRepeats('cool')).toBe('cool');
    expect(collapseRepeats('0666666666')).toBe('0666666666');
    expect(() => collapseRepeats('x', 0)).toThrow(RangeError);
    expect(squeeze('bzzaaaf')).toBe('bzaf');
  });
});

describe('normalizeText and tokenize', () => {
  it('normalizes mixed-script messages in one pass', () => {
    expect(normalizeText('  SALAAAAM   خويا، واش كاينة؟ ')).toBe('salaam خويا, واش كاينه?');
  });

  it('keeps Arabizi digits inside words and drops emojis and punctuation', () => {
    expect(tokenize('Wach kayn ch7al 3la l-livraison?? 😍🙏')).toEqual(['wach', 'kayn', 'ch7al', '3la', 'l', 'livraison']);
  });

  it('splits French elisions but keeps English contractions', () => {
    expect(tokenize("C'est l’adresse, j'ai aujourd'hui")).toEqual(["c'", 'est', "l'", 'adresse', "j'", 'ai', "aujourd'hui"]);
    expect(tokenize("I'm sure it's fine, don't worry")).toEqual(["i'm", 'sure', "it's", 'fine', "don't", 'worry']);
    expect(tokenize("quelqu'un")).toEqual(["quelqu'", 'un']);
  });

  it('returns nothing for empty or emoji-only text', () => {
    expect(tokenize('')).toEqual([]);
    expect(tokenize('👍👍 !!')).toEqual([]);
  });

  it('classifies token scripts', () => {
    expect(tokenScript('واش')).toBe('arabic');
    expect(tokenScript('ch7al')).toBe('latin');
    expect(tokenScript('2024')).toBe('digits');
  });
});

describe('Arabizi and fuzzy helpers', () => {
  it('folds Arabizi digits only inside words', () => {
    expect(foldArabiziDigits('ch7al')).toBe('chhal');
    expect(foldArabiziDigits('m3a')).toBe('maa');
    expect(foldArabiziDigits('n9der')).toBe('nqder');
    expect(foldArabiziDigits('250')).toBe('250');
  });

  it('gives spelling variants the same phonetic key', () => {
    expect(phoneticKey('ch7al')).toBe(phoneticKey('chhal'));
    expect(phoneticKey('sh7al')).toBe(phoneticKey('ch7al'));
    expect(phoneticKey('khouya')).toBe(phoneticKey('khuya'));
  });

  it('computes edit distance with transpositions and a cut-off', () => {
    expect(editDistance('livraison', 'livriason')).toBe(1);
    expect(editDistance('kitten', 'sitting')).toBe(3);
    expect(editDistance('abc', 'abc')).toBe(0);
    expect(editDistance('', 'abc')).toBe(3);
    expect(editDistance('abcdefgh', 'zzzzzzzz', 2)).toBe(3);
  });

  it('offers stems without Arabic clitics or the glued Darija article', () => {
    expect(stemVariants('والتوصيل')).toEqual(expect.arrayContaining(['والتوصيل', 'التوصيل', 'توصيل']));
    expect(stemVariants('lmagasin')).toEqual(['lmagasin', 'magasin']);
    expect(stemVariants('livraison')).toEqual(['livraison']);
  });

  it('maps related word forms to one consonant skeleton', () => {
    expect(consonantSkeleton('توصلون')).toBe(consonantSkeleton('التوصيل'));
    expect(consonantSkeleton('كتوصلو')).toBe('وصل');
    expect(consonantSkeleton('katwslo')).toBe(consonantSkeleton('twsalni'));
    expect(consonantSkeleton('nkhelles')).toBe(consonantSkeleton('nkhlss'));
    expect(consonantSkeleton('delivery')).toBe(consonantSkeleton('deliver'));
    expect(consonantSkeleton('ok')).toBeNull();
  });
});

describe('phrase helpers', () => {
  it('canonicalizes phrases like messages', () => {
    expect(canonicalPhrase('Bghiiit nhder M3A chi wa7ed!')).toBe('bghit nhder ma chi wahed');
    expect(canonicalPhrase('بْغِيتْ')).toBe('بغيت');
  });

  it('segments a token list into known phrases or fails', () => {
    const inventory = new Map([
      ['stop', 'command'],
      ['les messages', 'object'],
      ['svp', 'politeness'],
    ] as const);
    expect(segmentPhrases(['stop', 'les', 'messages', 'svp'], inventory)).toEqual([
      { phrase: 'stop', category: 'command' },
      { phrase: 'les messages', category: 'object' },
      { phrase: 'svp', category: 'politeness' },
    ]);
    expect(segmentPhrases(['stop', 'the', 'bus'], inventory)).toBeNull();
    expect(segmentPhrases([], inventory)).toEqual([]);
    // Every word known, but not as phrases that cover the message: still no.
    expect(segmentPhrases(['messages', 'les', 'stop'], inventory)).toBeNull();
    expect(segmentPhrases(['stop', 'les'], inventory)).toBeNull();
    // Asked again (the inventory's words are kept between calls), the answers stay the same.
    expect(segmentPhrases(['svp', 'stop'], inventory)).toEqual([
      { phrase: 'svp', category: 'politeness' },
      { phrase: 'stop', category: 'command' },
    ]);
  });
});
