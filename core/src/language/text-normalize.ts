/**
 * Text normalization shared by language detection, hand-off intent, the offline FAQ responder and
 * campaign opt-out. Customers write the same word many ways ("بزااف", "بزاف", "bzaaaf", "bzzaf",
 * "Livraison", "livraîson"); everything that compares words goes through these helpers so that
 * lexicons and messages meet in one canonical form.
 */

/** Harakat, Quranic marks, superscript alef and tatweel: never change the word, often vary. */
const ARABIC_MARKS = /[\u0610-\u061A\u064B-\u065F\u0670\u06D6-\u06DC\u06DF-\u06E8\u06EA-\u06ED\u0640]/g;

/** Letter variants writers use interchangeably (hamza seats, alef maqsura, taa marbuta, Persian/Maghrebi forms). */
const ARABIC_LETTER_VARIANTS: Record<string, string> = {
  'أ': 'ا',
  'إ': 'ا',
  'آ': 'ا',
  'ٱ': 'ا',
  'ى': 'ي',
  'ی': 'ي',
  'ئ': 'ي',
  'ؤ': 'و',
  'ة': 'ه',
  'ک': 'ك',
  'ڭ': 'ك', // Moroccan gaf
  'گ': 'ك',
  'ڤ': 'ف',
  'پ': 'ب',
  '،': ',',
  '؛': ';',
  '؟': '?',
};
const ARABIC_VARIANT_RE = new RegExp(`[${Object.keys(ARABIC_LETTER_VARIANTS).join('')}]`, 'g');

/** Arabic-Indic (U+0660–0669) and Persian (U+06F0–06F9) digits → ASCII. */
const EASTERN_DIGITS = /[\u0660-\u0669\u06F0-\u06F9]/g;

