import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { transform } from 'esbuild';
import { describe, expect, it } from 'vitest';
import { MESSAGES } from './src/strings.js';

/*
 * The HubSpot card and the WooCommerce timeline take every word they show from the catalogue
 * (src/strings.ts). This fails when a sentence or a capitalised word is written into their code
 * instead. How: esbuild turns each file into plain JavaScript (types gone, JSX text and props
 * become ordinary string literals, comments dropped), a small tokenizer lists every string
 * literal and every static part of a template literal, and each one that reads like prose must be
 * on the list below, with the reason it is not for the catalogue.
 * Limits: a single lowercase word ('sent') does not read as prose here (too many identifiers look
 * the same: variants, keys, sizes); words built at run time from data are not seen.
 */

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CARD = 'hubspot-app/src/app/cards';

/** The UI code whose words must come from the catalogue (tests and the vendored copy left out). */
export function sourcesToCheck(): string[] {
  const lib = readdirSync(join(ROOT, CARD, 'lib'))
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))
    .map((f) => `${CARD}/lib/${f}`);
  return [`${CARD}/CoexCard.tsx`, `${CARD}/CoexThreadCard.tsx`, ...lib, 'woocommerce-plugin/assets/js/coex-timeline.js'];
}

/** Literals that read like prose but are not words for the person using the CRM, and why. */
const NOT_FOR_THE_CATALOGUE = new Map<string, string>([
  // Product names: the same in every language.
  ['HubSpot', 'product name'],
  ['WooCommerce', 'product name'],
  ['Odoo', 'product name'],
  ['Zoho CRM', 'product name'],
  ['CoexApiError', 'Error.name, for developers'],
  // The card's configuration errors, for whoever set up the app (shown under card_not_configured).
  ['CoEx server URL is not a valid URL: "', 'configuration error for the app developer'],
  ['CoEx server URL must use https (hubspot.fetch only calls HTTPS URLs): "', 'configuration error for the app developer'],
  ['CoEx server URL must not carry a query, fragment or credentials: "', 'configuration error for the app developer'],
  // Programming errors and the technical detail kept inside CoexApiError (describeError shows catalogue sentences instead).
  ['a phone number is required to look up a thread', 'programming error'],
  ['a phone number is required to look up campaigns', 'programming error'],
  ['a thread id is required', 'programming error'],
  ['the reply is empty', 'programming error'],
  ['request failed: ', 'technical detail of a network error'],
  ['response is not JSON', 'technical detail of a bad response'],
  ['expected an ISO timestamp', 'zod schema message'],
  ['not a WhatsApp phone number id: "', 'programming error'],
  ['the reply is ', 'programming error (the reply box stops at the limit)'],
  [' characters; WhatsApp allows ', 'programming error (the reply box stops at the limit)'],
  ['Content-Type', 'HTTP header name'],
]);

const REGEX_BEFORE = new Set(['', '(', ',', '=', ':', '[', '!', '&', '|', '?', '{', '}', ';', '+', '-', '*', '%', '<', '>', '~', '^', 'return', 'typeof', 'case', 'do', 'else', 'in', 'of', 'new', 'delete', 'void', 'throw', 'instanceof', 'yield', 'await']);

/**
 * Every string literal, and every static part of a template literal, of JavaScript as esbuild
 * writes it. Regex literals are told from division by the token before them, which is enough for
 * esbuild's regular output; a mistake makes tokens run together, which shows up as prose (a failure),
 * not as silence.
 */
export function stringLiterals(js: string): string[] {
  const out: string[] = [];
  /** One entry per `${` being read: how many `{` are open inside it. */
  const templates: number[] = [];
  let prev = '';
  let i = 0;
  const readTemplate = (): void => {
    // js[i] is just after a backtick or the `}` closing a `${`.
    let chunk = '';
    while (i < js.length) {
      const c = js[i]!;
      if (c === '\\') {
        chunk += js.slice(i, i + 2);
        i += 2;
      } else if (c === '`') {
        i += 1;
        out.push(chunk);
        prev = 'str';
        return;
      } else if (c === '$' && js[i + 1] === '{') {
        i += 2;
        out.push(chunk);
        templates.push(0);
        prev = '(';
        return;
      } else {
        chunk += c;
        i += 1;
      }
    }
    throw new Error('unterminated template literal');
  };
  while (i < js.length) {
    const c = js[i]!;
    if (/\s/.test(c)) {
      i += 1;
    } else if (c === '/' && js[i + 1] === '/') {
      i = js.indexOf('\n', i) === -1 ? js.length : js.indexOf('\n', i);
    } else if (c === '/' && js[i + 1] === '*') {
      i = js.indexOf('*/', i + 2) + 2;
    } else if (c === '"' || c === "'") {
      let j = i + 1;
      let value = '';
      while (js[j] !== c) {
        if (j >= js.length) throw new Error('unterminated string literal');
        value += js[j] === '\\' ? js.slice(j, j + 2) : js[j];
        j += js[j] === '\\' ? 2 : 1;
      }
      out.push(JSON.parse(`"${value.replace(/\\'/g, "'").replace(/"/g, '\\"')}"`) as string);
      i = j + 1;
      prev = 'str';
    } else if (c === '`') {
      i += 1;
      readTemplate();
    } else if (c === '/' && REGEX_BEFORE.has(prev)) {
      let j = i + 1;
      let inClass = false;
      while (j < js.length && (inClass || js[j] !== '/')) {
        if (js[j] === '\\') j += 1;
        else if (js[j] === '[') inClass = true;
        else if (js[j] === ']') inClass = false;
        j += 1;
      }
      i = j + 1;
      while (/[a-z]/.test(js[i] ?? '')) i += 1;
      prev = 'regex';
    } else if (/[\p{L}\p{N}_$]/u.test(c)) {
      const word = /^[\p{L}\p{N}_$]+/u.exec(js.slice(i))![0];
      i += word.length;
      prev = word;
    } else if (c === '{') {
      if (templates.length) templates[templates.length - 1]! += 1;
      i += 1;
      prev = '{';
    } else if (c === '}') {
      i += 1;
      if (templates.length && templates[templates.length - 1] === 0) {
        templates.pop();
        readTemplate();
      } else {
        if (templates.length) templates[templates.length - 1]! -= 1;
        prev = '}';
      }
    } else {
      i += 1;
      prev = c;
    }
  }
  return out;
}

