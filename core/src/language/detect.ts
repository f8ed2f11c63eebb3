/**
 * Deterministic language and script detection for WhatsApp customer messages to Moroccan
 * businesses: Darija in Arabic letters, Darija in Latin letters (Arabizi, digits as letters),
 * French, Modern Standard Arabic, English, real code-switching (`mixed`) and `unknown`.
 *
 * How it works (no model, no download):
 * 1. Tokens are normalized (text-normalize.ts) and squeezed ("bzzaaf" → "bzaf").
 * 2. Each token adds evidence to languages from hand-built lexicons (function words and markers
 *    weigh ~1; loanwords shared across languages, e.g. "livraison" inside Darija, weigh less), or,
 *    when it is in no lexicon, from morphology: Darija negation "ma…ch"/"ما…ش", verb prefixes
 *    ka-/كا-, Arabizi digits, MSA "ت…ون" verbs, French accents and suffixes, English -ing/wh-/th-.
 *    Unrecognised words still count as a little neutral weight for their script.
 * 3. Decision rule:
 *    - no letters → `unknown`; Latin letters with no evidence at all ("ok", a brand) → `unknown`.
 *    - Candidates: the Arabic-script group (Darija + MSA evidence + unrecognised Arabic words)
 *      and the Latin-script languages darija_latin, french, english. The largest leads.
 *    - `mixed` when another candidate has its own *switch evidence* (SWITCH_MIN_WEIGHT): in the
 *      same script at least MIXED_MIN_SECOND (≈ two function words or markers) and at least
 *      MIXED_MIN_SHARE of (leader + switch evidence); across scripts at least
 *      CROSS_SCRIPT_MIN_SECOND, counting that script's unrecognised words (the change of alphabet
 *      is a signal in itself). Darija in both alphabets is never `mixed`: it stays Darija in the
 *      leading script.
 *      So a Darija sentence with French nouns ("bghit commande dyal 2 t-shirts, possible
 *      livraison demain?") stays darija_latin, while a French clause next to a Darija clause
 *      ("Bonjour, je voudrais savoir wach kayn la taille M", "j'ai commandé hier, mais mazal ma
 *      wsalni walo") is mixed.
 *    - Inside the Arabic group: darija_arabic when Darija evidence ≥ DARIJA_OVER_MSA × MSA
 *      evidence and is non-zero, else msa. Arabic text with no dialect or standard markers at all
 *      ("السلام عليكم", "شكرا") is msa: it is written in the standard form (see the fixture README).
 */
import { ARABIC_LETTER, LATIN_LETTER, normalizeText, squeeze, tokenScript, tokenize } from './text-normalize.js';

/** What the agent answers in: a base language, real code-switching (`mixed`), or `unknown`. */
export type LanguageTag = 'darija_arabic' | 'darija_latin' | 'french' | 'msa' | 'english' | 'mixed' | 'unknown';
export type BaseLanguage = 'darija_arabic' | 'darija_latin' | 'french' | 'msa' | 'english';
export type Script = 'arabic' | 'latin' | 'mixed' | 'none';

export interface LanguageDetection {
  tag: LanguageTag;
  script: Script;
  /** 0..1: how sure the detector is of `tag` (grows with evidence and with the winner's margin). */
  confidence: number;
  /** Share of the evidence per base language (sums to 1 when there is any evidence, else all 0). */
  scores: Record<BaseLanguage, number>;
}

export const BASE_LANGUAGES: readonly BaseLanguage[] = ['darija_arabic', 'darija_latin', 'french', 'msa', 'english'];

/**
 * For `mixed`, the second language is measured by its *switch evidence*: words that count for it
 * with weight ≥ SWITCH_MIN_WEIGHT and count nothing for the leading language. Loanwords ("commande",
 * "livraison", "size", weight 0.35) and words shared by both ("on", "me") therefore never make a
 * message mixed: Darija with French nouns stays Darija.
 */
