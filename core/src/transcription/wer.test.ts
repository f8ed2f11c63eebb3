import { describe, expect, it } from 'vitest';
import { alignmentCounts, characterErrorRate, corpusWordErrorRate, normalizeForWer, wordErrorRate } from './wer.js';

describe('normalizeForWer', () => {
  it('lower-cases and drops Latin and Arabic punctuation', () => {
    expect(normalizeForWer('Bonjour, ça va ? « Oui » !')).toEqual(['bonjour', 'ça', 'va', 'oui']);
    expect(normalizeForWer('واش وصلات؟ لا، باقي؛ شكرا.')).toEqual(['واش', 'وصلات', 'لا', 'باقي', 'شكرا']);
  });

  it('removes Arabic diacritics and tatweel', () => {
    expect(normalizeForWer('شُكْرًا بَزَّاف')).toEqual(normalizeForWer('شكرا بزاف'));
    expect(normalizeForWer('الســـلام')).toEqual(['السلام']);
  });

  it('unifies alef forms, alef maqsura/yaa and taa marbuta/haa', () => {
    expect(normalizeForWer('أنا إلى آخر')).toEqual(['انا', 'الي', 'اخر']);
    expect(normalizeForWer('الطلبية')).toEqual(normalizeForWer('الطلبيه'));
    expect(normalizeForWer('مسؤول')).toEqual(normalizeForWer('مسوول'));
  });

  it('folds Arabic-Indic digits and keeps French accents unless asked', () => {
    expect(normalizeForWer('٢٠٠ درهم و ۳ أيام')).toEqual(['200', 'درهم', 'و', '3', 'ايام']);
    expect(normalizeForWer('livré')).toEqual(['livré']);
    expect(normalizeForWer('livré', { foldLatinAccents: true })).toEqual(['livre']);
  });
});

describe('wordErrorRate', () => {
  it('is 0 for the same words spelled with different punctuation, case and diacritics', () => {
    expect(wordErrorRate('السلام عليكم، بغيت نعرف.', 'السَّلام عليكم بغيت نعرف').wer).toBe(0);
    expect(wordErrorRate('Hello, World!', 'hello world').wer).toBe(0);
  });

  it('counts substitutions, deletions and insertions', () => {
    const r = wordErrorRate('the cat sat on the mat', 'the cat sit on the mat today');
    expect(r).toMatchObject({ substitutions: 1, deletions: 0, insertions: 1, hits: 5, referenceLength: 6, hypothesisLength: 7 });
    expect(r.wer).toBeCloseTo(2 / 6, 10);
    expect(wordErrorRate('a b c d', 'a c d')).toMatchObject({ deletions: 1, substitutions: 0, insertions: 0, wer: 0.25 });
    // Equal-cost alignments: prefer one substitution over a deletion plus an insertion.
    expect(wordErrorRate('a b c', 'a x c')).toMatchObject({ substitutions: 1, deletions: 0, insertions: 0 });
  });

  it('can exceed 1 when the hypothesis is long junk (as with a random-weight model)', () => {
    const r = wordErrorRate('bonjour', 'la la la la');
    expect(r.wer).toBe(4);
  });

  it('handles code-switched Darija/French', () => {
    const ref = "واخا، ولكن la livraison تعطلات بزاف";
    expect(wordErrorRate(ref, 'واخا ولكن la livraison تعطلات بزاف').wer).toBe(0);
    expect(wordErrorRate(ref, 'واخا ولاكين la livraison تعطلات بزاف').wer).toBeCloseTo(1 / 6, 10);
  });

  it('defines the empty cases', () => {
    expect(wordErrorRate('', '').wer).toBe(0);
    expect(wordErrorRate('', 'something').wer).toBe(Number.POSITIVE_INFINITY);
    expect(wordErrorRate('one two', '').wer).toBe(1);
  });
});

describe('alignmentCounts', () => {
  it('agrees with the Levenshtein distance on random sequences', () => {
    const lev = (a: string[], b: string[]): number => {
      const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
      for (let i = 1; i <= a.length; i++)
        for (let j = 1; j <= b.length; j++)
          d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
      return d[a.length]![b.length]!;
    };
    let seed = 7;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let t = 0; t < 200; t++) {
      const a = Array.from({ length: Math.floor(rnd() * 8) }, () => 'abc'[Math.floor(rnd() * 3)]!);
      const b = Array.from({ length: Math.floor(rnd() * 8) }, () => 'abc'[Math.floor(rnd() * 3)]!);
      const c = alignmentCounts(a, b);
      expect(c.substitutions + c.deletions + c.insertions).toBe(lev(a, b));
      expect(c.hits + c.substitutions + c.deletions).toBe(a.length);
      expect(c.hits + c.substitutions + c.insertions).toBe(b.length);
    }
  });
});

describe('characterErrorRate and corpusWordErrorRate', () => {
  it('CER forgives Darija word-boundary choices that WER punishes', () => {
    const ref = 'الكوموند ديالي';
    const hyp = 'الكوموندديالي';
    expect(wordErrorRate(ref, hyp).wer).toBe(1);
    expect(characterErrorRate(ref, hyp).cer).toBe(0);
  });

  it('corpus WER weights by reference length', () => {
    const r = corpusWordErrorRate([
      { reference: 'a b c d', hypothesis: 'a b c d' },
      { reference: 'e f', hypothesis: 'e x' },
    ]);
    expect(r.wer).toBeCloseTo(1 / 6, 10);
    expect(r.referenceLength).toBe(6);
  });
});
