/**
 * Does the customer ask for a person? Darija (both scripts), French, MSA and English.
 *
 * Rule, chosen for few false positives:
 * - a *request* pattern anywhere in the message: a verb of speaking/connecting followed by a
 *   person ("bghit nhder m3a chi wa7ed", "je veux parler à un conseiller", "أريد التحدث مع موظف",
 *   "talk to a human"), "give me someone" ("3tini chi bnadem", "عطيني شي بنادم", "passez-moi
 *   quelqu'un"), "is there someone I can talk to" ("kayn chi 7ad nhder m3ah"), "real person",
 *   "not a robot";
 * - a *role or team* in place of the person ("bghit nhder m3a service client", "passez-moi le SAV",
 *   "أريد التحدث مع قسم المبيعات", "I need your sales team");
 * - a request to be *called back* ("3iyto lia", "عيطو ليا", "rappelez-moi", "اتصلوا بي", "call me
 *   back", "I'd like a callback");
 * - a *polite question* form ("wach momkin tkelmni chi wa7ed?", "واش ممكن تدوزني لشي حد؟", "is there
 *   someone I can speak with?", "هل يوجد موظف يمكنني التحدث معه؟");
 * - or the whole message, once greetings and politeness words are removed, is a person word
 *   ("agent", "un humain svp", "human please", "بنادم", "موظف").
 * A person word inside an unrelated sentence ("wach had l produit humain?", "the delivery agent
 * was late") does not count. Two look-alikes are told apart by their context (`unless` below):
 * - Darija and Arabic use one form for "call me!" and "he/they called me" ("3ayet lia", "عيط ليا",
 *   "اتصل بي"): with a subject before or after it ("l livreur 3ayet lia", "chkoun li 3ayet lia",
 *   "اتصل بي المندوب") or a past-time word ("lbare7", "أمس") it is a report, not a request;
 * - French "me rappeler / rappelez-moi" + a noun phrase is "remind me" ("pouvez-vous me rappeler le
 *   prix ?"), unless the noun is a time ("me rappeler la semaine prochaine").
 * Measured on test/fixtures/handoff/ (held-out precision/recall in its README).
 *
 * Matching happens on canonical tokens (text-normalize.ts): accents and Arabic diacritics
 * removed, letter variants unified, Arabizi digits folded (m3a = ma3a → "ma"), doubled letters
 * squeezed, so spelling variants meet.
 */
import { canonicalPhrase, canonicalTokens, escapeRegExp } from './text-normalize.js';

export interface HandoffIntent {
  wants: boolean;
  /** The canonical phrase that matched (for logs and tests), or null. */
  matched: string | null;
}

type Slot = readonly string[] | { optional: readonly string[] } | { gap: number };

/** A request pattern, and the context (canonical tokens before and after the match) that voids it. */
interface RequestPattern {
  regex: RegExp;
  unless?: (before: readonly string[], after: readonly string[]) => boolean;
}

/** Compiles a sequence of slots (each a list of phrases in natural spelling) into a token regex. */
function sequence(...slots: Slot[]): RegExp {
  const parts = slots.map((slot) => {
    if ('gap' in slot) return `(?:\\S+ ){0,${slot.gap}}`;
    const optional = 'optional' in slot;
    const alts = (optional ? slot.optional : slot) as readonly string[];
    const alternation = [...new Set(alts.map(canonicalPhrase))]
      .filter((p) => p.length > 0)
      .sort((a, b) => b.length - a.length)
      .map(escapeRegExp)
      .join('|');
    return optional ? `(?:(?:${alternation}) )?` : `(?:${alternation}) `;
  });
  return new RegExp(` ${parts.join('')}`, 'g');
}
const opt = (...phrases: string[]): Slot => ({ optional: phrases });
const gap = (n: number): Slot => ({ gap: n });