const WORD = /^[\p{L}'’]{2,}[.,:;!?…]*$/u;

/**
 * Two words in a row (letters only: `coex-bot__state coex-bot__state--` is CSS classes, not
 * words), or a capitalised word: what a person would read.
 */
export function readsLikeProse(text: string): boolean {
  const t = text.trim();
  const tokens = t.split(/[\s\u00a0]+/);
  return tokens.some((w, k) => k > 0 && WORD.test(w) && WORD.test(tokens[k - 1]!)) || /^\p{Lu}\p{Ll}/u.test(t);
}

async function literalsOf(path: string): Promise<string[]> {
  const source = readFileSync(join(ROOT, path), 'utf8');
  const loader = path.endsWith('.tsx') ? 'tsx' : path.endsWith('.ts') ? 'ts' : 'js';
  const { code } = await transform(source, { loader, jsx: 'automatic', charset: 'utf8', legalComments: 'none', format: 'esm', target: 'esnext' });
  return stringLiterals(code);
}

describe('the HubSpot card and the WooCommerce timeline take their words from the catalogue', () => {
  it('finds string literals, JSX text and props, template parts, and reads past regex literals', async () => {
    const { code } = await transform(
      `const re = /["'\`]/g; const x = a / b / c; const el = <Alert title="Could not load" variant="error">No messages yet. {n}</Alert>;
       const s = \`Show \${count > 1 ? 'several' : "one"} earlier\`; f(/\\/+$/, 'after regex');`,
      { loader: 'tsx', jsx: 'automatic', charset: 'utf8' },
    );
    const found = stringLiterals(code);
    expect(found).toEqual(expect.arrayContaining(['Could not load', 'error', 'No messages yet. ', 'Show ', 'several', 'one', ' earlier', 'after regex']));
    expect(found.filter(readsLikeProse)).toEqual(expect.arrayContaining(['Could not load', 'No messages yet. ', 'Show ', 'after regex']));
    expect(['coex-bot-state', 'warning', 'sm', 'card_try_again', 'hs_whatsapp_phone_number', 'en-GB', ' · ', '{{', 'button button-primary', 'coex-reply coex-reply--text'].filter(readsLikeProse)).toEqual([]);
  });

  it('has no prose literal outside the catalogue in the card or the timeline', async () => {
    const offenders: string[] = [];
    const allowedSeen = new Set<string>();
    for (const path of sourcesToCheck()) {
      for (const text of await literalsOf(path)) {
        if (!readsLikeProse(text)) continue;
        if (NOT_FOR_THE_CATALOGUE.has(text)) allowedSeen.add(text);
        else offenders.push(`${path}: ${JSON.stringify(text)}`);
      }
    }
    expect(offenders).toEqual([]);
    // The list stays honest: an entry the code no longer has goes.
    expect([...NOT_FOR_THE_CATALOGUE.keys()].filter((text) => !allowedSeen.has(text))).toEqual([]);
  }, 60_000);

  it('names only keys the catalogue has', async () => {
    const en: Readonly<Record<string, string>> = MESSAGES.en;
    const missing: string[] = [];
    for (const path of sourcesToCheck()) {
      for (const text of await literalsOf(path)) {
        // card_cause_crm_${action} and similar prefixes are completed at run time.
        if (/^(card|wc)_\w*[a-z0-9]$/.test(text) && !Object.hasOwn(en, text) && !Object.hasOwn(en, `${text}_other`)) missing.push(`${path}: ${text}`);
      }
    }
    expect(missing).toEqual([]);
    for (const action of ['pause', 'resume', 'off']) expect(Object.hasOwn(en, `card_cause_crm_${action}`)).toBe(true);
  }, 60_000);
});
