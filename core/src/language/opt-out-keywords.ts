/**
 * Campaign opt-out / opt-in keywords in English, French, Darija (both scripts) and Arabic.
 *
 * Rule (precise on purpose): a message is an opt-out only when it is made *entirely* of opt-out
 * commands ("stop", "baraka", "ma bghitch", "توقف", "unsubscribe", …), their objects ("les
 * messages", "had les messages", "الرسائل", "from your list") and politeness or greeting words
 * ("svp", "please", "3afak", "salam", "merci"), with at least one command and at most
 * MAX_TOKENS words. Any other word makes it an ordinary message for the agent or a human:
 * "the bus stop near your shop?" and "baraka allahou fik" (thank you) are not opt-outs.
 * Extra words given by the tenant count as commands and follow the same rule.
 *
 * Words are compared after the shared normalization (accents, Arabic letter variants and
 * diacritics, Arabizi digits, repeated letters), so "STOP!!", "Arrêtez", "arretez" and
 * "بركاا" all match.
 */
import { canonicalPhrase, canonicalTokens, segmentPhrases } from './text-normalize.js';

export interface KeywordMatch {
  /** The canonical command phrase that matched, or null. */
  matched: string | null;
}
export interface OptOutResult extends KeywordMatch {
  optOut: boolean;
}
export interface OptInResult extends KeywordMatch {
  optIn: boolean;
}

/** Longer messages are conversations, not keywords. */
export const MAX_TOKENS = 12;

const OPT_OUT_COMMANDS = [
  // English
  'stop', 'stopp', 'unsubscribe', 'unsub', 'opt out', 'optout', 'opt-out', 'stop all', 'stop sending', 'stop sending me',
  'stop messaging me', 'stop texting me', 'stop spamming me', "don't message me", 'do not message me', "don't text me",
  'do not text me', "don't send me", 'do not send me', 'remove me', 'no more messages', 'no more', 'end', 'quit',
  // French
  'arret', 'arrete', 'arreter', 'arretez', 'arretez de m envoyer', "arretez de m'envoyer", "arrete de m'envoyer",
  "arretez d'envoyer", "arreter d'envoyer", 'desabonner', 'me desabonner', 'desabonnez moi', 'desabonnez-moi', 'desabonnement',
  'je me desabonne', 'desinscrire', 'me desinscrire', 'desinscrivez moi', 'desinscrivez-moi', 'desinscription',
  "ne m'envoyez plus", "n'envoyez plus", 'plus de messages', 'je ne veux plus', 'je veux plus', 'je ne veux plus recevoir',
  'je veux plus recevoir', 'stop pub', 'stop publicite',
  // Darija, Latin letters
  'baraka', 'barka', 'barakat', 'ma bghitch', 'mabghitch', 'ma tsiftouch', 'ma tsifto', 'matsiftouch',
  'ma tsiftoch', 'matsiftoch', 'ma tsifto liya walo', 'ma tb9awch tsifto', 'ma tb9awch tsiftou', 'hbsso', '7bso',
  '7bsso', '7bes', 'w9ef', 'wqef', 'hbes',
  // Darija / Arabic, Arabic letters
  'توقف', 'توقفوا', 'توقفو', 'وقف', 'وقفو', 'حبس', 'حبسو', 'بركا', 'باركا', 'براكا', 'ما بغيتش', 'مابغيتش', 'ما تصيفطوش',
  'ماتصيفطوش', 'ما تبقاوش تصيفطو', 'الغاء الاشتراك', 'الغي الاشتراك', 'الغاء', 'الغاء اشتراكي', 'لا اريد', 'لا ارغب',
  'لا اريد استقبال', 'لا ترسلوا', 'لا ترسل', 'اوقف', 'اوقفوا',
];

/** Objects of the command and other words that may come with it. */
const OPT_OUT_OBJECTS = [
  'messages', 'message', 'les messages', 'vos messages', 'ces messages', 'des messages', 'tous les messages', 'de messages', 'sms',
  'les sms', 'pub', 'pubs', 'la pub', 'publicite', 'les pubs', 'newsletter', 'la newsletter', 'recevoir', 'recevoir vos messages',
  'de recevoir', 'envoyer', "m'envoyer", 'plus', 'jamais', 'svp plus', 'these messages', 'your messages', 'the messages', 'texts',
  'from your list', 'from the list', 'from this list', 'list', 'me', 'all', 'now', 'had les messages', 'men les messages',
  'mn les messages', 'min les messages', 'had lmessages', 'lmessages', 'lmessagat', 'had lmessagat', 'messagat', 'had lpub',
  'liya', 'lia', 'liya walo', 'walo', 'had chi', 'hadchi', 'الرسائل', 'هذه الرسائل', 'هاد الرسائل', 'من الرسائل', 'الميساجات',
  'هاد الميساجات', 'الميساجات ديالكم', 'ليا', 'والو', 'هادشي', 'من فضلك', 'الرسايل', 'هاد الرسايل', 'الاشهارات', 'الاشهار',
  'رسائلكم', 'استقبال الرسائل', 'من هاد الشي',
];

