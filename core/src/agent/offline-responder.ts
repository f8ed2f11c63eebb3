/**
 * The offline agent: answers only from the tenant's FAQ, in the customer's language and script,
 * and hands over to a person when it is not sure. No model, no network, no CRM calls.
 *
 * One turn:
 * 1. empty message (sticker, failed transcript) → hand-off without text;
 * 2. the customer asks for a person (wantsHuman) → hand-off with a polite message;
 * 3. only greetings / only thanks → a greeting / "you're welcome" reply;
 * 4. otherwise the FAQ question closest to the message (token overlap weighted by rarity, with
 *    fuzzy token equality: edit distance, Arabizi digits folded, Arabic clitics and the Darija
 *    glued article stripped) answers when its score ≥ minScore; the answer is the FAQ answer for
 *    the customer's language tag, else `default`. Below minScore → hand-off. It never composes
 *    prices or facts of its own.
 */
import { z } from 'zod';
import { detectLanguage, type BaseLanguage } from '../language/detect.js';
import { wantsHuman } from '../language/handoff-intent.js';
import type { AgentDecision, AgentProvider, AgentTools, AgentTurnInput, BusinessProfile, LanguageTag } from './provider.js';
import { ARABIC_LETTER, canonicalPhrase, canonicalTokens, consonantSkeleton, editDistance, phoneticKey, squeeze, stemVariants, tokenize } from '../language/text-normalize.js';

// ---------------------------------------------------------------------------------------------
// Profile schema (the file a tenant edits, e.g. examples/knowledge/atlas-shop.json)
// ---------------------------------------------------------------------------------------------

const LANGUAGE_TAGS = ['darija_arabic', 'darija_latin', 'french', 'msa', 'english', 'mixed', 'unknown'] as const satisfies readonly LanguageTag[];
const answerText = z.string().trim().min(1);

/** Answer per language tag; `default` is required, unknown keys (typos like "darija") are rejected. */
export const faqAnswerSchema = z.strictObject({
  default: answerText,
  ...(Object.fromEntries(LANGUAGE_TAGS.map((tag) => [tag, answerText.optional()])) as Record<(typeof LANGUAGE_TAGS)[number], z.ZodOptional<typeof answerText>>),
});

export const faqEntrySchema = z.strictObject({
  id: z.string().trim().min(1),
  questions: z.array(z.string().trim().min(1)).min(1),
  answer: faqAnswerSchema,
});

/** A BusinessProfile as stored or edited by a tenant. Unknown top-level keys are dropped. */
export const businessProfileSchema = z.object({
  name: z.string().trim().min(1),
  description: z.string(),
  faq: z
    .array(faqEntrySchema)
    .optional()
    .superRefine((faq, ctx) => {
      const seen = new Set<string>();
      for (const [i, entry] of (faq ?? []).entries()) {
        if (seen.has(entry.id)) ctx.addIssue({ code: 'custom', message: `duplicate FAQ id "${entry.id}"`, path: [i, 'id'] });
        seen.add(entry.id);
      }
    }),
  instructions: z.string().optional(),
});

export type BusinessProfileInput = z.infer<typeof businessProfileSchema>;
// The schema's output must stay usable wherever a BusinessProfile is expected.
const _profileCompatible: (p: BusinessProfileInput) => BusinessProfile = (p) => p;
void _profileCompatible;

// ---------------------------------------------------------------------------------------------
// Canned texts (greeting, thanks, hand-off). `{name}` is replaced by the business name.
// ---------------------------------------------------------------------------------------------

export type CannedTextKind = 'greeting' | 'salamReply' | 'thanks' | 'handoffRequested' | 'handoffNoMatch';