export const SWITCH_MIN_WEIGHT = 0.5;
/** Same script: the second language needs this much switch evidence (≈ two function words or markers)… */
export const MIXED_MIN_SECOND = 1.6;
/** …and this share of (leader's evidence + second's switch evidence). */
export const MIXED_MIN_SHARE = 0.25;
/**
 * Across scripts the change of alphabet is itself a signal ("السلام عليكم, je voudrais commander"):
 * the minority script needs switch evidence plus unrecognised words of that script ≥ this. A size
 * or brand in Latin letters inside Darija ("Size XL") stays below it.
 */
export const CROSS_SCRIPT_MIN_SECOND = 1;
/** Darija speakers borrow MSA words far more than MSA writers use Darija markers. */
export const DARIJA_OVER_MSA = 0.5;
/** Weight of a word that no lexicon or rule recognises: it still tells which script carries the message. */
const NEUTRAL_WORD = 0.25;

type Evidence = Partial<Record<BaseLanguage, number>>;

// ---------------------------------------------------------------------------------------------
// Lexicons. Each line: weight, then words (single words, or two words joined with '_' for a
// two-word expression). Keys are normalized exactly like messages.
// ---------------------------------------------------------------------------------------------

const DARIJA_ARABIC: Array<[number, string]> = [
  [
    1.2,
    'واش ديال ديالي ديالك ديالو ديالها ديالنا ديالكم ديالهم شحال بشحال دابا كاين كاينه كاينين ماكاينش مزيان مزيانه ' +
      'غادي غاديه غاديين علاش فين فينك فينكم شنو شنوه اشنو اش بزاف هادشي هادي هادا هادو هداك هديك ' +
      'نتا نتي نتوما حنا ماشي راه راني راك راكي راها راهم عافاك عافاكم كيفاش فوقاش امتى منين شكون ' +
      'واخا صافي والو دغيا شويه زعما باش حيت خاصني خاصك خاصو خاصها خاصنا ديما مازال مزال البارح لبارح ' +
      'العشيه دالعشيه هنايا تما لهيه بغيت بغينا بغا بغات بغيتي بغيتو نبغي كنبغي كانبغي بغيتها ' +
      'صيفط صيفطو صيفطي تصيفط تصيفطو نصيفط عطيني عطيوني عطيني جيب جيبو نجيب تجيب يجيب ' +
      'خلص نخلص تخلص نخلصو طوموبيل الطوموبيل حانوت الحانوت ماكله الماكله التمن تمن صباط الصباط ' +
      'طابله بلاصه كوموند الكوموند ليفريزون الليفريزون ليفرور الليفرور رونديفو تيليفون التيليفون ' +
      'خويا ختي دراري الدراري بنادم جوج تلاته لاباس تبارك يجازيك خدام خدامين عيط عيطو عيطي عيطلي ' +
      'حدا كتاخدو نتسنى نسول نشوفو نكري الكرا كرا شي ليا ليك ليه معايا معاك بيك بيا بيه ' +
      'مابغيتش ماعنديش ماعرفتش ماجاش ماوصلنيش وصلات جات جاو جاني جاتني كيدير كتدير كندير ' +
      'السبرديله القميجه الحوايج الكسوه فلوس فلوسي التصاور تصاور الموطور عيان بلا سير مشيت',
  ],
  [0.6, 'سلام غير ولا قدام زوج واحد واحده مرا نعرف نشوف نقدر تقدر يقدر'],
];

const MSA: Array<[number, string]> = [
  [
    1.2,
    'هل ماذا لماذا اريد اود ارغب الذي التي الذين اللذين ليس ليست لست سوف لدي لديك لديكم لدينا لدى ' +
      'هذا هذه ذلك تلك هؤلاء هناك لكن ايضا جدا فقط الان منذ نحن انتم انتن يمكن يمكنني يمكنك يمكنكم ' +
      'نستطيع تستطيع استطيع يوجد توجد لم لن اين متى كيف_حالك جزيلا سمحت فضلك امس الغد كثيرا قليلا ' +
      'احتاج نحتاج اريده اريدها ارسل ارسلوا ارسال بالقرب لانه لانها عندما حيث شيء الاستفسار استفسار ' +
      'بخصوص حول يرجى الرجاء متوفر متوفره الطعام طعام الحذاء المتجر متجر متجركم طاوله اود ابني ابنتي ' +
      'سيصل ستصل سيكون ستكون انه انها ماهو ماهي مساءا ايضا كذلك شكرا_جزيلا البارحه اتلق',
  ],
  [0.6, 'كم كيف اين انت الى عن على في ان ما_هو ما_هي الاستلام السياره سياره سعر غير_مقبول جزاكم اي مرحبا'],
  [1, 'السلام_عليكم'],
];