// --- Darija, Latin letters -------------------------------------------------------------------
const DL_SPEAK = [
  'nhder', 'nhdr', 'nhdar', 'nehder', 'nahder', 'nhadar', 'nhadr', 'nhdro', 'nhadro', 'nhedro', 'ntkelem', 'ntkalem', 'ntkalm', 'ntkelm',
  'netkelem', 'ntkelmo', 'ntwasel', 'ntwasl', 'ntwaslo', 'nhder m3akom',
];
const DL_WITH = ['m3a', 'ma3a', 'mea', 'maa', 'm3'];
const DL_PERSON = [
  'wa7ed', 'wahed', 'wa7d', 'wahd', 'wahid', 'bnadem', 'bnadm', 'bnadam', 'insan', 'nsan', 'moul', 'mol', 'lmoul',
  'mas2oul', 'lmas2oul', 'masoul', 'lmasoul', 'mas2ol', 'lmodir', 'modir', 'lpatron', 'patron', 'responsable', 'lresponsable',
  'lvendeur', 'vendeur', 'conseiller', 'chi wa7ed mnkom', 'chi 7ad mnkom', 'chi wahed mnkom', 'lkhdama', 'chi khddam', 'l3bd', 'chi 3bd',
  // roles and teams in place of a person
  'service client', 'service clientele', 'service', 'sav', 'service apres vente', 'commercial', 'lcommercial', 'l commercial', 'equipe', "l'equipe",
  'lequipe', 'l equipe', 'direction', 'ladministration', 'administration', 'lgerant', 'gerant', 'manager', 'lmanager', 'conseillere',
];
const DL_SOME = opt('chi', 'shi', 'ch');
/** Darija "call (me)": imperative and past share one form, so these need the `unless` context check. */
const DL_CALL = ['3ayto', '3ayet', '3ayt', '3ayeto', '3yto', '3ayti', '3iyto', '3iyet', '3iyt', '3eyet', '3eyto', '3ito', '3iyti'];
/** Glued or prefixed forms ("3ayetli", "t3ayet lia", "y3ayet lia"): never a report about the past. */
const DL_CALL_GLUED = [
  '3ayetli', '3aytli', '3aytoli', '3iytoli', '3iyetli', '3ytoli', '3ayetlia', '3aytolia', '3iytolia', '3ayetliya', '3aytoliya',
  't3ayet', 't3ayto', 't3ayti', 't3iyet', 't3iyto', 't3ytoli', 't3aytoli', 't3ayetli', 't3iytoli', 'y3ayet', 'y3iyet', 'y3ayto', 'y3ayetli',
];
const DL_ME = ['liya', 'lia', 'lya', 'li', 'lina', 'bia', 'biya', 'bya', 'ylia', 'bina', '3liya', '3lia', '3lya', '3lina'];
const DL_CONTACT = ['tasl', 'tsl', 'tslo', 'tsslo', 'tasel', 'taslo', 'tasalo', 'tasolo', 'ttasel', 'ttasl', 'ttaslo', 'ytasel', 'ytasl', 'ytaslo', 'ttsl', 'tsalo'];

// --- Darija, Arabic letters ------------------------------------------------------------------
const DA_SPEAK = ['نهضر', 'نهدر', 'نتكلم', 'نتواصل', 'نهضرو', 'نهدرو', 'نتكلمو', 'نتهضر'];
const DA_PERSON = [
  'واحد', 'حد', 'بنادم', 'انسان', 'مسؤول', 'المسؤول', 'موظف', 'شخص', 'المدير', 'مول المحل', 'مول الحانوت', 'المول', 'صاحب المحل',
  'بشري', 'العبد', 'عبد', 'واحد منكم', 'حد منكم', 'الخدام', 'خدام',
  // roles and teams
  'خدمة الزبناء', 'خدمة الزبائن', 'خدمة العملاء', 'السربيس', 'السيرفيس', 'سربيس', 'السربيس كليان', 'الكوميرسيال', 'كوميرسيال', 'المبيعات',
  'الفريق', 'الادارة', 'الاداره', 'الديريكتور', 'الباطرون', 'المسير',
];
/** Arabic person words with the clitics a preposition glues to them ("لشي", "بالمسؤول", "لقسم"). */
function withArabicClitics(words: readonly string[]): string[] {
  const out = new Set<string>(words);
  for (const w of words) {
    const [first = '', ...rest] = w.split(' ');
    const tail = rest.length ? ` ${rest.join(' ')}` : '';
    if (first.startsWith('ال')) {
      out.add(`بال${first.slice(2)}${tail}`);
      out.add(`لل${first.slice(2)}${tail}`);
    } else {
      out.add(`ب${first}${tail}`);
      out.add(`ل${first}${tail}`);
    }
  }
  return [...out];
}
const DA_SOME = opt('شي', 'لشي', 'بشي');
const DA_CALL = ['عيطو', 'عيط', 'عيطي', 'عيطوا'];
const DA_CALL_GLUED = ['عيطولي', 'عيطلي', 'عيطيلي', 'يعيط', 'تعيط', 'تعيطو', 'تعيطي', 'يعيطو', 'تعيطوا'];
const DA_CONTACT = ['تاصلو', 'تاصل', 'تصل', 'تصلو', 'يتاصل', 'يتصل', 'تتاصلو', 'تتصلو', 'يتاصلو'];

