import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { MAX_PAYLOAD_DEPTH, TRUNCATED, sanitizeParsed, sanitizePayload } from './sanitize.js';

/** `depth` nested objects, the innermost holding `leaf`. */
function nested(depth: number, leaf: unknown): unknown {
  let v: unknown = leaf;
  for (let i = 0; i < depth; i++) v = { k: v };
  return v;
}

const fixtures = fileURLToPath(new URL('../../../test/fixtures/meta-webhooks/', import.meta.url));

describe('sanitizeParsed (the worker’s fast path)', () => {
  it('returns a clean body as it is, without copying it', () => {
    const raw = JSON.stringify({ entry: [{ changes: [{ value: { messages: [{ text: { body: 'salam, ça va? مرحبا 😀' } }] } }] }] });
    const parsed: unknown = JSON.parse(raw);
    expect(sanitizeParsed(raw, parsed)).toBe(parsed);
  });

  it.each([
    ['a NUL', '{"a":"x\\u0000y","keep":"ok"}', { a: 'x\uFFFDy', keep: 'ok' }],
    ['a lone high surrogate', '{"b":"c\\ud800d","keep":"ok"}', { b: 'c\uFFFDd', keep: 'ok' }],
    ['a lone low surrogate, upper case', '{"c":"e\\uDC00f","keep":"ok"}', { c: 'e\uFFFDf', keep: 'ok' }],
    ['a lone surrogate in a key', '{"\\udbffk":"v"}', { '\uFFFDk': 'v' }],
  ])('cleans %s that arrives as an escape', (_what, raw, expected) => {
    expect(sanitizeParsed(raw, JSON.parse(raw))).toEqual(expected);
  });

  it('keeps a surrogate pair written as escapes (a suspicious escape only costs the full walk)', () => {
    const raw = '{"emoji":"\\ud83d\\ude00"}';
    expect(sanitizeParsed(raw, JSON.parse(raw))).toEqual({ emoji: '😀' });
  });

  it('cuts nesting at MAX_PAYLOAD_DEPTH and leaves a body one level shallower untouched', () => {
    const deep = nested(MAX_PAYLOAD_DEPTH + 1, 'leaf');
    const rawDeep = JSON.stringify(deep);
    expect(JSON.stringify(sanitizeParsed(rawDeep, JSON.parse(rawDeep)))).toContain(TRUNCATED);
    const shallow = nested(MAX_PAYLOAD_DEPTH, 'leaf');
    const rawShallow = JSON.stringify(shallow);
    const parsed: unknown = JSON.parse(rawShallow);
    expect(sanitizeParsed(rawShallow, parsed)).toBe(parsed);
    expect(sanitizePayload(parsed).report.truncated).toBe(0);
    // Arrays count as levels too.
    const arrays = '['.repeat(MAX_PAYLOAD_DEPTH + 1) + ']'.repeat(MAX_PAYLOAD_DEPTH + 1);
    expect(JSON.stringify(sanitizeParsed(arrays, JSON.parse(arrays)))).toContain(TRUNCATED);
  });

  it('gives exactly what sanitizePayload gives, on every recorded Meta webhook and on hostile variants', () => {
    const bodies = readdirSync(fixtures)
      .filter((f) => f.endsWith('.json'))
      .map((f) => readFileSync(fixtures + f, 'utf8'));
    expect(bodies.length).toBeGreaterThan(5);
    const hostile = bodies.flatMap((b) => [b.replace(/"body":"/g, '"body":"\\u0000'), b.replace(/"name":"/g, '"name":"\\udbff'), `{"x":${'['.repeat(200)}${']'.repeat(200)},"y":${b}}`]);
    for (const raw of [...bodies, ...hostile]) {
      const parsed: unknown = JSON.parse(raw);
      expect(sanitizeParsed(raw, parsed)).toEqual(sanitizePayload(JSON.parse(raw)).value);
    }
  });
});