const DARIJA_LATIN: Array<[number, string]> = [
  [
    1.2,
    'wach wash wech ach achno chno chnou chnu shno chnowa chnouwa bghit bghina bgha bghat bghiti bghito bghitou ' +
      'kanbghi nbghi dyal dial dyali diali dyalek dialek dyalk dialk dyalkom dialkom dyalo dialo dyalha dialha ' +
      'dyalna dialna dyalhom ch7al chhal sh7al shhal bch7al bchhal daba kayn kain kayna kaina kaynin kainin ' +
      'makaynch makaynach makainch mzyan mzian mezyan mzyana mziana mezyana ghadi ghad 3lach 3lah alach ' +
      'fayn fink fin_kayn bzaf bezaf bezzaf hadchi hadshi hadi hada hadak hadik hadou dak dik ' +
      'safi wakha waxa wakhkha nta nti ntoma ntouma 7na hna machi rah raha rani rak raki rahom ' +
      'ghir walo walou chi shi chwiya chwia chwya labas bikhir hamdoullah hamdolah hamdullah lhamdullah ' +
      'chokran choukran chukran shokran 3ndi 3andi 3endi 3ndk 3ndek 3ndkom 3andkom 3endkom andkom ' +
      '3la m3a m3ak m3aya m3ana fo9ach fou9ach imta emta imtaa kifach kifash kifch chkoun chkon chkun mnin ' +
      '3afak afak 3afakom ykhlik ykhalik lah_ykhlik allah_ykhlik tbarkellah tbarkallah tbarklah tbarkalah ' +
      'ghda ghedda lyoum lyouma l3chiya lbare7 lbareh sba7 3chiya tma hnaya mazal ba9i baqi ' +
      'bach 7it khasni khass khassni khassek khassha khasso dima ze3ma zaama bla kolchi koulchi ' +
      'sifet sift sifto siftou sifetlkom tsifto tsiftou 3tini a3tini 3tiwni jib jibo jibli ' +
      'nkhelles nkhles khelles khlss khlas flous flouss flousi drahem tomobil tonobil tomobile ' +
      'lkra kra nkri makla lmakla taman tamane ttaman sbat tabla blasa lkhdma khdma khdam khdamin ' +
      'khouya khoya khoui khti drari bnadem wa7ed wa7d wahed wahd jouj jooj zouj tlata ' +
      'sghir sghira kbir kbira 7mar 7amra k7el k7al byed bida zre9 jdid jdida ghali rkhis barda skhoun ' +
      'hakka hakda hakak mcha mchit ja jat jaw jani jatni wsal wslat wsalni wslatch nji yji yjib tjib ' +
      'n3ref n3rf n9der nqder t9der tqder nswl nsowel nsewel nhder nhdr ntkelem nchri nbdel nsna ' +
      'bslama beslama bslema mrhba mer7ba marhba merhba salamo alikom alikoum 3likom 3alikom 3alaykom ' +
      'inchallah nchallah incha2allah inshaallah slm 3ayt 3ayto 3ayeti lwld lwlad wld mrid kayen',
  ],
  [0.7, 'salam fin fen had gha ila ana howa hiya l f d men o mn sir'],
  [0.4, 'w b ma'],
];