// --- MSA -------------------------------------------------------------------------------------
const MSA_SPEAK = ['التحدث', 'التكلم', 'الحديث', 'التواصل', 'الكلام', 'اتحدث', 'اتكلم', 'اتواصل', 'نتحدث', 'محادثة', 'اتحدث اليه', 'اتكلم معه'];
/** Verbs that take the person directly, without a preposition ("أكلم المسؤول", "مكالمة المدير"). */
const MSA_SPEAK_DIRECT = ['اكلم', 'اكالم', 'نكلم', 'مكالمة', 'تكليم', 'محادثة'];
const MSA_CALL = ['اتصلوا', 'اتصل'];
const MSA_CALL_OTHER = ['الاتصال', 'يتصل', 'تتصل', 'تتصلوا', 'يتصلوا', 'تتصلون', 'اتصال', 'بالاتصال'];
const MSA_PERSON = [
  'موظف', 'شخص', 'انسان', 'احد', 'مسؤول', 'المسؤول', 'ممثل', 'بشري', 'بشر', 'مدير', 'المدير', 'الدعم', 'خدمة العملاء',
  'احد الموظفين', 'موظفي خدمة العملاء', 'شخص حقيقي', 'موظف حقيقي', 'احد المسؤولين',
  // roles and teams
  'قسم', 'فريق', 'الادارة', 'ادارة', 'المشرف', 'مشرف', 'الموظفين', 'موظفيكم', 'احد موظفيكم', 'مندوب', 'مندوب مبيعات', 'المبيعات', 'مختص',
];

// --- French ----------------------------------------------------------------------------------
const FR_SPEAK = [
  'parler', 'discuter', 'echanger', 'causer', 'etre mis en relation', 'etre mise en relation', 'mettre en relation',
  'mettez moi en relation', 'me mettre en relation', 'contacter', 'joindre', 'avoir', 'mettez moi en contact', 'mettre en contact',
  'me mettre en contact', 'etre mis en contact', 'etre mise en contact', 'entrer en contact',
];
const FR_PERSON = [
  'humain', 'humaine', 'personne', 'vraie personne', 'personne reelle', 'conseiller', 'conseillere', 'agent', 'responsable',
  'vendeur', 'vendeuse', 'operateur', 'operatrice', 'gerant', 'gerante', "quelqu'un", 'qqn', 'quelquun', 'service client',
  'patron', 'manager', 'directeur', 'employe', 'commercial', 'commerciale', 'vrai humain', 'etre humain', 'interlocuteur', 'quelqu un',
  // roles and teams
  'service', 'sav', 'equipe', 'direction', 'superviseur', 'superviseure', 'comptabilite', 'administration', 'departement', 'hotline',
  'standard', 'support', 'un de vos', 'une de vos', "l'un de vos", 'membre', 'collaborateur', 'technicien',
];
// Two slots so that "avec le", "à votre", "au" all pass.
const FR_DET = [opt('a', 'avec', 'au', 'aux', 'aupres de', 'aupres du', 'par'), opt('un', 'une', 'le', 'la', "l'", 'les', 'votre', 'vos', 'du', 'un vrai', 'une vraie')] as const;

// --- English ---------------------------------------------------------------------------------
const EN_SPEAK = ['talk', 'speak', 'chat', 'connect', 'transfer', 'put', 'switch', 'escalate', 'pass', 'get', 'reach', 'forward'];
const EN_PERSON = [
  'human', 'person', 'agent', 'representative', 'rep', 'someone', 'somebody', 'manager', 'staff', 'operator', 'employee',
  'support', 'customer service', 'customer support', 'people', 'human being', 'salesperson', 'owner', 'live agent', 'real person',
  'anyone', 'anybody',
];
/** Roles and teams named in place of a person ("your sales team", "billing", "a supervisor"). */
const EN_ROLE = [
  'sales', 'sales team', 'billing', 'supervisor', 'team', 'department', 'tech support', 'technical support', 'support team', 'customer care',
  'returns department', 'accounts', 'accounting', 'store manager', 'shop manager', 'person in charge', 'someone in charge', 'member of staff',
  'staff member', 'team member', 'one of your staff', 'help desk', 'helpdesk', 'service desk', 'boss', 'director', 'consultant', 'advisor',
  'adviser', 'specialist', 'technician', 'sales rep', 'sales representative', 'account manager',
];
const EN_DET = opt('a', 'an', 'the', 'some', 'your', 'one of your', 'someone from', 'someone in', 'somebody from', 'someone from your', 'someone in your', 'somebody from your');

