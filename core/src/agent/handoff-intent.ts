/**
 * Does the customer ask for a person? Darija (both scripts), French, MSA and English.
 *
 * Rule, chosen for few false positives:
 * - a *request* pattern anywhere in the message: a verb of speaking/connecting followed by a
 *   person ("bghit nhder m3a chi wa7ed", "je veux parler à un conseiller", "أريد التحدث مع موظف",
 *   "talk to a human"), "give me someone" ("3tini chi bnadem", "عطيني شي بنادم", "passez-moi
 *   quelqu'un"), "is there someone I can talk to" ("kayn chi 7ad nhder m3ah"), "real person",
 *   "not a robot", "call me back";
 * - or the whole message, once greetings and politeness words are removed, is a person word
 *   ("agent", "un humain svp", "human please", "بنادم", "موظف").
 * A person word inside an unrelated sentence ("wach had l produit humain?", "the delivery agent
 * was late") does not count.
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
  return new RegExp(` ${parts.join('')}`);
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
];
const DL_SOME = opt('chi', 'shi', 'ch');

// --- Darija, Arabic letters ------------------------------------------------------------------
const DA_SPEAK = ['نهضر', 'نهدر', 'نتكلم', 'نتواصل', 'نهضرو', 'نهدرو', 'نتكلمو', 'نتهضر'];
const DA_PERSON = [
  'واحد', 'حد', 'بنادم', 'انسان', 'مسؤول', 'المسؤول', 'موظف', 'شخص', 'المدير', 'مول المحل', 'مول الحانوت', 'المول', 'صاحب المحل',
  'بشري', 'العبد', 'عبد', 'واحد منكم', 'حد منكم', 'الخدام', 'خدام',
];

// --- MSA -------------------------------------------------------------------------------------
const MSA_SPEAK = ['التحدث', 'التكلم', 'الحديث', 'التواصل', 'الكلام', 'اتحدث', 'اتكلم', 'اتواصل', 'نتحدث', 'محادثة'];
const MSA_PERSON = [
  'موظف', 'شخص', 'انسان', 'احد', 'مسؤول', 'المسؤول', 'ممثل', 'بشري', 'بشر', 'مدير', 'المدير', 'الدعم', 'خدمة العملاء',
  'احد الموظفين', 'موظفي خدمة العملاء', 'شخص حقيقي', 'موظف حقيقي', 'احد المسؤولين',
];

// --- French ----------------------------------------------------------------------------------
const FR_SPEAK = [
  'parler', 'discuter', 'echanger', 'causer', 'etre mis en relation', 'etre mise en relation', 'mettre en relation',
  'mettez moi en relation', 'me mettre en relation', 'contacter', 'joindre', 'avoir',
];
const FR_PERSON = [
  'humain', 'humaine', 'personne', 'vraie personne', 'personne reelle', 'conseiller', 'conseillere', 'agent', 'responsable',
  'vendeur', 'vendeuse', 'operateur', 'operatrice', 'gerant', 'gerante', "quelqu'un", 'qqn', 'quelquun', 'service client',
  'patron', 'manager', 'directeur', 'employe', 'commercial', 'commerciale', 'vrai humain', 'etre humain', 'interlocuteur', 'quelqu un',
];
const FR_DET = opt('a', 'avec', 'au', 'aux', 'a un', 'a une', 'avec un', 'avec une', 'le', 'la', "l'", 'un', 'une', 'votre', 'vos', 'du', 'un vrai', 'une vraie', 'a un vrai', 'avec un vrai');

// --- English ---------------------------------------------------------------------------------
const EN_SPEAK = ['talk', 'speak', 'chat', 'connect', 'transfer', 'put', 'switch', 'escalate', 'pass', 'get', 'reach', 'forward'];
const EN_PERSON = [
  'human', 'person', 'agent', 'representative', 'rep', 'someone', 'somebody', 'manager', 'staff', 'operator', 'employee',
  'support', 'customer service', 'customer support', 'people', 'human being', 'salesperson', 'owner', 'live agent', 'real person',
];

const REQUEST_PATTERNS: readonly RegExp[] = [
  // Darija Latin
  sequence(DL_SPEAK, opt(...DL_WITH), DL_SOME, DL_PERSON),
  // "7ad" folds to "had" (also "this"): only after "m3a chi".
  sequence(DL_SPEAK, DL_WITH, ['chi', 'shi'], ['7ad', 'had']),
  sequence(['3tini', 'a3tini', '3tiwni', 'a3tiwni', 'jib liya', 'jibli', 'dwz liya', 'dewez liya', 'douz liya', 'wslni', 'wasalni'], opt('b'), DL_SOME, DL_PERSON),
  sequence(['kayn', 'kain', 'wach kayn', 'makaynch'], DL_SOME, ['7ad', 'had', 'wa7ed', 'wahed', 'wa7d', 'wahd', 'bnadem', 'insan'], opt('li', 'lli'), [...DL_SPEAK, 'yhder', 'yjawbni', 'yhder m3aya', 'nhder m3ah', 'nhder m3ah']),
  sequence(['bghit', 'bghina', 'bgheet', 'bghyt'], DL_SOME, ['bnadem', 'insan', 'bnadm', 'wa7ed mnkom', 'wahed mnkom', 'lmodir', 'lmas2oul', 'lmoul']),
  sequence(['machi', 'mashi', 'ma bghitch', 'mabghitch', 'ma bghitch nhder m3a'], opt('m3a', 'l'), ['robot', 'bot', 'machine', 'lrobot', 'lbot', 'lmachine']),
  sequence(['3ayto', '3ayet', '3ayt', '3ayeto', '3yto', '3ayti', 'tasl', 'tsl'], ['liya', 'lia', 'lya', 'bia', 'biya', 'ylia', 'lina', 'bina']),
  // Darija Arabic
  sequence(DA_SPEAK, opt('مع', 'م'), opt('شي'), DA_PERSON),
  sequence(['عطيني', 'عطيوني', 'جيب ليا', 'جيبلي', 'دوز ليا', 'دوزلي', 'وصلني', 'وصلوني'], opt('ب', 'مع'), opt('شي'), DA_PERSON),
  sequence(['كاين', 'واش كاين'], ['شي'], ['حد', 'واحد', 'بنادم', 'انسان'], opt('لي', 'اللي'), [...DA_SPEAK, 'يهضر', 'يجاوبني', 'يهضر معايا']),
  sequence(['بغيت', 'بغينا'], opt('شي'), ['بنادم', 'انسان', 'موظف', 'المسؤول', 'المدير', 'مول المحل']),
  sequence(['ماشي', 'مابغيتش', 'ما بغيتش'], opt('نهضر مع', 'مع'), ['روبو', 'الروبو', 'روبوت', 'الروبوت', 'الة', 'ماكينة', 'بوت']),
  sequence(['عيطو', 'عيط', 'عيطي', 'عيطوا'], ['ليا', 'لي', 'عليا']),
  // MSA
  sequence(MSA_SPEAK, ['مع', 'الى', 'ب'], opt('احد', 'اي'), MSA_PERSON),
  sequence(['حولني', 'حولوني', 'اوصلني', 'اوصلوني', 'صلني', 'وصلني', 'اوصلني', 'اتصلوا بي', 'اتصل بي'], opt('ب', 'الى', 'مع'), opt('احد', 'اي'), MSA_PERSON),
  sequence(['موظف', 'شخص', 'انسان', 'ممثل'], ['حقيقي', 'بشري']),
  sequence(['اتصلوا', 'اتصل'], ['بي']),
  // French
  sequence(FR_SPEAK, FR_DET, FR_PERSON),
  sequence(['passez', 'passe', 'passer', 'passez nous', 'transferez', 'transferer', 'transfere', 'mettez', 'orientez', 'redirigez', 'basculez'], opt('moi', 'me', 'nous', 'vers', 'a'), FR_DET, FR_PERSON),
  sequence(['vrai', 'vraie', 'un vrai', 'une vraie'], ['humain', 'personne', 'conseiller', 'agent']),
  sequence(['personne'], ['reelle', 'physique', 'humaine']),
  sequence(['pas', 'pas un', 'pas une', 'pas de'], opt('a', 'avec'), opt('un', 'une'), ['robot', 'bot', 'machine', 'repondeur', 'chatbot']),
  sequence(['appelez', 'rappelez', 'appeler', 'rappeler', 'contactez', 'recontactez', 'telephonez'], ['moi', 'nous']),
  sequence(["m'", "me"], ['appeler', 'rappeler', 'appelle', 'rappelle', 'recontacter', 'contacter']),
  // English
  sequence(EN_SPEAK, opt('me'), ['to', 'with', 'through to', 'through', 'me to', 'me with', 'me through to'], opt('a', 'an', 'the', 'some', 'your', 'one of your'), opt('real', 'live', 'actual', 'human'), EN_PERSON),
  sequence(['i want', 'i need', "i'd like", 'i would like', 'can i get', 'can i have', 'give me', 'get me', 'let me talk to', 'let me speak to', 'want', 'need'], opt('to', 'a', 'an'), opt('real', 'live', 'actual'), ['human', 'person', 'agent', 'representative', 'someone real', 'real human']),
  sequence(['real', 'live', 'actual'], ['person', 'human', 'agent', 'people', 'human being']),
  sequence(['not a', 'no', 'not talking to a', 'stop the'], ['bot', 'robot', 'chatbot']),
  sequence(['call', 'ring', 'phone'], ['me', 'me back', 'us']),
];

/** Words that may surround a bare person word ("un humain svp", "human please", "بنادم عافاك"). */
const FILLERS = new Set(
  [
    'salam', 'slm', 'salam alikom', 'bonjour', 'bonsoir', 'hi', 'hello', 'hey', 'svp', 'stp', "s'il vous plait", "s'il te plait", 'please',
    'pls', 'plz', 'now', 'daba', 'maintenant', 'vite', 'urgent', '3afak', 'afak', 'lah ykhlik', 'merci', 'thanks', 'thank you', 'je veux',
    'je voudrais', 'i want', 'i need', 'bghit', 'a', 'an', 'un', 'une', 'le', 'la', 'chi', 'شي', 'عافاك', 'الله يخليك', 'من فضلك',
    'لو سمحت', 'السلام عليكم', 'سلام', 'دابا', 'بغيت', 'اريد', 'الان', 'شكرا', 'ok', 'okay', 'wakha', 'yes', 'oui', 'ih', 'واخا',
  ]
    .map(canonicalPhrase),
);
const BARE_PERSON = new Set(
  [
    'agent', 'human', 'humain', 'person', 'operator', 'operateur', 'representative', 'conseiller', 'conseillere', 'customer service',
    'service client', 'real person', 'vraie personne', 'bnadem', 'insan', 'wa7ed mnkom', 'lmodir', 'lmas2oul', 'بنادم', 'انسان', 'موظف',
    'المسؤول', 'شخص حقيقي', 'خدمة العملاء', 'live agent', 'human agent', 'human being', 'etre humain', 'un humain', 'une personne',
    'quelqu\'un', 'someone', 'a human', 'an agent',
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
  for (const pattern of REQUEST_PATTERNS) {
    const m = pattern.exec(haystack);
    if (m) return { wants: true, matched: m[0].trim() };
  }
  const core = stripFillers(tokens).join(' ');
  if (BARE_PERSON.has(core)) return { wants: true, matched: core };
  return { wants: false, matched: null };
}