const FRENCH: Array<[number, string]> = [
  [
    1.2,
    "je j' tu il ils elle elles nous vous vs les des du un une est et pour avec pas ne n' que qu' qui quoi quand " +
      "quel quelle quels quelles combien comment pourquoi c' ce cet cette ces mon mes ton ta tes sa ses " +
      "notre votre nos vos leur au aux dans sur chez par sans mais donc oui bonjour bonsoir salut coucou " +
      "bjr bsr slt svp stp plait s' d'accord daccord voudrais voudrait veux veut peux peut pouvez voulez avez avons " +
      "ai suis sommes etes sont fait faites faire avoir etre ete aussi tres bien encore toujours rien depuis hier " +
      "aujourd'hui maintenant deja alors puis jusqu' m' t' l' d' jvoudrais jsp jveux jpeux " +
      'vais va allez sera serait souhaite merci beaucoup parfait accord trop',
  ],
  [0.8, 'de la le demain soir matin non si ou on me moi ma son'],
  [
    0.35,
    'livraison commande commander taille prix possible disponible dispo couleur modele voiture location ' +
      'reservation boutique magasin adresse numero telephone facture promo reduction produit article probleme ' +
      'paiement carte livreur docteur medecin rendezvous urgent normal cher tshirt',
  ],
];

const ENGLISH: Array<[number, string]> = [
  [
    1.2,
    "i i'm im i'd i'll you your ur the an is are was were be been do does did don't dont can could would will " +
      "should want need have has how much many what what's whats where when why who which this that these " +
      'those there here it its it\'s my me we our they them he she his her to for of from with and or not ' +
      "yes please pls plz thanks thank thx hello hey helo good morning evening great still some any just " +
      "get send call back book today tomorrow tonight yesterday since ago again available open close " +
      "closed too very also wat u doesn't can't cant isn't won't let",
  ],
  [0.8, 'hi in at on no all only one'],
  [0.35, 'order price delivery size shipping item booking possible'],
];

/** Arabic words that look like Darija morphology (كا-، -ش) but are standard Arabic. */
const MSA_LOOKALIKES = new Set(
  ['كانت', 'كانوا', 'كانه', 'كتاب', 'كتابه', 'كتب', 'كيلو', 'كيس', 'كيفيه', 'كامل', 'كامله', 'كاملا', 'كافه', 'كافي', 'كاس', 'كنت', 'كنا', 'كتابي', 'كيلوغرام', 'قماش', 'جيش', 'عيش', 'ريش', 'فراش', 'نقاش', 'تفتيش', 'انتعاش'].map(
    (w) => squeeze(normalizeText(w)),
  ),
);
/**
 * Place names say nothing about the language, and some look like Darija morphology
 * ("مراكش" ends in ش, "marrakech" looks like the negation ma…ch): always neutral.
 */
const PLACE_NAMES = new Set(
  [
    'marrakech', 'marrakesh', 'casablanca', 'casa', 'rabat', 'fes', 'fez', 'tanger', 'tangier', 'agadir', 'meknes', 'oujda', 'kenitra',
    'tetouan', 'essaouira', 'nador', 'dakhla', 'ouarzazate', 'gueliz', 'daoudiate', 'mhamid', 'massira', 'maroc', 'morocco',
    'مراكش', 'كازا', 'البيضاء', 'الرباط', 'فاس', 'طنجه', 'اكادير', 'مكناس', 'وجده', 'القنيطره', 'تطوان', 'الصويره', 'الناظور',
    'جليز', 'كليز', 'الداوديات', 'المحاميد', 'المسيره', 'المغرب',
  ].map((w) => squeeze(normalizeText(w))),
);

/** Words ending in -ون that are nouns, not MSA plural verbs. */
const NOT_MSA_VERBS = new Set(['تيليفون', 'صابون', 'ليمون', 'زيتون', 'تلفون', 'كارطون', 'بالون'].map((w) => squeeze(normalizeText(w))));

interface LexiconEntry {
  evidence: Evidence;
}

function buildLexicon(): Map<string, LexiconEntry> {
  const lexicon = new Map<string, LexiconEntry>();
  const add = (lang: BaseLanguage, table: Array<[number, string]>): void => {
    for (const [weight, words] of table) {
      for (const raw of words.split(/\s+/)) {
        if (!raw) continue;
        const key = raw
          .split('_')
          .map((w) => squeeze(normalizeText(w)))
          .join(' ');
        const entry = lexicon.get(key) ?? { evidence: {} };
        entry.evidence[lang] = Math.max(entry.evidence[lang] ?? 0, weight);
        lexicon.set(key, entry);
      }
    }
  };
  add('darija_arabic', DARIJA_ARABIC);
  add('msa', MSA);
  add('darija_latin', DARIJA_LATIN);
  add('french', FRENCH);
  add('english', ENGLISH);
  return lexicon;
}

