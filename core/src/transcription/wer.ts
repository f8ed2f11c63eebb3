/**
 * Word error rate for transcripts in Darija (Arabic or Latin letters), French, Arabic and English.
 *
 * WER = (substitutions + deletions + insertions) / reference words, from a Levenshtein alignment of
 * normalized words. Normalization removes what a listener cannot hear or a writer chooses freely:
 * case, punctuation, Arabic diacritics and tatweel, the alef/hamza spellings, final yaa vs alef
 * maqsura, taa marbuta vs haa, and Arabic-Indic digits. It keeps French accents (they are spelling,
 * not noise) unless asked to fold them.
 */

export interface WerOptions {
  /** Fold Latin accents (é → e). Default false. */
  foldLatinAccents?: boolean;
}

export interface ErrorCounts {
  substitutions: number;
  deletions: number;
  insertions: number;
  hits: number;
  /** Reference length in units (words or characters). */
  referenceLength: number;
  hypothesisLength: number;
}

export interface WerResult extends ErrorCounts {
  /** (S + D + I) / N. 0 when both are empty; Infinity when only the reference is empty. */
  wer: number;
}

export interface CerResult extends ErrorCounts {
  cer: number;
}

// Harakat, shadda, sukun, dagger alef, Quranic annotation marks, tatweel.
const ARABIC_MARKS = /[\u0610-\u061A\u064B-\u065F\u0670\u06D6-\u06DC\u06DF-\u06E8\u06EA-\u06ED\u0640]/g;

const ARABIC_LETTER_MAP: Record<string, string> = {
  'أ': 'ا', 'إ': 'ا', 'آ': 'ا', 'ٱ': 'ا', 'ٲ': 'ا', 'ٳ': 'ا',
  'ى': 'ي', 'ی': 'ي', 'ئ': 'ي',
  'ة': 'ه',
  'ؤ': 'و',
  'ک': 'ك',
  'گ': 'ڭ', // both spell /g/ in Moroccan writing
};
const ARABIC_LETTERS = new RegExp(`[${Object.keys(ARABIC_LETTER_MAP).join('')}]`, 'g');

function foldDigits(s: string): string {
  return s.replace(/[\u0660-\u0669\u06F0-\u06F9]/g, (d) => {
    const code = d.charCodeAt(0);
    return String(code >= 0x06f0 ? code - 0x06f0 : code - 0x0660);
  });
}

/** The text as a list of comparable words. */
export function normalizeForWer(text: string, options: WerOptions = {}): string[] {
  let s = text.normalize('NFKC').toLowerCase();
  s = s.replace(ARABIC_MARKS, '');
  s = s.replace(ARABIC_LETTERS, (ch) => ARABIC_LETTER_MAP[ch] ?? ch);
  s = foldDigits(s);
  if (options.foldLatinAccents) s = s.normalize('NFD').replace(/\p{M}/gu, '').normalize('NFC');
  // Punctuation and symbols (Latin and Arabic: ، ؛ ؟ « ») separate words.
  s = s.replace(/[\p{P}\p{S}]/gu, ' ');
  return s.split(/\s+/u).filter((w) => w.length > 0);
}

/** Minimum-edit alignment of two sequences, counting each kind of edit. */
export function alignmentCounts<T>(reference: readonly T[], hypothesis: readonly T[]): ErrorCounts {
  const n = reference.length;
  const m = hypothesis.length;
  const w = m + 1;
  const cost = new Uint32Array((n + 1) * w);
  for (let i = 0; i <= n; i++) cost[i * w] = i;
  for (let j = 0; j <= m; j++) cost[j] = j;
  for (let i = 1; i <= n; i++) {
    for (let j = 1; j <= m; j++) {
      const same = reference[i - 1] === hypothesis[j - 1];
      const diag = (cost[(i - 1) * w + j - 1] ?? 0) + (same ? 0 : 1);
      const up = (cost[(i - 1) * w + j] ?? 0) + 1; // deletion
      const left = (cost[i * w + j - 1] ?? 0) + 1; // insertion
      cost[i * w + j] = Math.min(diag, up, left);
    }
  }
  // Walk back, preferring diagonal moves so equal-cost alignments count substitutions consistently.
  const counts = { substitutions: 0, deletions: 0, insertions: 0, hits: 0 };
  let i = n;
  let j = m;
  while (i > 0 || j > 0) {
    const here = cost[i * w + j] ?? 0;
    if (i > 0 && j > 0) {
      const same = reference[i - 1] === hypothesis[j - 1];
      if ((cost[(i - 1) * w + j - 1] ?? 0) + (same ? 0 : 1) === here) {
        if (same) counts.hits++;
        else counts.substitutions++;
        i--;
        j--;
        continue;
      }
    }
    if (i > 0 && (cost[(i - 1) * w + j] ?? 0) + 1 === here) {
      counts.deletions++;
      i--;
    } else {
      counts.insertions++;
      j--;
    }
  }
  return { ...counts, referenceLength: n, hypothesisLength: m };
}

function rate(c: ErrorCounts): number {
  const errors = c.substitutions + c.deletions + c.insertions;
  if (c.referenceLength === 0) return c.hypothesisLength === 0 ? 0 : Number.POSITIVE_INFINITY;
  return errors / c.referenceLength;
}

export function wordErrorRate(reference: string, hypothesis: string, options: WerOptions = {}): WerResult {
  const counts = alignmentCounts(normalizeForWer(reference, options), normalizeForWer(hypothesis, options));
  return { ...counts, wer: rate(counts) };
}

/**
 * Character error rate over the normalized text without spaces: fairer than WER for Darija, whose
 * word boundaries (clitics like "ديال", "ف", "ل") are written inconsistently.
 */
export function characterErrorRate(reference: string, hypothesis: string, options: WerOptions = {}): CerResult {
  const chars = (t: string) => [...normalizeForWer(t, options).join('')];
  const counts = alignmentCounts(chars(reference), chars(hypothesis));
  return { ...counts, cer: rate(counts) };
}

/** Corpus WER: total errors over total reference words (not the mean of per-utterance WERs). */
export function corpusWordErrorRate(pairs: ReadonlyArray<{ reference: string; hypothesis: string }>, options: WerOptions = {}): WerResult {
  const total: ErrorCounts = { substitutions: 0, deletions: 0, insertions: 0, hits: 0, referenceLength: 0, hypothesisLength: 0 };
  for (const p of pairs) {
    const c = wordErrorRate(p.reference, p.hypothesis, options);
    total.substitutions += c.substitutions;
    total.deletions += c.deletions;
    total.insertions += c.insertions;
    total.hits += c.hits;
    total.referenceLength += c.referenceLength;
    total.hypothesisLength += c.hypothesisLength;
  }
  return { ...total, wer: rate(total) };
}