export const DEFAULT_TEXTS: Record<CannedTextKind, Record<BaseLanguage, string>> = {
  greeting: {
    darija_arabic: 'مرحبا بيك ف {name}! كيفاش نقدرو نعاونوك؟',
    darija_latin: 'Mrehba bik f {name}! Kifach n9dro n3awnouk?',
    french: 'Bonjour et bienvenue chez {name} ! Comment pouvons-nous vous aider ?',
    msa: 'أهلا بك في {name}! كيف يمكننا مساعدتك؟',
    english: 'Hello and welcome to {name}! How can we help you?',
  },
  salamReply: {
    darija_arabic: 'وعليكم السلام، مرحبا بيك ف {name}! كيفاش نقدرو نعاونوك؟',
    darija_latin: 'Wa 3alaykom salam, mrehba bik f {name}! Kifach n9dro n3awnouk?',
    french: 'Wa alaykoum salam, bienvenue chez {name} ! Comment pouvons-nous vous aider ?',
    msa: 'وعليكم السلام، أهلا بك في {name}! كيف يمكننا مساعدتك؟',
    english: 'Wa alaikum salam, welcome to {name}! How can we help you?',
  },
  thanks: {
    darija_arabic: 'بلا جميل، مرحبا بيك ديما! إلا بغيتي شي حاجة أخرى غير قول لينا.',
    darija_latin: 'Bla jmil, mrehba bik dima! Ila bghiti chi 7aja khra ghir goul lina.',
    french: "Avec plaisir ! N'hésitez pas si vous avez une autre question.",
    msa: 'عفوا، يسعدنا ذلك! لا تتردد إذا كان لديك سؤال آخر.',
    english: "You're welcome! Let us know if you have any other question.",
  },
  handoffRequested: {
    darija_arabic: 'واخا، غادي نوصلك دابا بشي واحد من الفريق. شوية ديال الصبر عافاك 🙏',
    darija_latin: "Wakha, ghadi nwasslek daba b chi wa7ed mn l'équipe. Chwiya dyal sbar 3afak 🙏",
    french: "Bien sûr, je vous mets en relation avec un membre de l'équipe. Merci de patienter un instant 🙏",
    msa: 'حسنا، سأحولك الآن إلى أحد أعضاء الفريق. يرجى الانتظار قليلا 🙏',
    english: "Sure, I'm passing you to someone from the team. Please hold on a moment 🙏",
  },
  handoffNoMatch: {
    darija_arabic: 'سمح ليا، ما عنديش جواب مضبوط على هادشي. غادي يجاوبك شي واحد من الفريق قريب 🙏',
    darija_latin: "Sme7 liya, ma 3ndich jawab mdbout 3la hadchi. Ghadi yjawbek chi wa7ed mn l'équipe 9rib 🙏",
    french: "Désolé, je n'ai pas de réponse sûre à cette question. Un membre de l'équipe va vous répondre très vite 🙏",
    msa: 'عذرا، ليس لدي جواب مؤكد عن هذا. سيجيبك أحد أعضاء الفريق قريبا 🙏',
    english: "Sorry, I don't have a reliable answer to that. Someone from the team will reply shortly 🙏",
  },
};

export type HandoffReason = 'customer_requested_human' | 'no_confident_faq_match' | 'empty_message';

export interface OfflineFaqResponderOptions {
  /** Minimum FAQ match score (0..1) to answer instead of handing over. Default DEFAULT_MIN_SCORE. */
  minScore?: number;
  /** Language for canned texts when the customer's language is unknown (emoji only…). Default french. */
  fallbackLanguage?: BaseLanguage;
  /** Overrides of the canned texts, per kind and language. */
  texts?: Partial<Record<CannedTextKind, Partial<Record<BaseLanguage, string>>>>;
}

export const DEFAULT_MIN_SCORE = 0.5;
/** Words of a FAQ question the message must share (or all of them, for shorter questions). */
export const MIN_MATCHED_WORDS = 2;

// ---------------------------------------------------------------------------------------------
// Matching
// ---------------------------------------------------------------------------------------------