/** Words after which "3ayet lia" / "عيط ليا" / "اتصل بي" reports a call instead of asking for one. */
const REPORT_BEFORE = new Set(
  ['li', 'lli', 'chkoun', 'chkon', 'ma', 'mli', 'melli', 'kan', 'kano', 'ila', 'hta', 'لي', 'لم', 'لن', 'اللي', 'شكون', 'ما', 'ملي', 'كان', 'حتى', 'لقد', 'قد', 'الذي', 'التي', 'من', 'who', 'he', 'she', 'they']
    .map(canonicalPhrase),
);
const PAST_TIME = new Set(['lbare7', 'lbar7', 'lbareh', 'lbarh', 'gbila', '9bila', 'البارح', 'البارحة', 'امس', 'قبيلة', 'قبل', 'yesterday'].map(canonicalPhrase));
const TIME_OR_POLITENESS = new Set(
  ['الصباح', 'العشية', 'الليل', 'الليلة', 'الان', 'الله', 'العصر', 'الظهر', 'الاسبوع', 'lah', 'lsbah', 'lila', 'liom', 'lyoum', 'l3chiya', 'lchiya']
    .map(canonicalPhrase),
);
const PERSON_SUBJECT = new Set(
  ['wahed', 'wa7ed', 'chi', 'livreur', 'lmodir', 'موظف', 'مندوب', 'المندوب', 'الموظف', 'واحد', 'شي', 'حد', 'الليفرور', 'ليفرور', 'someone']
    .map(canonicalPhrase),
);
/** A noun with its article glued ("lvendeur", "الليفرور") or standing alone ("l livreur"): a likely subject. */
function looksLikeSubject(token: string | undefined, next: string | undefined): boolean {
  if (token === undefined) return false;
  if (PERSON_SUBJECT.has(token)) return true;
  if (TIME_OR_POLITENESS.has(token)) return false;
  if (token === 'l' || token === "l'") return next !== undefined;
  if (/^ال\S{2,}/.test(token)) return true;
  return /^l[bcdfgjkmnpqrstvwxz]\S{2,}$/.test(token);
}
/** "3ayet lia l livreur", "chkoun li 3ayet lia", "اتصل بي المندوب أمس": a report about a call, not a request. */
function reportsACall(before: readonly string[], after: readonly string[]): boolean {
  const previous = before.at(-1);
  if (previous !== undefined && (REPORT_BEFORE.has(previous) || looksLikeSubject(previous, undefined))) return true;
  if (looksLikeSubject(after[0], after[1])) return true;
  return after.slice(0, 4).some((t) => PAST_TIME.has(t));
}
/**
 * The prefixed forms ("y3ayet lia", "يعيط ليا", "الاتصال بي") are not past tense: a subject next to
 * them asks that person to call ("chi wa7ed y3ayet lia"); only "chkoun li …" or a past-time word void them.
 */
function asksWhoCalled(before: readonly string[], after: readonly string[]): boolean {
  const previous = before.at(-1);
  if (previous !== undefined && REPORT_BEFORE.has(previous) && !PERSON_SUBJECT.has(previous)) return true;
  return after.slice(0, 4).some((t) => PAST_TIME.has(t));
}

const EN_PAST_QUESTION = new Set(['did', "didn't", 'didnt', 'nobody', 'never', 'why'].map(canonicalPhrase));
/** "did someone from your team call me?", "nobody called me back": about a call, not asking for one. */
function asksWhetherSomeoneCalled(before: readonly string[]): boolean {
  return before.some((t) => EN_PAST_QUESTION.has(t));
}