const LEXICON = buildLexicon();

// ---------------------------------------------------------------------------------------------
// Morphology for words no lexicon knows.
// ---------------------------------------------------------------------------------------------

/** Arabizi: a digit standing for a letter, not a time (20h), a size (1m75), an ordinal (10th) or a unit. */
function isArabizi(token: string): boolean {
  if (!/[a-z][2-9]|[2-9][a-z]/.test(token)) return false;
  if (/^\d+(?:h|pm|am|th|st|nd|rd|er|eme|e|kg|g|km|m|cm|mm|dh|dhs|mad|x|gb|go|mo|mb|l|ml|min|mn|s|j|an|ans|p|k|ps)\d*$/.test(token)) return false;
  if (/^\d+[hm]\d+$/.test(token) || /^(?:mp|a|s|x|ps|iphone|galaxy|g|covid)\d+$/.test(token)) return false;
  return true;
}

function latinMorphology(token: string, prev: string | undefined): Evidence {
  if (isArabizi(token)) return { darija_latin: 1.2 };
  if (/^ma[a-z]{2,}ch$/.test(token) || (prev === 'ma' && /[a-z]ch$/.test(token))) return { darija_latin: 1.2 };
  if (/^ka[nty][bcdfghjklmnpqrstvwxz]/.test(token) && token.length >= 5) return { darija_latin: 0.8 };
  if (/^(?:kh|gh)/.test(token)) return { darija_latin: 0.6 };
  if (/^l[bcdfghjkmnpqrstvwxz][a-z]/.test(token) || /^(?:f|b)[bcdfgjkmnpqstvwxz][a-z]/.test(token)) return { darija_latin: 0.5 };
  if (/^n[bcdfghjklmqrstvwxz][a-z]/.test(token) || /^y[bcdfghjklmnpqrstvwxz][a-z]/.test(token)) return { darija_latin: 0.6 };
  if (/^t[bcdfgjklmnpqsvxz][a-z]/.test(token)) return { darija_latin: 0.5 };
  if (/(?:lkom|lhom|lik|lek|liya|lina|tkom)$/.test(token) && token.length >= 5) return { darija_latin: 0.5 };
  if (token.length < 4) return {};
  if (/ing$/.test(token) || /^wh/.test(token) || /ght/.test(token)) return { english: 0.6 };
  if (/^th/.test(token) || /ck/.test(token) || /(?:ness|ful|ly|ed|ous)$/.test(token)) return { english: 0.4 };
  if (/(?:ez|eux|euse|aient|ais|ait|eau|eaux|oire|ment)$/.test(token)) return { french: 0.5 };
  if (/(?:tion|sion)$/.test(token)) return { french: 0.3, english: 0.3 };
  if (/(?:que|ette|elle|ee|ees|er)$/.test(token)) return { french: 0.3 };
  return {};
}

function arabicMorphology(token: string, prev: string | undefined): Evidence {
  if (token === 'ف' || token === 'د') return { darija_arabic: 1 };
  if (token === 'ل') return { darija_arabic: 0.6 };
  if (MSA_LOOKALIKES.has(token)) return { msa: 0.3 };
  if (token.endsWith('ش') && token.length >= 4 && (token.startsWith('ما') || prev === 'ما')) return { darija_arabic: 1.2 };
  if (token.endsWith('ش') && token.length >= 4) return { darija_arabic: 0.5 };
  if (/^(?:كن|كت|كي|كا)/.test(token) && token.length >= 5) return { darija_arabic: 0.6 };
  if (/^دال/.test(token) && token.length >= 5) return { darija_arabic: 0.8 };
  if (/^فال/.test(token) && token.length >= 5) return { darija_arabic: 0.4 };
  if (/^[تين].{2,}ون$/.test(token) && !NOT_MSA_VERBS.has(token)) return { msa: 0.8 };
  return {};
}