/** Words that say nothing about *which* FAQ entry is meant (greetings, politeness, articles, "I want"). */
const STOPWORDS = new Set(
  [
    // Darija / Arabizi
    'salam', 'slm', 'salam alikom', 'alikom', 'wach', 'wash', 'ach', 'chi', 'shi', 'had', 'hadi', 'hada', 'l', 'f', 'd', 'b', 'w', 'o', 'a',
    'dyal', 'dial', 'bghit', 'bghina', 'n3ref', 'n3rf', '3afak', 'afak', 'lah', 'ykhlik', 'khouya', 'khoya', 'khti', 'ana', 'nta', 'nti',
    'rah', 'daba', 'ila', 'ghir', 'mn', 'men', 'li', 'lli', 'm3a', '3la', 'ya', 'merci', 'chokran', 'bzaf', 'svp', 'stp', 'please', 'pls',
    '3ndkom', '3andkom', 'andkom', 'kayn', 'kayna', 'kain', 'chno', 'chnou', 'chnu', 'homa', 'hia', 'howa', '3nd', 'n9der', 'nqder',
    't9der', 'mmkn', 'momkin',
    // Arabic / Darija in Arabic letters
    'السلام', 'عليكم', 'سلام', 'واش', 'شي', 'هاد', 'هادي', 'هادا', 'ديال', 'بغيت', 'نعرف', 'عافاك', 'الله', 'يخليك', 'خويا', 'ختي',
    'انا', 'راه', 'ف', 'ل', 'د', 'ب', 'و', 'من', 'مع', 'على', 'في', 'الى', 'عن', 'هل', 'اريد', 'ان', 'اعرف', 'لو', 'سمحت', 'فضلك',
    'شكرا', 'لي', 'اللي', 'التي', 'الذي', 'هذا', 'هذه', 'يا', 'ممكن', 'لديكم', 'عندكم', 'كاين', 'كاينة', 'ما', 'هي', 'هو', 'شنو',
    'شنوة', 'ماهي', 'ماهو', 'عند', 'نقدر', 'تقدر', 'يمكن', 'يمكنني', 'يمكنك', 'يمكنكم', 'اود',
    // French
    'bonjour', 'bonsoir', 'salut', 'je', "j'", 'voudrais', 'veux', 'savoir', 'est', 'ce', "c'", 'que', "qu'", 'le', 'la', 'les', "l'",
    'de', "d'", 'du', 'des', 'un', 'une', 'et', 'a', 'au', 'aux', 'pour', 'mon', 'ma', 'mes', 'votre', 'vos', 'il', 'y', 'svp', 'stp',
    "s'", 'plait', 'vous', 'moi', 'me', "m'", 'en', 'sur', 'ca', 'cet', 'cette', 'avez', 'avoir', 'quel', 'quelle', 'quels',
    'quelles', 'sont', 'etes', 'faites', 'fait', 'peux', 'peut', 'pouvez', 'par', 'possible', 'est-ce',
    // English
    'hi', 'hello', 'hey', 'the', 'a', 'an', 'is', 'are', 'i', 'to', 'of', 'it', 'this', 'that', 'my', 'me', 'you', 'your', 'please',
    'for', 'and', 'do', 'does', 'would', 'like', 'want', 'know', 'can', 'there', 'in', 'on', 'have', 'has', 'what', "what's", 'which',
    'any', 'some', 'u', 'we', 'our', 'could', 'will', 'be', 'get', 'how',
  ].flatMap((w) => tokenize(w).map(matchKey)),
);

const GREETINGS = new Set(
  [
    'salam', 'slm', 'salam alikom', 'salam alaykom', 'salam 3alaykom', 'salamo alaykom', 'slt', 'salut', 'bonjour', 'bjr', 'bonsoir', 'bsr',
    'coucou', 'hello', 'hi', 'hey', 'good morning', 'good evening', 'good afternoon', 'sba7 lkhir', 'sbah lkhir', 'msa lkhir', 'mrhba',
    'ahlan', 'ahla', 'السلام عليكم', 'سلام', 'السلام', 'صباح الخير', 'مساء الخير', 'مرحبا', 'اهلا', 'السلام عليكم ورحمة الله',
    'السلام عليكم ورحمة الله وبركاته', 'سلام عليكم',
  ].map(canonicalPhrase),
);
const SALAM = new Set(['salam', 'slm', 'salam alikom', 'salam alaykom', 'salam 3alaykom', 'salamo alaykom', 'السلام عليكم', 'سلام', 'السلام', 'سلام عليكم'].map(canonicalPhrase));
const THANKS = new Set(
  [
    'merci', 'merci beaucoup', 'mrc', 'thanks', 'thank you', 'thx', 'ty', 'chokran', 'choukran', 'shokran', 'chokran bzaf', 'merci bzaf',
    'lah ykhlik', 'baraka lah fik', 'barak allah fik', 'شكرا', 'شكرا جزيلا', 'بارك الله فيك', 'الله يخليك', 'الله يجازيك بخير', 'تبارك الله',
    'ok', 'okay', 'daccord', "d'accord", 'wakha', 'safi', 'parfait', 'top', 'great', 'perfect', 'cool', 'واخا', 'صافي', 'مزيان', 'mzyan',
  ].map(canonicalPhrase),
);
const POLITE_FILLERS = new Set(
  ['svp', 'stp', 'please', 'pls', '3afak', 'khouya', 'khoya', 'khti', 'madame', 'monsieur', 'sir', 'عافاك', 'خويا', 'ختي', 'bzaf', 'a', 'ya', 'يا', 'cv', 'labas', 'لاباس', 'ca va', 'kidayr', 'كيداير'].map(canonicalPhrase),
);

