/**
 * Makes a parsed webhook body storable before anything reads it. PostgreSQL cannot store U+0000 in
 * text or jsonb, nor a lone UTF-16 surrogate in jsonb, and recursion on absurdly nested JSON fails
 * deep in the stack: a signed delivery carrying any of these would otherwise be acknowledged and then
 * fail for ever, taking the valid messages beside it down too. The original bytes stay in the inbox
 * (webhook_bodies.raw_body); only the working copy is cleaned.
 */

/** Deeper than any payload Meta sends (about ten levels); subtrees below are replaced. */
export const MAX_PAYLOAD_DEPTH = 64;

/** Marker left where a subtree was cut, so the stored payload shows why. */
export const TRUNCATED = '[coex: nesting deeper than 64 levels removed]';

const BAD_CHARS = /[\u0000]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

export interface SanitizeReport {
  /** Strings in which a NUL or a lone surrogate was replaced by U+FFFD. */
  strings: number;
  /** Subtrees cut for being nested too deep. */
  truncated: number;
}

export function cleanString(s: string): string {
  // Fast path: most strings have nothing to clean.
  BAD_CHARS.lastIndex = 0;
  return BAD_CHARS.test(s) ? s.replace(BAD_CHARS, '\uFFFD') : s;
}

/** Returns a cleaned copy of `value` (the input is not modified) and what was changed. */
export function sanitizePayload(value: unknown): { value: unknown; report: SanitizeReport } {
  const report: SanitizeReport = { strings: 0, truncated: 0 };
  const walk = (v: unknown, depth: number): unknown => {
    if (typeof v === 'string') {
      const c = cleanString(v);
      if (c !== v) report.strings += 1;
      return c;
    }
    if (v === null || typeof v !== 'object') return v;
    if (depth >= MAX_PAYLOAD_DEPTH) {
      report.truncated += 1;
      return TRUNCATED;
    }
    if (Array.isArray(v)) return v.map((x) => walk(x, depth + 1));
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) {
      const key = cleanString(k);
      if (key !== k) report.strings += 1;
      out[key] = walk(x, depth + 1);
    }
    return out;
  };
  return { value: walk(value, 0), report };
}

/**
 * Escapes in JSON text that can decode to what sanitizePayload replaces (U+0000, a surrogate half).
 * A false alarm (an escaped backslash before "u0000") only costs the full walk.
 */
const SUSPICIOUS_ESCAPE = /\\u(?:0000|[dD][89a-fA-F])/;

/** Is every container of `v` less than `limit` levels deep? Reads, never copies. */
function shallowerThan(v: unknown, limit: number): boolean {
  if (v === null || typeof v !== 'object') return true;
  if (limit <= 0) return false;
  if (Array.isArray(v)) {
    for (const x of v) if (!shallowerThan(x, limit - 1)) return false;
    return true;
  }
  for (const k in v) if (!shallowerThan((v as Record<string, unknown>)[k], limit - 1)) return false;
  return true;
}

/**
 * `sanitizePayload` for a body just parsed from `rawText`, without its copy when there is nothing to
 * clean: strings decoded from valid UTF-8 text hold a NUL or a lone surrogate only through a `\u`
 * escape, so a text without such escapes and a tree shallower than MAX_PAYLOAD_DEPTH are returned as
 * they are (the copy was most of the worker's parsing time).
 */
export function sanitizeParsed(rawText: string, parsed: unknown): unknown {
  if (!SUSPICIOUS_ESCAPE.test(rawText) && shallowerThan(parsed, MAX_PAYLOAD_DEPTH)) return parsed;
  return sanitizePayload(parsed).value;
}