const FR_REMIND_OBJECT = new Set(
  ['le', 'la', "l'", 'les', 'votre', 'vos', 'mon', 'ma', 'mes', 'ton', 'ta', 'tes', 'son', 'sa', 'ses', 'ce', 'cet', 'cette', 'ces', 'combien', 'quand', 'comment', 'ou', 'si', 'que', "qu'", 'du', 'des', 'de', "d'", 'quel', 'quelle', 'quels', 'quelles', 'pourquoi']
    .map(canonicalPhrase),
);
const FR_TIME = new Set(
  ['plus', 'semaine', 'matin', 'soir', 'apres', 'apres midi', 'lundi', 'mardi', 'mercredi', 'jeudi', 'vendredi', 'samedi', 'dimanche', 'moment', 'week', 'weekend', 'journee', 'soiree', 'numero', 'telephone']
    .map(canonicalPhrase),
);
/** "me rappeler le prix", "rappelez-moi votre adresse": "remind me", not "call me back". */
function remindsOfSomething(_before: readonly string[], after: readonly string[]): boolean {
  const [first, second] = after;
  if (first === undefined || !FR_REMIND_OBJECT.has(first)) return false;
  // "me rappeler le 06 12 ..." or "la semaine prochaine": a call back after all.
  return !(second !== undefined && (FR_TIME.has(second) || /^\d/.test(second)));
}