/** The key two words are compared by: Arabic squeezed, Latin folded phonetically (Arabizi, sh/ch, ou/u…). */
function matchKey(token: string): string {
  return ARABIC_LETTER.test(token) ? squeeze(token) : phoneticKey(token);
}

/**
 * Moroccan cities, in the spellings customers use, all become one token: "vous livrez à Agadir ?"
 * then matches a FAQ question written with "Casablanca". (Ambiguous names are left out: Latin
 * "safi"/"sale" and Arabic "الجديدة"/"العيون" are also ordinary words.)
 */
const CITY = '<city>';
const CITIES = new Set(
  [
    'marrakech', 'marrakesh', 'marrakch', 'mrakch', 'mraksh', 'kech', 'casablanca', 'casa', 'rabat', 'fes', 'fez', 'fass', 'tanger', 'tangier',
    'tangiers', 'tanja', 'agadir', 'meknes', 'meknas', 'oujda', 'kenitra', 'tetouan', 'titouan', 'essaouira', 'sawira', 'nador', 'mellal',
    'dakhla', 'ouarzazate', 'warzazat', 'taroudant', 'khouribga', 'settat', 'mohammedia', 'temara', 'ifrane', 'chefchaouen', 'chaouen',
    'errachidia', 'larache', 'hoceima', 'guelmim', 'berkane', 'taza', 'tiznit', 'azrou', 'khenifra',
    'مراكش', 'كازا', 'كازابلانكا', 'البيضاء', 'الرباط', 'رباط', 'فاس', 'طنجة', 'اكادير', 'مكناس', 'وجدة', 'القنيطرة', 'تطوان', 'الصويرة',
    'الناظور', 'ملال', 'الداخلة', 'ورزازات', 'تارودانت', 'خريبكة', 'سطات', 'المحمدية', 'تمارة', 'افران', 'شفشاون', 'الشاون', 'الرشيدية',
    'العرائش', 'الحسيمة', 'كلميم', 'بركان', 'تازة', 'تيزنيت',
  ].flatMap((c) => tokenize(c).map(matchKey)),
);

/** Days of the week likewise: "ouverts le samedi ?" matches "ouverts le dimanche ?". */
const DAY = '<day>';
const DAYS = new Set(
  [
    'lundi', 'mardi', 'mercredi', 'jeudi', 'vendredi', 'samedi', 'dimanche', 'monday', 'tuesday', 'wednesday', 'thursday', 'friday',
    'saturday', 'sunday', 'tnin', 'tlat', 'larb3', 'lkhmis', 'jem3a', 'jm3a', 'sebt', 'sbt', 'l7ed', 'lhed', '7ed', 'الاثنين', 'الاتنين',
    'التلات', 'الثلاثاء', 'الاربعاء', 'الاربع', 'الخميس', 'الجمعة', 'الجمعه', 'السبت', 'الاحد', 'الحد',
  ].flatMap((c) => tokenize(c).map(matchKey)),
);

interface WeightedToken {
  /** Match keys: the word first, then its forms without clitics / glued article. */
  keys: string[];
  /** consonantSkeleton of the word, for related forms ("توصلون" ~ "التوصيل"). */
  skeleton: string | null;
}

function contentTokens(text: string): WeightedToken[] {
  const tokens: WeightedToken[] = [];
  for (const t of tokenize(text)) {
    if (/^\p{N}+$/u.test(t)) continue; // quantities and prices never identify a question
    const keys = [...new Set(stemVariants(t).map(matchKey))];
    if (keys.some((k) => CITIES.has(k))) {
      tokens.push({ keys: [CITY], skeleton: null });
      continue;
    }
    if (keys.some((k) => DAYS.has(k))) {
      tokens.push({ keys: [DAY], skeleton: null });
      continue;
    }
    if (STOPWORDS.has(keys[0] ?? '')) continue;
    tokens.push({ keys, skeleton: consonantSkeleton(t) });
  }
  return tokens;
}