// ---------------------------------------------------------------------------------------------

function emptyScores(): Record<BaseLanguage, number> {
  return { darija_arabic: 0, darija_latin: 0, french: 0, msa: 0, english: 0 };
}

/** Script of a message: `mixed` when both alphabets have a word of 2+ letters (so "ف L ولا M" stays arabic). */
export function detectScript(text: string): Script {
  const arabicWord = /[\u0621-\u064A\u066E-\u06D3\u06FA-\u06FF]{2,}/u.test(text);
  const latinWord = /[a-zA-Z\u00C0-\u024F]{2,}/u.test(text);
  if (arabicWord && latinWord) return 'mixed';
  if (arabicWord || (ARABIC_LETTER.test(text) && !LATIN_LETTER.test(text))) return 'arabic';
  if (latinWord || LATIN_LETTER.test(text)) return 'latin';
  return 'none';
}

interface TokenEvidence {
  arabic: boolean;
  evidence: Evidence;
}

interface Tally {
  evidence: Record<BaseLanguage, number>;
  tokens: TokenEvidence[];
  neutralArabic: number;
  neutralLatin: number;
}

/** Hyphenated loan nouns that would otherwise split into French function words ("rendez-vous" → "vous"). */
const COMPOUNDS: Array<[RegExp, string]> = [
  [/rendez[\s-]?vous/giu, 'rendezvous'],
  [/t[\s-]?shirts?/giu, 'tshirt'],
];

/** Links, e-mail addresses and @handles carry no language. */
const NOT_WORDS = /(?:https?:\/\/|www\.)\S+|\S+@\S+\.\S+|@[\w.]+/giu;

function tally(rawText: string): Tally {
  const text = COMPOUNDS.reduce((t, [re, joined]) => t.replace(re, joined), rawText.replace(NOT_WORDS, ' '));
  const evidence = emptyScores();
  const perToken: TokenEvidence[] = [];
  let neutralArabic = 0;
  let neutralLatin = 0;
  const tokens = tokenize(text)
    .map(squeeze)
    .filter((t) => tokenScript(t) !== 'digits' && tokenScript(t) !== 'other');

  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i] ?? '';
    const prev = i > 0 ? tokens[i - 1] : undefined;
    const next = tokens[i + 1];
    let hit: Evidence | undefined;
    if (next !== undefined) {
      const pair = LEXICON.get(`${token} ${next}`);
      if (pair) {
        hit = pair.evidence;
        i++;
      }
    }
    hit ??= LEXICON.get(token)?.evidence;
    if (!hit && PLACE_NAMES.has(token)) hit = {};
    const arabic = ARABIC_LETTER.test(token);
    hit ??= arabic ? arabicMorphology(token, prev) : latinMorphology(token, prev);
    let any = false;
    for (const lang of BASE_LANGUAGES) {
      const w = hit[lang];
      if (w) {
        evidence[lang] += w;
        any = true;
      }
    }
    if (any) perToken.push({ arabic, evidence: hit });
    else if (token.length >= 2) {
      if (arabic) neutralArabic += NEUTRAL_WORD;
      else neutralLatin += NEUTRAL_WORD;
    }
  }

  // Script-level cues read from the raw text (normalization removes them).
  const tanween = (text.match(/[\u064B-\u064D]/g) ?? []).length;
  if (tanween > 0) evidence.msa += Math.min(1, 0.5 * tanween);
  if (/(?:^|[\s,،.!?؟])سأ/u.test(text)) evidence.msa += 0.8;
  const frenchAccents = (text.match(/[éèêëàâçùûôîï]/giu) ?? []).length;
  if (frenchAccents > 0) evidence.french += Math.min(1.2, 0.4 * frenchAccents);
  if (/ڭ/u.test(text)) evidence.darija_arabic += 1;

  return { evidence, tokens: perToken, neutralArabic, neutralLatin };
}

/** Evidence for `second` from words that are not loanwords and say nothing for `first`. */
function switchEvidence(tokens: TokenEvidence[], first: readonly BaseLanguage[], second: readonly BaseLanguage[]): number {
  let sum = 0;
  for (const { evidence } of tokens) {
    if (first.some((l) => (evidence[l] ?? 0) > 0)) continue;
    const w = Math.max(...second.map((l) => evidence[l] ?? 0));
    if (w >= SWITCH_MIN_WEIGHT) sum += w;
  }
  return sum;
}