const REQUEST_PATTERNS: readonly RequestPattern[] = [
  // Darija Latin
  { regex: sequence(DL_SPEAK, opt(...DL_WITH), DL_SOME, DL_PERSON) },
  // "7ad" folds to "had" (also "this"): only after "m3a chi".
  { regex: sequence(DL_SPEAK, DL_WITH, ['chi', 'shi'], ['7ad', 'had']) },
  {
    regex: sequence(
      ['3tini', 'a3tini', '3tiwni', 'a3tiwni', 't3tini', 't3tiwni', 'jib liya', 'jibli', 'dwz liya', 'dewez liya', 'douz liya', 'dowz liya', 'dwzni', 'dowzni', 'douzni',
        'tdwzni', 'tdowzni', 'tdouzni', 'dwzna', 'wslni', 'wasalni', 'waslni', 'wasslni', 'wsslni', 'wasloni', 'twasalni', 'twaslni', 'sift liya', 'siftli', 'sifto liya', 'siftoli', 'sifto lia'],
      opt('b', 'l', 'ela', '3la', 'm3a', 'ma3a'), DL_SOME, DL_PERSON,
    ),
  },
  { regex: sequence(['kayn', 'kain', 'wach kayn', 'makaynch'], DL_SOME, ['7ad', 'had', 'wa7ed', 'wahed', 'wa7d', 'wahd', 'bnadem', 'insan'], opt('li', 'lli'), [...DL_SPEAK, 'yhder', 'yjawbni', 'yhder m3aya', 'nhder m3ah', 'nhder m3ah']) },
  { regex: sequence(['kayn', 'kain', 'wach kayn'], DL_SOME, ['wa7ed', 'wahed', '7ad', 'had', 'chi wa7ed'], ['mn', 'men', 'f'], DL_PERSON) },
  { regex: sequence(['bghit', 'bghina', 'bgheet', 'bghyt'], DL_SOME, ['bnadem', 'insan', 'bnadm', 'wa7ed mnkom', 'wahed mnkom', 'lmodir', 'lmas2oul', 'lmoul', 'responsable', 'lresponsable', 'service client', 'sav', 'lpatron', 'lgerant']) },
  { regex: sequence(['machi', 'mashi', 'ma bghitch', 'mabghitch', 'ma bghitch nhder m3a'], opt('m3a', 'l'), ['robot', 'bot', 'machine', 'lrobot', 'lbot', 'lmachine']) },
  // "tkelmni" / "ykelmni": (you / someone) talk to me, call me.
  { regex: sequence(['tkelmni', 'tkalmni', 'tkalemni', 'tkelemni', 'ykelmni', 'ykalmni', 'ykalemni', 'tkelmoni', 'tkalmoni', 'thder m3aya', 'yhder m3aya', 'thdro m3aya', 'yhder m3ana', 'kalmouni', 'kalmoni', 'kelmouni', 'kelmoni', 'kalmni', 'kelmni']) },
  // "sonini" (French "sonner"), "dir lia appel": call me.
  { regex: sequence(['sonini', 'sonili', 'soniw lia', 'sonniw liya', 'sonouni', 'sonnouni']), unless: reportsACall },
  { regex: sequence(['dir', 'diri', 'diro', 'dirou', 'dirli', 'diroli'], opt(...DL_ME), opt('chi', 'wa7ed'), ['appel', 'apel', 'telephone', 'tilifoun', 'tilifon']) },
  { regex: sequence(DL_CALL, DL_ME), unless: reportsACall },
  { regex: sequence(DL_CALL_GLUED, opt(...DL_ME)), unless: asksWhoCalled },
  { regex: sequence(DL_CONTACT, ['bia', 'biya', 'bya', 'bina', 'bi']), unless: reportsACall },
  // Darija Arabic
  { regex: sequence(DA_SPEAK, opt('مع', 'م'), DA_SOME, withArabicClitics(DA_PERSON)) },
  {
    regex: sequence(['عطيني', 'عطيوني', 'تعطيني', 'تعطيوني', 'جيب ليا', 'جيبلي', 'دوز ليا', 'دوزلي', 'دوزني', 'تدوزني', 'دوزوني', 'وصلني', 'وصلوني', 'توصلني', 'صيفط ليا', 'صيفطو ليا', 'صيفطولي'],
      opt('ب', 'مع', 'ل', 'على'), DA_SOME, withArabicClitics(DA_PERSON)),
  },
  { regex: sequence(['كاين', 'واش كاين'], ['شي'], ['حد', 'واحد', 'بنادم', 'انسان'], opt('لي', 'اللي'), [...DA_SPEAK, 'يهضر', 'يجاوبني', 'يهضر معايا']) },
  { regex: sequence(['بغيت', 'بغينا'], opt('شي'), ['بنادم', 'انسان', 'موظف', 'المسؤول', 'المدير', 'مول المحل', 'مسؤول', 'السربيس', 'خدمة الزبناء', 'خدمة العملاء']) },
  { regex: sequence(['ماشي', 'مابغيتش', 'ما بغيتش'], opt('نهضر مع', 'مع'), ['روبو', 'الروبو', 'روبوت', 'الروبوت', 'الة', 'ماكينة', 'بوت']) },
  { regex: sequence(['تكلمني', 'يكلمني', 'تهضر معايا', 'يهضر معايا', 'تهدر معايا', 'يهدر معايا', 'تكلموني']) },
  { regex: sequence(DA_CALL, ['ليا', 'لي', 'عليا', 'لينا']), unless: reportsACall },
  { regex: sequence(DA_CALL_GLUED, opt('ليا', 'لي', 'عليا', 'لينا')), unless: asksWhoCalled },
  { regex: sequence(DA_CONTACT, ['بيا', 'بي', 'بينا', 'معايا']), unless: reportsACall },
  { regex: sequence(['دير', 'ديري', 'ديرو', 'ديرلي', 'ديرولي'], opt('ليا', 'لي', 'لينا'), opt('شي'), ['ابيل', 'تيليفون', 'اتصال']) },
  // MSA
  { regex: sequence(MSA_SPEAK, ['مع', 'الى', 'ب', 'اليه', 'معه'], opt('احد', 'اي'), MSA_PERSON) },
  { regex: sequence(MSA_SPEAK, withArabicClitics(MSA_PERSON)) },
  { regex: sequence(MSA_SPEAK_DIRECT, opt('احد', 'اي'), MSA_PERSON) },
  { regex: sequence(['حولني', 'حولوني', 'اوصلني', 'اوصلوني', 'صلني', 'وصلني', 'صلوني'], opt('ب', 'الى', 'مع'), opt('احد', 'اي'), withArabicClitics(MSA_PERSON)) },
  { regex: sequence(['يوجد', 'هناك', 'يمكن'], ['احد', 'موظف', 'شخص', 'مسؤول', 'من'], opt('يمكنني', 'استطيع', 'اقدر', 'يمكن'), opt('ان'), [...MSA_SPEAK, 'اكلمه', 'يساعدني', 'يكلمني', 'اتحدث', 'اكلم']) },
  { regex: sequence(['موظف', 'شخص', 'انسان', 'ممثل'], ['حقيقي', 'بشري']) },
  { regex: sequence(MSA_CALL, ['بي', 'بنا']), unless: reportsACall },
  { regex: sequence(MSA_CALL_OTHER, ['بي', 'بنا']), unless: asksWhoCalled },
  { regex: sequence(['تواصلوا', 'تواصل', 'يتواصل', 'التواصل', 'تتواصلوا', 'تتواصل', 'يتواصلوا', 'راسلوني', 'كلموني', 'كلمني'], opt('معي', 'معنا')) },
  // French
  { regex: sequence(FR_SPEAK, ...FR_DET, FR_PERSON) },
  {
    regex: sequence(['passez', 'passe', 'passer', 'passez nous', 'transferez', 'transferer', 'transfere', 'mettez', 'orientez', 'redirigez', 'basculez', 'orienter', 'rediriger'],
      opt('moi', 'me', 'nous', 'vers', 'a'), ...FR_DET, FR_PERSON),
  },
  { regex: sequence(['vrai', 'vraie', 'un vrai', 'une vraie'], ['humain', 'personne', 'conseiller', 'agent']) },
  { regex: sequence(['personne'], ['reelle', 'physique', 'humaine']) },
  { regex: sequence(['pas', 'pas un', 'pas une', 'pas de'], opt('a', 'avec'), opt('un', 'une'), ['robot', 'bot', 'machine', 'repondeur', 'chatbot']) },
  { regex: sequence(['appelez', 'rappelez', 'appeler', 'rappeler', 'contactez', 'recontactez', 'telephonez', 'appelle', 'rappelle'], ['moi', 'nous']), unless: remindsOfSomething },
  { regex: sequence(["m'", 'me', 'nous'], ['appeler', 'rappeler', 'appelle', 'rappelle', 'recontacter', 'contacter', 'appeliez', 'rappeliez', 'recontactiez', 'contactiez', 'appelle', 'telephoner']), unless: remindsOfSomething },
  { regex: sequence(['etre', 'soit', 'suis'], ['rappele', 'rappelee', 'recontacte', 'recontactee', 'contacte', 'contactee', 'appele', 'appelee', 'mis en relation', 'mise en relation', 'mis en contact', 'mise en contact']) },
  { regex: sequence(["quelqu'un", 'qqn', 'un conseiller', 'une conseillere', 'un humain', 'une personne', 'un responsable', 'un vendeur', 'un agent', "quelqu'un de chez vous"], opt('peut', 'pourrait', 'pourra', 'peut il', 'peut elle', 'pourrait il'), opt("m'", 'me', 'nous'), ['aider', 'appeler', 'rappeler', 'contacter', 'recontacter', 'repondre', 'telephoner'], ['au telephone', 'par telephone']) },
  { regex: sequence(['un rappel', 'rappel telephonique', 'appel telephonique', 'un appel'], opt('de', "d'", 'par'), opt('un', 'une', 'votre', 'vos', 'la', 'le', "l'"), FR_PERSON) },
  // English
  {
    regex: sequence(EN_SPEAK, opt('me', 'this', 'it'), ['to', 'with', 'through to', 'through', 'me to', 'me with', 'me through to'], EN_DET, opt('real', 'live', 'actual', 'human'),
      [...EN_PERSON, ...EN_ROLE]),
  },
  {
    regex: sequence(['i want', 'i need', "i'd like", 'i would like', 'can i get', 'can i have', 'give me', 'get me', 'let me talk to', 'let me speak to', 'want', 'need'],
      opt('to', 'a', 'an'), opt('real', 'live', 'actual'), ['human', 'person', 'agent', 'representative', 'someone real', 'real human']),
  },
  { regex: sequence(['i want', 'i need', "i'd like", 'i would like', 'give me', 'get me', 'can i get', 'can i have', 'put me on with'], EN_DET, EN_ROLE) },
  { regex: sequence(['real', 'live', 'actual'], ['person', 'human', 'agent', 'people', 'human being']) },
  { regex: sequence(['not a', 'no', 'not talking to a', 'stop the'], ['bot', 'robot', 'chatbot']) },
  { regex: sequence(['call', 'ring', 'phone'], ['me', 'me back', 'us']), unless: asksWhetherSomeoneCalled },
  { regex: sequence(['give me', 'give us'], ['a call', 'a ring', 'a buzz', 'a phone call']) },
  { regex: sequence(['a', 'request a', 'request', 'get a', 'have a'], ['callback', 'call back', 'call-back', 'phone call back']) },
  { regex: sequence(['someone', 'somebody', 'anyone', 'anybody', 'a person', 'an agent', 'a human', 'a manager'], ['on the phone', 'on the line']) },
  {
    regex: sequence(['is there', 'are there', 'is there not'], ['someone', 'somebody', 'anyone', 'anybody', 'a person', 'a human', 'an agent', 'a manager', 'someone real', 'a real person'],
      opt('i', 'who', 'that', 'we'), opt('can', 'could', 'may'), ['speak', 'talk', 'chat', 'help']),
  },
  { regex: sequence(['is anyone', 'is someone', 'is somebody', 'is anybody', 'anyone', 'someone'], ['available', 'free', 'around'], opt('to'), ['talk', 'speak', 'chat', 'help']) },
];