/** 1 for the same word, less for a related form or a close spelling, 0 otherwise. */
function tokenSimilarity(a: WeightedToken, b: WeightedToken): number {
  const a0 = a.keys[0] ?? '';
  const b0 = b.keys[0] ?? '';
  if (a0 === b0) return 1;
  // Same stem once a clitic or glued article is removed ("التوصيل"/"توصيل", "lmagasin"/"magasin").
  if (a.keys.some((x) => b.keys.includes(x))) return 0.9;
  const len = Math.min(a0.length, b0.length);
  // Typos: one edit in words of 5+ letters, two in words of 8+ ("livraison"/"livrason").
  if (len >= 5) {
    const d = editDistance(a0, b0, 2);
    if (d <= 1) return 0.8;
    if (d <= 2 && len >= 8) return 0.7;
  }
  if (a.skeleton !== null && a.skeleton === b.skeleton) return 0.7;
  let prefix = 0;
  while (prefix < len && a0[prefix] === b0[prefix]) prefix++;
  if (prefix >= 5 && prefix >= 0.7 * len) return 0.6;
  return 0;
}

interface IndexedQuestion {
  entryIndex: number;
  question: string;
  tokens: WeightedToken[];
}

interface FaqIndex {
  questions: IndexedQuestion[];
  /** Inverse document frequency per match key, documents being FAQ entries. */
  idf: Map<string, number>;
  maxIdf: number;
}

const indexCache = new WeakMap<NonNullable<BusinessProfile['faq']>, FaqIndex>();

function buildIndex(faq: NonNullable<BusinessProfile['faq']>): FaqIndex {
  const cached = indexCache.get(faq);
  if (cached) return cached;
  const questions: IndexedQuestion[] = [];
  const df = new Map<string, number>();
  faq.forEach((entry, entryIndex) => {
    const keys = new Set<string>();
    for (const question of entry.questions) {
      const tokens = contentTokens(question);
      questions.push({ entryIndex, question, tokens });
      for (const t of tokens) keys.add(t.keys[0] ?? '');
    }
    for (const k of keys) df.set(k, (df.get(k) ?? 0) + 1);
  });
  const n = Math.max(faq.length, 1);
  const idf = new Map<string, number>();
  for (const [k, count] of df) idf.set(k, Math.log(1 + n / count));
  const index = { questions, idf, maxIdf: Math.log(1 + n) };
  indexCache.set(faq, index);
  return index;
}

export interface FaqMatch {
  id: string;
  /** The FAQ question that matched best. */
  question: string;
  /** 0..1: F1 of the rarity-weighted token overlap between message and question (0 below MIN_MATCHED_WORDS). */
  score: number;
}

/** Scores one message against a FAQ; returns the best entry (or null when the FAQ is empty or nothing overlaps). */
export function matchFaq(faq: BusinessProfile['faq'], text: string): FaqMatch | null {
  if (!faq || faq.length === 0) return null;
  const index = buildIndex(faq);
  const message = contentTokens(text);
  if (message.length === 0) return null;
  const weight = (t: WeightedToken): number => index.idf.get(t.keys[0] ?? '') ?? index.maxIdf;

  let best: FaqMatch | null = null;
  for (const q of index.questions) {
    if (q.tokens.length === 0) continue;
    let qTotal = 0;
    let qMatched = 0;
    let matchedWords = 0;
    for (const qt of q.tokens) {
      const w = weight(qt);
      const sim = Math.max(0, ...message.map((mt) => tokenSimilarity(qt, mt)));
      qTotal += w;
      qMatched += w * sim;
      if (sim > 0) matchedWords++;
    }
    let mTotal = 0;
    let mMatched = 0;
    for (const mt of message) {
      const w = weight(mt);
      mTotal += w;
      mMatched += w * Math.max(0, ...q.tokens.map((qt) => tokenSimilarity(mt, qt)));
    }
    const recall = qMatched / qTotal;
    const precision = mMatched / mTotal;
    // One shared word is not a match for a longer question: "ch7al?" alone must not pick "ch7al livraison?".
    const enoughWords = matchedWords >= Math.min(MIN_MATCHED_WORDS, q.tokens.length);
    const score = enoughWords && recall + precision > 0 ? (2 * recall * precision) / (recall + precision) : 0;
    const entry = faq[q.entryIndex];
    if (entry && (!best || score > best.score)) best = { id: entry.id, question: q.question, score: Math.round(score * 1000) / 1000 };
  }
  return best;
}

// ---------------------------------------------------------------------------------------------
// Greetings and thanks
// ---------------------------------------------------------------------------------------------

type SmallTalk = 'greeting' | 'salam' | 'thanks' | null;