function saturation(total: number): number {
  return 1 - Math.exp(-total / 1.5);
}

const round = (n: number): number => Math.round(n * 1000) / 1000;

const ARABIC_GROUP: readonly BaseLanguage[] = ['darija_arabic', 'msa'];

interface Candidate {
  tag: BaseLanguage;
  mass: number;
  /** Base languages whose evidence forms this candidate (two for the Arabic-script group). */
  members: readonly BaseLanguage[];
}

/** Detects the language tag and script of one customer message. Pure and deterministic. */
export function detectLanguage(text: string): LanguageDetection {
  const script = detectScript(text);
  const { evidence, tokens, neutralArabic, neutralLatin } = tally(text);
  const total = BASE_LANGUAGES.reduce((s, l) => s + evidence[l], 0);
  const scores = emptyScores();
  if (total > 0) for (const l of BASE_LANGUAGES) scores[l] = round(evidence[l] / total);

  if (script === 'none') return { tag: 'unknown', script, confidence: 0, scores };

  const arabicDarija = evidence.darija_arabic > 0 && evidence.darija_arabic >= DARIJA_OVER_MSA * evidence.msa;
  const arabicTag: BaseLanguage = arabicDarija ? 'darija_arabic' : 'msa';
  const candidates: Candidate[] = [
    { tag: arabicTag, mass: evidence.darija_arabic + evidence.msa + neutralArabic, members: ARABIC_GROUP },
    { tag: 'darija_latin', mass: evidence.darija_latin, members: ['darija_latin'] },
    { tag: 'french', mass: evidence.french, members: ['french'] },
    { tag: 'english', mass: evidence.english, members: ['english'] },
  ];
  candidates.sort((a, b) => b.mass - a.mass);
  const [first, ...rest] = candidates;
  if (!first || first.mass <= 0) {
    // Latin letters only and nothing recognised (a brand, "ok"): do not guess.
    return { tag: 'unknown', script, confidence: 0, scores };
  }
  if (first.members === ARABIC_GROUP && evidence.darija_arabic + evidence.msa === 0) {
    // Arabic words without any dialect or standard marker: the standard form, weakly.
    if (evidence.darija_latin + evidence.french + evidence.english === 0) {
      return { tag: 'msa', script, confidence: round(0.3 * saturation(neutralArabic + 1)), scores };
    }
  }

  const isArabicScript = (t: BaseLanguage): boolean => t === 'darija_arabic' || t === 'msa';
  const isDarija = (t: BaseLanguage): boolean => t === 'darija_arabic' || t === 'darija_latin';
  for (const second of rest) {
    if (second.mass <= 0) break;
    if (isDarija(first.tag) && isDarija(second.tag)) continue; // Darija in two alphabets is still Darija.
    const crossScript = isArabicScript(first.tag) !== isArabicScript(second.tag);
    const switched = switchEvidence(tokens, first.members, second.members);
    const isMixed = crossScript
      ? switched + (second.members === ARABIC_GROUP ? neutralArabic : neutralLatin) >= CROSS_SCRIPT_MIN_SECOND
      : switched >= MIXED_MIN_SECOND && switched / (first.mass + switched) >= MIXED_MIN_SHARE;
    if (isMixed) {
      const share = switched / (first.mass + switched);
      return { tag: 'mixed', script, confidence: round(saturation(first.mass + switched) * (0.5 + Math.min(share, 0.5))), scores };
    }
  }

  const allMass = candidates.reduce((s, c) => s + c.mass, 0) + neutralLatin;
  let share = first.mass / allMass;
  if (first.members === ARABIC_GROUP) {
    const inner = evidence.darija_arabic + evidence.msa;
    if (inner > 0) share *= Math.max(evidence.darija_arabic, evidence.msa) / inner;
  }
  return { tag: first.tag, script, confidence: round(share * saturation(first.mass)), scores };
}
