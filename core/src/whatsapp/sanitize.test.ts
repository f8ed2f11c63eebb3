import { describe, expect, it } from 'vitest';
import { MAX_PAYLOAD_DEPTH, TRUNCATED, cleanString, sanitizePayload } from './sanitize.js';

/** `levels` nested objects `{ a: { a: … leaf } }`: the leaf sits at depth `levels`. */
function nest(levels: number, leaf: unknown): unknown {
  let v = leaf;
  for (let i = 0; i < levels; i += 1) v = { a: v };
  return v;
}

/** The value `levels` keys `a` down. */
function dig(v: unknown, levels: number): unknown {
  let x = v;
  for (let i = 0; i < levels; i += 1) x = (x as { a: unknown }).a;
  return x;
}

describe('cleanString', () => {
  it('replaces every NUL and every lone surrogate with U+FFFD, keeps pairs and plain text', () => {
    expect(cleanString('salam')).toBe('salam');
    expect(cleanString('')).toBe('');
    expect(cleanString('a\u0000b\u0000')).toBe('a\uFFFDb\uFFFD');
    expect(cleanString('ok 😀 \uD83D\uDE00')).toBe('ok 😀 \uD83D\uDE00');
    // A high surrogate not followed by a low one, at the end and in the middle.
    expect(cleanString('x\uD83D')).toBe('x\uFFFD');
    expect(cleanString('\uD800y')).toBe('\uFFFDy');
    expect(cleanString('\uDBFF\uDBFF\uDFFF')).toBe('\uFFFD\uDBFF\uDFFF');
    // A low surrogate not preceded by a high one, at the start and after text.
    expect(cleanString('\uDC00z')).toBe('\uFFFDz');
    expect(cleanString('z\uDFFF')).toBe('z\uFFFD');
    expect(cleanString('\uDE00\uDE00')).toBe('\uFFFD\uFFFD');
    // The ends of both ranges, and characters just outside them.
    expect(cleanString('\uD7FF\uE000\u0001')).toBe('\uD7FF\uE000\u0001');
    expect(cleanString('\uDBFF')).toBe('\uFFFD');
    expect(cleanString('\uDC00')).toBe('\uFFFD');
  });

  it('gives the same answer on repeated calls (the shared global regex keeps no state between them)', () => {
    for (let i = 0; i < 3; i += 1) {
      expect(cleanString('ab\u0000')).toBe('ab\uFFFD');
      expect(cleanString('\u0000')).toBe('\uFFFD');
      expect(cleanString('clean')).toBe('clean');
    }
  });
});

describe('sanitizePayload', () => {
  it('returns a cleaned copy, counts every changed string and key, and leaves the input alone', () => {
    const input = { ['k\u0000']: ['v\uD800', 'fine', 7, true, null], ok: { n: 1.5, s: 'x\u0000', f: false }, s: 'plain' };
    const snapshot = structuredClone(input);
    const { value, report } = sanitizePayload(input);
    expect(value).toEqual({ ['k\uFFFD']: ['v\uFFFD', 'fine', 7, true, null], ok: { n: 1.5, s: 'x\uFFFD', f: false }, s: 'plain' });
    expect(report).toEqual({ strings: 3, truncated: 0 });
    expect(input).toEqual(snapshot);
    expect(value).not.toBe(input);
  });

  it('passes scalars through and reports nothing for a clean payload', () => {
    for (const v of ['s', 0, 12, true, false, null, undefined]) expect(sanitizePayload(v)).toEqual({ value: v, report: { strings: 0, truncated: 0 } });
    expect(sanitizePayload('\u0000')).toEqual({ value: '\uFFFD', report: { strings: 1, truncated: 0 } });
    expect(sanitizePayload({ a: [1, { b: 'c' }] })).toEqual({ value: { a: [1, { b: 'c' }] }, report: { strings: 0, truncated: 0 } });
  });

  it(`keeps ${MAX_PAYLOAD_DEPTH} levels of objects and replaces any deeper one with a marker`, () => {
    expect(MAX_PAYLOAD_DEPTH).toBe(64);
    expect(TRUNCATED).toBe('[coex: nesting deeper than 64 levels removed]');
    // Objects at depths 0…63 and a scalar leaf at 64: nothing cut (scalars are never cut, null included).
    for (const leaf of ['leaf', 5, null]) {
      const kept = sanitizePayload(nest(MAX_PAYLOAD_DEPTH, leaf));
      expect(kept.report).toEqual({ strings: 0, truncated: 0 });
      expect(dig(kept.value, MAX_PAYLOAD_DEPTH)).toBe(leaf);
    }
    // One level more: the object at depth 64 becomes the marker.
    const cut = sanitizePayload(nest(MAX_PAYLOAD_DEPTH + 1, 'leaf'));
    expect(cut.report).toEqual({ strings: 0, truncated: 1 });
    expect(dig(cut.value, MAX_PAYLOAD_DEPTH)).toBe(TRUNCATED);
    expect(dig(cut.value, MAX_PAYLOAD_DEPTH - 1)).toEqual({ a: TRUNCATED });
  });

  it('counts arrays as levels too, and each cut subtree once', () => {
    let v: unknown = ['leaf'];
    for (let i = 1; i < MAX_PAYLOAD_DEPTH; i += 1) v = [v];
    // 64 arrays (depths 0…63) and the string at 64: kept.
    expect(sanitizePayload(v).report.truncated).toBe(0);
    const deeper = sanitizePayload([v, v, 'x']);
    expect(deeper.report).toEqual({ strings: 0, truncated: 2 });
    let inner = (deeper.value as unknown[])[0];
    for (let i = 1; i < MAX_PAYLOAD_DEPTH; i += 1) inner = (inner as unknown[])[0];
    expect(inner).toBe(TRUNCATED);
    expect((deeper.value as unknown[])[2]).toBe('x');
  });
});
