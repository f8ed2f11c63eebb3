/**
 * Accuracy of the deterministic language detector on hand-labelled WhatsApp messages.
 * - labelled.jsonl: the main set (≥ 220 lines), written before the detector; the lexicons were
 *   then improved while looking at its errors, so its score is optimistic.
 * - heldout.jsonl: written after the detector was tuned and never used for tuning: the honest
 *   estimate of accuracy on new messages.
 * Each prints overall and per-tag accuracy and a confusion summary; floors sit a little under
 * what was measured when this test was written (see test/fixtures/language/README.md).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { detectLanguage } from '../core/src/language/detect.js';

const tagSchema = z.enum(['darija_arabic', 'darija_latin', 'french', 'msa', 'english', 'mixed', 'unknown']);
const exampleSchema = z.strictObject({
  text: z.string(),
  tag: tagSchema,
  script: z.enum(['arabic', 'latin', 'mixed', 'none']),
});
type Example = z.infer<typeof exampleSchema>;
type Tag = z.infer<typeof tagSchema>;

interface Report {
  overall: number;
  script: number;
  perTag: Map<Tag, { total: number; correct: number }>;
}

function loadExamples(name: string): Example[] {
  const file = fileURLToPath(new URL(`./fixtures/language/${name}`, import.meta.url));
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.trim().length > 0)
    .map((line, i) => {
      const parsed = exampleSchema.safeParse(JSON.parse(line));
      if (!parsed.success) throw new Error(`${name} line ${i + 1}: ${parsed.error.message}`);
      return parsed.data;
    });
}

function evaluate(name: string, examples: Example[]): Report {
  const perTag = new Map<Tag, { total: number; correct: number }>();
  const confusion = new Map<string, number>();
  const misses: string[] = [];
  let correct = 0;
  let scriptCorrect = 0;
  for (const example of examples) {
    const result = detectLanguage(example.text);
    const bucket = perTag.get(example.tag) ?? { total: 0, correct: 0 };
    bucket.total++;
    if (result.tag === example.tag) {
      bucket.correct++;
      correct++;
    } else {
      const key = `${example.tag} → ${result.tag}`;
      confusion.set(key, (confusion.get(key) ?? 0) + 1);
      misses.push(`  [${example.tag} → ${result.tag}] ${example.text}`);
    }
    perTag.set(example.tag, bucket);
    if (result.script === example.script) scriptCorrect++;
  }
  const overall = correct / examples.length;
  const script = scriptCorrect / examples.length;
  console.log(
    [
      `${name}: language accuracy ${(overall * 100).toFixed(1)}% (${correct}/${examples.length}), script ${(script * 100).toFixed(1)}%`,
      ...[...perTag.entries()].map(([tag, b]) => `  ${tag.padEnd(14)} ${((b.correct / b.total) * 100).toFixed(1)}% (${b.correct}/${b.total})`),
      'confusions (expected → detected):',
      ...[...confusion.entries()].sort((a, b) => b[1] - a[1]).map(([k, n]) => `  ${k}: ${n}`),
      ...(misses.length > 0 ? ['misses:', ...misses] : []),
    ].join('\n'),
  );
  return { overall, script, perTag };
}

describe('language detection accuracy', () => {
  const labelled = loadExamples('labelled.jsonl');
  const heldout = loadExamples('heldout.jsonl');

  it('the labelled set has at least 220 examples spread over the six tags', () => {
    expect(labelled.length).toBeGreaterThanOrEqual(220);
    const counts = new Map<Tag, number>();
    for (const e of labelled) counts.set(e.tag, (counts.get(e.tag) ?? 0) + 1);
    for (const tag of ['darija_arabic', 'darija_latin', 'french', 'msa', 'english'] as const) {
      expect(counts.get(tag) ?? 0, tag).toBeGreaterThanOrEqual(35);
    }
    expect(counts.get('mixed') ?? 0).toBeGreaterThanOrEqual(20);
  });

  it('labelled.jsonl: ≥ 0.93 overall, ≥ 0.85 per tag, script always right', () => {
    const report = evaluate('labelled.jsonl', labelled);
    expect(report.overall).toBeGreaterThanOrEqual(0.93);
    for (const [tag, b] of report.perTag) expect(b.correct / b.total, `accuracy for ${tag}`).toBeGreaterThanOrEqual(0.85);
    expect(report.script).toBe(1);
  });

  it('heldout.jsonl (never used for tuning): ≥ 0.9 overall, ≥ 0.75 per tag, script always right', () => {
    const report = evaluate('heldout.jsonl', heldout);
    expect(report.overall).toBeGreaterThanOrEqual(0.9);
    for (const [tag, b] of report.perTag) expect(b.correct / b.total, `accuracy for ${tag}`).toBeGreaterThanOrEqual(0.75);
    expect(report.script).toBe(1);
  });
});