/** Words that may surround a bare person word ("un humain svp", "human please", "بنادم عافاك"). */
const FILLERS = new Set(
  [
    'salam', 'slm', 'salam alikom', 'bonjour', 'bonsoir', 'hi', 'hello', 'hey', 'svp', 'stp', "s'il vous plait", "s'il te plait", 'please',
    'pls', 'plz', 'now', 'daba', 'maintenant', 'vite', 'urgent', '3afak', 'afak', 'lah ykhlik', 'merci', 'thanks', 'thank you', 'je veux',
    'je voudrais', 'i want', 'i need', 'bghit', 'a', 'an', 'un', 'une', 'le', 'la', 'chi', 'شي', 'عافاك', 'الله يخليك', 'من فضلك',
    'لو سمحت', 'السلام عليكم', 'سلام', 'دابا', 'بغيت', 'اريد', 'الان', 'شكرا', 'ok', 'okay', 'wakha', 'yes', 'oui', 'ih', 'واخا',
    'the', 'your', 'votre', 'vos', 'les', "l'", 'give me', 'get me', 'عطيني', '3tini',
  ]
    .map(canonicalPhrase),
);
const BARE_PERSON = new Set(
  [
    'agent', 'human', 'humain', 'person', 'operator', 'operateur', 'representative', 'conseiller', 'conseillere', 'customer service',
    'service client', 'real person', 'vraie personne', 'bnadem', 'insan', 'wa7ed mnkom', 'lmodir', 'lmas2oul', 'بنادم', 'انسان', 'موظف',
    'المسؤول', 'شخص حقيقي', 'خدمة العملاء', 'live agent', 'human agent', 'human being', 'etre humain', 'un humain', 'une personne',
    'quelqu\'un', 'someone', 'a human', 'an agent',
    // roles and teams
    'responsable', 'manager', 'supervisor', 'sav', 'service apres vente', 'service commercial', 'sales', 'sales team', 'customer care',
    'support team', 'المدير', 'مدير', 'المسؤول', 'مسؤول', 'خدمة الزبناء', 'السربيس', 'lresponsable', 'gerant',
  ]
    .map(canonicalPhrase),
);