const APOSTROPHES = /[\u2018\u2019\u02BC\u02B9`\u00B4]/g;

export const ARABIC_LETTER = /[\u0621-\u064A\u066E-\u06D3\u06FA-\u06FF]/u;
export const LATIN_LETTER = /[a-zA-Z\u00C0-\u024F]/u;

/** Removes Arabic diacritics (harakat, shadda, sukun, tanween, superscript alef) and tatweel. */
export function stripArabicDiacritics(text: string): string {
  return text.replace(ARABIC_MARKS, '');
}

/** أ/إ/آ/ٱ→ا, ى/ی/ئ→ي, ؤ→و, ة→ه, ک/ڭ/گ→ك, ڤ→ف, Arabic punctuation and digits → ASCII. */
export function unifyArabicLetters(text: string): string {
  return text
    .replace(ARABIC_VARIANT_RE, (ch) => ARABIC_LETTER_VARIANTS[ch] ?? ch)
    .replace(EASTERN_DIGITS, (d) => String((d.codePointAt(0) ?? 0x30) & 0x0f));
}

/** Lowercases and removes Latin accents: "Arrêtez" → "arretez", "œ" → "oe". */
export function foldLatin(text: string): string {
  return text
    .toLowerCase()
    .normalize('NFD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/œ/g, 'oe')
    .replace(/æ/g, 'ae')
    .replace(/ß/g, 'ss');
}

/**
 * Collapses letter runs longer than `max` to `max` letters: "salaaaam" → "salaam" (max 2) or
 * "salam" (max 1). Digits are left alone (phone numbers, prices).
 */
export function collapseRepeats(text: string, max = 2): string {
  if (max < 1) throw new RangeError('collapseRepeats: max must be >= 1');
  return text.replace(repeatsOf(max), (_m, ch: string) => ch.repeat(max));
}

/** The pattern of letter runs longer than `max`, built once per `max` (every token of every live message is squeezed). */
const REPEATS = new Map<number, RegExp>();
function repeatsOf(max: number): RegExp {
  let re = REPEATS.get(max);
  if (!re) {
    re = new RegExp(`(\\p{L})\\1{${max},}`, 'gu');
    REPEATS.set(max, re);
  }
  return re;
}

/** All doubled letters squeezed to one: the lexicon key, so "bzzaf", "bzaaf" and "bzaf" meet. */
export function squeeze(token: string): string {
  return collapseRepeats(token, 1);
}

/**
 * The canonical form of a whole message: NFKC (Arabic presentation forms, full-width letters),
 * lowercase, Latin accents folded, Arabic diacritics stripped and letters unified, curly
 * apostrophes straightened, elongations of 3+ letters cut to 2, whitespace collapsed.
 */
export function normalizeText(text: string): string {
  const nfkc = text.normalize('NFKC').replace(APOSTROPHES, "'");
  // NFD inside foldLatin would split أ into ا + U+0654, which stripArabicDiacritics then removes:
  // unify Arabic first so both paths agree.
  const arabic = unifyArabicLetters(stripArabicDiacritics(nfkc));
  return collapseRepeats(stripArabicDiacritics(foldLatin(arabic)), 2).replace(/\s+/g, ' ').trim();
}

/** French elided clitics kept as their own token ("c'est" → "c'", "est") because they are strong French evidence. */
const ELISION = /^(?:c|d|j|l|m|n|s|t|qu|jusqu|lorsqu|puisqu)'/;
const ELISION_ALONE = /^(?:c|d|j|l|m|n|s|t|qu|jusqu|lorsqu|puisqu|quelqu)'$/;
const ENGLISH_CONTRACTION = /^[a-z]+'(?:m|d|ll|s|t|re|ve)$/;

/**
 * Splits a message into normalized word tokens. Letters and digits stay together so Arabizi
 * ("ch7al", "3lach", "m3a") survives; hyphens and punctuation split words; emojis are dropped;
 * French elisions become a separate token ending in an apostrophe.
 */
export function tokenize(text: string): string[] {
  const normalized = normalizeText(text);
  const raw = normalized.match(/[\p{L}\p{N}']+/gu) ?? [];
  const tokens: string[] = [];
  for (const piece of raw) {
    // A lone elided clitic ("l' adresse", or a phrase like "m'") keeps its apostrophe.
    let rest = piece.replace(/^'+/, '');
    if (!ELISION_ALONE.test(rest)) rest = rest.replace(/'+$/, '');
    while (rest.length > 0) {
      const elision = ELISION.exec(rest);
      if (elision && rest.length > elision[0].length) {
        tokens.push(elision[0]);
        rest = rest.slice(elision[0].length);
        continue;
      }
      // Remaining inner apostrophes ("aujourd'hui" stays whole, "l'3ard" splits).
      if (rest === "aujourd'hui") {
        tokens.push(rest);
        break;
      }
      const inner = rest.indexOf("'");
      // English contractions stay whole: "i'm", "don't", "what's", "i'll".
      if (inner > 0 && ENGLISH_CONTRACTION.test(rest)) {
        tokens.push(rest);
        break;
      }
      if (inner > 0) {
        tokens.push(rest.slice(0, inner + 1));
        rest = rest.slice(inner + 1).replace(/^'+/, '');
        continue;
      }
      tokens.push(rest);
      break;
    }
  }
  return tokens.filter((t) => t.length > 0);
}

/** Which alphabet a token is written in. */
export function tokenScript(token: string): 'arabic' | 'latin' | 'digits' | 'mixed' | 'other' {
  const arabic = ARABIC_LETTER.test(token);
  const latin = LATIN_LETTER.test(token);
  if (arabic && latin) return 'mixed';
  if (arabic) return 'arabic';
  if (latin) return 'latin';
  if (/^\p{N}+$/u.test(token)) return 'digits';
  return 'other';
}

/**
 * Arabizi: digits standing for Arabic letters (3=ع, 7=ح, 9=ق, 2=ء, 5=خ, 8=ه, 4=غ). Folds them to
 * the Latin spelling people use when they do not use digits, so "ch7al" → "chhal", "m3a" → "ma",
 * "n9der" → "nqder". Tokens that are only digits (prices, quantities) are left untouched.
 */
export function foldArabiziDigits(token: string): string {
  if (!/\p{L}/u.test(token) || !/[2-9]/.test(token)) return token;
  return token
    .replace(/3/g, 'a')
    .replace(/7/g, 'h')
    .replace(/9/g, 'q')
    .replace(/2/g, 'a')
    .replace(/5/g, 'kh')
    .replace(/8/g, 'h')
    .replace(/4/g, 'gh');
}

/**
 * A loose phonetic key for fuzzy matching of Latin-script Darija, French and English:
 * Arabizi digits folded, sh→ch, ou→u, y→i, doubled letters squeezed. "ch7al", "chhal", "sh7al"
 * all give "chal"; "khouya"/"khoya"/"khuya" give "khuia"/"khoia"… close enough for edit distance.
 */
export function phoneticKey(token: string): string {
  return squeeze(
    foldArabiziDigits(token)
      .replace(/sh/g, 'ch')
      .replace(/ou/g, 'u')
      .replace(/y/g, 'i')
      .replace(/q/g, 'k'),
  );
}

/**
 * Edit distance with adjacent transpositions (optimal string alignment). Returns `max + 1` as soon
 * as the distance is known to exceed `max`, so comparing against a whole FAQ stays cheap.
 */
export function editDistance(a: string, b: string, max = Number.POSITIVE_INFINITY): number {
  if (a === b) return 0;
  if (Math.abs(a.length - b.length) > max) return max + 1;
  const aa = Array.from(a);
  const bb = Array.from(b);
  const n = aa.length;
  const m = bb.length;
  if (n === 0) return m;
  if (m === 0) return n;
  let prevPrev = new Array<number>(m + 1).fill(0);
  let prev = Array.from({ length: m + 1 }, (_v, j) => j);
  let cur = new Array<number>(m + 1).fill(0);
  for (let i = 1; i <= n; i++) {
    cur[0] = i;
    let rowMin = i;
    for (let j = 1; j <= m; j++) {
      const cost = aa[i - 1] === bb[j - 1] ? 0 : 1;
      let v = Math.min((prev[j] ?? 0) + 1, (cur[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + cost);
      if (i > 1 && j > 1 && aa[i - 1] === bb[j - 2] && aa[i - 2] === bb[j - 1]) {
        v = Math.min(v, (prevPrev[j - 2] ?? 0) + 1);
      }
      cur[j] = v;
      if (v < rowMin) rowMin = v;
    }
    if (rowMin > max) return max + 1;
    [prevPrev, prev, cur] = [prev, cur, prevPrev];
  }
  return prev[m] ?? max + 1;
}

/** Arabic clitic prefixes (و، ف، ب، ل، ك + the article) that glue onto nouns. */
const ARABIC_PREFIXES = ['وال', 'بال', 'فال', 'كال', 'لل', 'ال', 'و', 'ف', 'ب', 'ل', 'د'];

/**
 * Plausible bare forms of a token for matching: Arabic without clitic prefixes/article
 * ("والتوصيل" → "توصيل"), Darija-Latin without the glued article ("lmagasin" → "magasin").
 * The token itself is always first. Only strips when a stem of 3+ letters remains.
 */
export function stemVariants(token: string): string[] {
  const variants = new Set<string>([token]);
  if (ARABIC_LETTER.test(token)) {
    for (const prefix of ARABIC_PREFIXES) {
      if (token.startsWith(prefix) && token.length - prefix.length >= 3) {
        variants.add(token.slice(prefix.length));
      }
    }
    for (const v of [...variants]) {
      if (v.startsWith('ال') && v.length - 2 >= 3) variants.add(v.slice(2));
    }
  } else if (/^l[bcdfghjklmnpqrstvwxz2-9]/.test(token) && token.length >= 4) {
    // Darija glues its article: "lmagasin", "lproduit", "l7ot", "lcommande".
    variants.add(token.slice(1));
  } else if (/^(?:f|b)l[a-z]/.test(token) && token.length >= 5) {
    // "flmagasin", "blcarte": preposition + article.
    variants.add(token.slice(2));
  }
  return [...variants];
}

/**
 * The form used by phrase matching (hand-off intent, opt-out): Arabizi digits folded and doubled
 * letters squeezed, so "m3a", "ma3a" and "mea"-less variants meet, and "appelez"/"apelez" too.
 */
export function canonicalToken(token: string): string {
  return squeeze(foldArabiziDigits(token));
}

/** A message (or a phrase written in natural spelling) as canonical tokens. */
export function canonicalTokens(text: string): string[] {
  return tokenize(text).map(canonicalToken);
}

/** A phrase written in natural spelling ("parler à quelqu'un") → its canonical token string. */
export function canonicalPhrase(phrase: string): string {
  return canonicalTokens(phrase).join(' ');
}

/** Escapes a string for use inside a RegExp. */
export function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Every token of an inventory's phrases, per inventory (each is built once and read for every live message). */
const VOCABULARIES = new WeakMap<ReadonlyMap<string, unknown>, ReadonlySet<string>>();
function vocabularyOf(inventory: ReadonlyMap<string, unknown>): ReadonlySet<string> {
  let words = VOCABULARIES.get(inventory);
  if (!words) {
    words = new Set([...inventory.keys()].flatMap((phrase) => phrase.split(' ')));
    VOCABULARIES.set(inventory, words);
  }
  return words;
}

/**
 * Covers `tokens` entirely with phrases from `inventory` (longest match first, backtracking),
 * returning the phrases used with their category, or null when some token is not covered.
 * Used for "a message made only of X, Y and politeness words" rules.
 */
export function segmentPhrases<C extends string>(
  tokens: readonly string[],
  inventory: ReadonlyMap<string, C>,
  maxPhraseTokens = 6,
): Array<{ phrase: string; category: C }> | null {
  // A token that is in no phrase cannot be covered: most messages stop here, before any phrase is built.
  const words = vocabularyOf(inventory);
  if (tokens.some((t) => !words.has(t))) return null;
  const memo = new Map<number, Array<{ phrase: string; category: C }> | null>();
  const walk = (start: number): Array<{ phrase: string; category: C }> | null => {
    if (start === tokens.length) return [];
    const cached = memo.get(start);
    if (cached !== undefined) return cached;
    let result: Array<{ phrase: string; category: C }> | null = null;
    for (let len = Math.min(maxPhraseTokens, tokens.length - start); len >= 1 && !result; len--) {
      const phrase = tokens.slice(start, start + len).join(' ');
      const category = inventory.get(phrase);
      if (category === undefined) continue;
      const rest = walk(start + len);
      if (rest) result = [{ phrase, category }, ...rest];
    }
    memo.set(start, result);
    return result;
  };
  return walk(0);
}

const ARABIC_CLITICS = /^(?:وال|بال|فال|كال|لل|ال|و|ف|ب|ل)/;
const ARABIC_VERB_PREFIX = /^(?:كت|كن|كي|كا|تي|ت|ي|ن|ا|س|غ|م)/;
const ARABIC_SUFFIX = /(?:ون|ين|ات|وا|ها|هم|كم|نا|ني|ليا|لي|ه|و|ي|ك|ش|ت)$/;
const LATIN_VERB_PREFIX = /^(?:kan|kat|kay|tan|ghan|ghat|gha|ka|ta|[tny](?=[bcdfghjklmnpqrstvwxz]))/;
const LATIN_SUFFIX = /(?:uhum|ohom|hom|lkom|kom|lik|lek|lia|ni|na|ha|at|u|o|w|ch|i)$/;

/**
 * A rough root for fuzzy matching: clitics, verb prefixes and pronoun suffixes removed, then
 * inner vowels dropped. Arabic "التوصيل", "توصلون", "كتوصلو" → "وصل", "مفتوح"/"يفتح" → "فتح"; Darija "katwslo",
 * "twsalni", "nwslo" → "wsl"; "nkhelles"/"nkhlss" → "khls"; English "delivery"/"deliver" → "dlvr".
 * Returns null when fewer than 3 letters remain (too ambiguous to compare).
 */
export function consonantSkeleton(token: string): string | null {
  let t = token;
  const strip = (re: RegExp): void => {
    const stripped = t.replace(re, '');
    if (stripped !== t && stripped.length >= 3) t = stripped;
  };
  if (ARABIC_LETTER.test(t)) {
    t = squeeze(t);
    strip(ARABIC_CLITICS);
    strip(ARABIC_VERB_PREFIX);
    strip(ARABIC_SUFFIX);
    const skeleton = (t[0] ?? '') + t.slice(1).replace(/[اوي]/g, '');
    return skeleton.length >= 3 ? squeeze(skeleton) : null;
  }
  t = phoneticKey(t);
  if (t.length < 4) return null;
  strip(LATIN_VERB_PREFIX);
  strip(LATIN_SUFFIX);
  const skeleton = squeeze((t[0] ?? '') + t.slice(1).replace(/[aeiou]/g, ''));
  return skeleton.length >= 3 ? skeleton : null;
}