/** Greetings and politeness that do not change the meaning. */
const POLITENESS = [
  'please', 'pls', 'plz', 'thanks', 'thank you', 'ok', 'okay', 'hi', 'hello', 'svp', 'stp', "s'il vous plait", "s'il te plait", 'merci',
  'bonjour', 'bonsoir', 'salut', 'salam', 'slm', 'salam alikom', 'safi', 'khlas', 'daba', 'lah ykhlik', '3afak', 'afak', 'chokran',
  'merci bzaf', 'صافي', 'خلاص', 'عافاك', 'الله يخليك', 'من فضلك', 'لو سمحت', 'شكرا', 'السلام عليكم', 'سلام', 'دابا', 'now please',
];

const OPT_IN_COMMANDS = [
  'start', 'unstop', 'subscribe', 'resubscribe', 'opt in', 'optin', 'opt-in', 'start again', 'abonner', "m'abonner", 'me reabonner',
  'reabonner', "je veux m'abonner", 'je me reabonne', 'reprendre', 'demarrer', 'bghit nrje3', 'bghit nrj3', 'bghit nrja3',
  'bghit nrje3 lmessages', 'rj3ni', 'rje3ni', 'rja3ni', 'bghit nchterek', 'ابدا', 'ابدأ', 'بدا', 'اشتراك', 'اشترك', 'بغيت نرجع',
  'رجعوني', 'رجعني', 'بغيت نشترك',
];
const OPT_IN_OBJECTS = [
  'again', 'messages', 'les messages', 'vos messages', 'lmessages', 'had lmessages', 'الرسائل', 'الميساجات', 'me', 'de nouveau',
  'a nouveau', 'mn jdid', 'من جديد', 'عاود', '3awd',
];

type Category = 'command' | 'object' | 'politeness';

function buildInventory(commands: readonly string[], objects: readonly string[], extra: readonly string[] = []): Map<string, Category> {
  const inventory = new Map<string, Category>();
  for (const p of POLITENESS) inventory.set(canonicalPhrase(p), 'politeness');
  for (const p of objects) inventory.set(canonicalPhrase(p), 'object');
  // Commands last: a phrase that is both ("me", "daba") counts as the stronger category.
  for (const p of [...commands, ...extra]) {
    const key = canonicalPhrase(p);
    if (key) inventory.set(key, 'command');
  }
  return inventory;
}

const OPT_OUT_INVENTORY = buildInventory(OPT_OUT_COMMANDS, OPT_OUT_OBJECTS);
const OPT_IN_INVENTORY = buildInventory(OPT_IN_COMMANDS, OPT_IN_OBJECTS);

function matchTokens(tokens: readonly string[], inventory: ReadonlyMap<string, Category>): string | null {
  if (tokens.length === 0 || tokens.length > MAX_TOKENS) return null;
  const segments = segmentPhrases(tokens, inventory);
  return segments?.find((s) => s.category === 'command')?.phrase ?? null;
}

/** Inventories with a tenant's own words, built once per word list (every message of the tenant uses it). */
const withExtraWords = new Map<string, ReadonlyMap<string, Category>>();
function optOutInventory(extraWords: readonly string[]): ReadonlyMap<string, Category> {
  if (extraWords.length === 0) return OPT_OUT_INVENTORY;
  const key = extraWords.join('\u0001');
  let inventory = withExtraWords.get(key);
  if (!inventory) {
    if (withExtraWords.size >= 256) withExtraWords.clear();
    inventory = buildInventory(OPT_OUT_COMMANDS, OPT_OUT_OBJECTS, extraWords);
    withExtraWords.set(key, inventory);
  }
  return inventory;
}

/**
 * Is this message a request to stop campaign messages? `extraWords` (the tenant's own keywords,
 * any language, any case) count as commands. Pure and deterministic.
 */
export function isOptOut(text: string, extraWords: readonly string[] = []): OptOutResult {
  const matched = matchTokens(canonicalTokens(text), optOutInventory(extraWords));
  return { optOut: matched !== null, matched };
}

/**
 * Is this message a request to receive campaign messages again (START, "bghit nrje3", "ابدأ")?
 * Same whole-message rule as isOptOut. "bghit nrje3" also means "I want to come back/return":
 * consult this only for contacts who are currently opted out.
 */
export function isOptIn(text: string): OptInResult {
  const matched = matchTokens(canonicalTokens(text), OPT_IN_INVENTORY);
  return { optIn: matched !== null, matched };
}

/**
 * `isOptOut` and `isOptIn` of one message with one normalization (every live customer message is
 * checked: the inbox and the agent ask both questions).
 */
export function keywordIntent(text: string, extraWords: readonly string[] = []): { optOut: OptOutResult; optIn: OptInResult } {
  const tokens = canonicalTokens(text);
  const out = matchTokens(tokens, optOutInventory(extraWords));
  const back = matchTokens(tokens, OPT_IN_INVENTORY);
  return { optOut: { optOut: out !== null, matched: out }, optIn: { optIn: back !== null, matched: back } };
}