/** Classifies messages made only of greetings, thanks and politeness ("salam", "merci bzaf 🙏"). */
function smallTalk(text: string): SmallTalk {
  const tokens = canonicalTokens(text);
  if (tokens.length === 0 || tokens.length > 8) return null;
  let greeting: SmallTalk = null;
  let thanks = false;
  let i = 0;
  while (i < tokens.length) {
    let consumed = 0;
    for (let len = Math.min(6, tokens.length - i); len >= 1 && consumed === 0; len--) {
      const phrase = tokens.slice(i, i + len).join(' ');
      if (SALAM.has(phrase)) {
        greeting = 'salam';
        consumed = len;
      } else if (GREETINGS.has(phrase)) {
        greeting ??= 'greeting';
        consumed = len;
      } else if (THANKS.has(phrase)) {
        thanks = true;
        consumed = len;
      } else if (POLITE_FILLERS.has(phrase)) {
        consumed = len;
      }
    }
    if (consumed === 0) return null;
    i += consumed;
  }
  if (thanks) return 'thanks';
  return greeting;
}

// ---------------------------------------------------------------------------------------------

function isBase(tag: LanguageTag): tag is BaseLanguage {
  return tag !== 'mixed' && tag !== 'unknown';
}

export class OfflineFaqResponder implements AgentProvider {
  readonly name = 'offline-faq';
  readonly #minScore: number;
  readonly #fallback: BaseLanguage;
  readonly #texts: OfflineFaqResponderOptions['texts'];

  constructor(options: OfflineFaqResponderOptions = {}) {
    const minScore = options.minScore ?? DEFAULT_MIN_SCORE;
    if (!(minScore > 0 && minScore <= 1)) throw new RangeError(`OfflineFaqResponder: minScore must be in (0, 1], got ${minScore}`);
    this.#minScore = minScore;
    this.#fallback = options.fallbackLanguage ?? 'french';
    this.#texts = options.texts;
  }

  /**
   * The language to answer in: the tag given by the pipeline when it is a single language,
   * otherwise (mixed/unknown) the strongest language detected in the message, else the fallback.
   */
  replyLanguage(input: Pick<AgentTurnInput, 'latest'>): BaseLanguage {
    const given = input.latest.language;
    if (isBase(given)) return given;
    const detected = detectLanguage(input.latest.text);
    if (isBase(detected.tag)) return detected.tag;
    const ranked = (Object.entries(detected.scores) as Array<[BaseLanguage, number]>).filter(([, s]) => s > 0).sort((a, b) => b[1] - a[1]);
    return ranked[0]?.[0] ?? this.#fallback;
  }

  #text(kind: CannedTextKind, language: BaseLanguage, profile: BusinessProfile): string {
    const template = this.#texts?.[kind]?.[language] ?? DEFAULT_TEXTS[kind][language];
    return template.replaceAll('{name}', profile.name);
  }

  async decide(input: AgentTurnInput, _tools: AgentTools, signal?: AbortSignal): Promise<AgentDecision> {
    signal?.throwIfAborted();
    const text = input.latest.text.trim();
    if (text.length === 0) return { kind: 'handoff', reason: 'empty_message' satisfies HandoffReason, text: null, toolCalls: [] };

    const language = this.replyLanguage(input);
    const human = wantsHuman(text);
    if (human.wants) {
      return { kind: 'handoff', reason: 'customer_requested_human' satisfies HandoffReason, text: this.#text('handoffRequested', language, input.profile), toolCalls: [] };
    }

    const talk = smallTalk(text);
    if (talk === 'thanks') return { kind: 'reply', text: this.#text('thanks', language, input.profile), toolCalls: [] };
    if (talk === 'salam') return { kind: 'reply', text: this.#text('salamReply', language, input.profile), toolCalls: [] };
    if (talk === 'greeting') return { kind: 'reply', text: this.#text('greeting', language, input.profile), toolCalls: [] };

    const match = matchFaq(input.profile.faq, text);
    const entry = match && match.score >= this.#minScore ? input.profile.faq?.find((e) => e.id === match.id) : undefined;
    if (!entry) {
      return { kind: 'handoff', reason: 'no_confident_faq_match' satisfies HandoffReason, text: this.#text('handoffNoMatch', language, input.profile), toolCalls: [] };
    }
    const given = input.latest.language;
    const answer = entry.answer[given] ?? entry.answer[language] ?? entry.answer.default;
    return { kind: 'reply', text: answer, toolCalls: [] };
  }
}