/** Removes leading/trailing filler phrases (up to 3 words long) from a token list. */
function stripFillers(tokens: string[]): string[] {
  let start = 0;
  let end = tokens.length;
  let changed = true;
  while (changed && start < end) {
    changed = false;
    for (let len = 3; len >= 1; len--) {
      if (start + len <= end && FILLERS.has(tokens.slice(start, start + len).join(' '))) {
        start += len;
        changed = true;
        break;
      }
      if (end - len >= start && FILLERS.has(tokens.slice(end - len, end).join(' '))) {
        end -= len;
        changed = true;
        break;
      }
    }
  }
  return tokens.slice(start, end);
}

/** True when the customer asks to talk to a person. Pure and deterministic. */
export function wantsHuman(text: string): HandoffIntent {
  const tokens = canonicalTokens(text);
  if (tokens.length === 0) return { wants: false, matched: null };
  const haystack = ` ${tokens.join(' ')} `;
  for (const { regex, unless } of REQUEST_PATTERNS) {
    regex.lastIndex = 0;
    for (let m = regex.exec(haystack); m !== null; m = regex.exec(haystack)) {
      const matched = m[0].trim();
      if (!unless) return { wants: true, matched };
      const before = haystack.slice(0, m.index).trim().split(' ').filter(Boolean);
      const after = haystack.slice(m.index + m[0].length).trim().split(' ').filter(Boolean);
      if (!unless(before, after)) return { wants: true, matched };
      // Matches may share their boundary space: look again from the next character.
      regex.lastIndex = m.index + 1;
    }
  }
  const core = stripFillers(tokens).join(' ');
  if (BARE_PERSON.has(core)) return { wants: true, matched: core };
  return { wants: false, matched: null };
}
