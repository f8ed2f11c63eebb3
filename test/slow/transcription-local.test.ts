// End to end, offline: committed OGG/Opus voice notes → our decoder → whisper.cpp (smart-whisper)
// with a model the repo generates (real tiny dimensions, random weights) → TranscriptionResult.
// A random-weight model's text is junk: we assert shape, plumbing and durations, and print the WER
// so nobody mistakes it for accuracy. If WHISPER_MODEL_PATH points at a real ggml model, the last
// test also holds it to a loose WER ceiling on the English and French fixtures.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { decodeVoiceNote } from '../../core/src/transcription/decode.js';
import { LocalWhisperTranscriber, inspectWhisperModel, smartWhisperEngine } from '../../core/src/transcription/local-whisper.js';
import { TranscriptionError } from '../../core/src/transcription/transcriber.js';
import type { TranscriptionInput, TranscriptionResult } from '../../core/src/transcription/transcriber.js';
import { characterErrorRate, wordErrorRate } from '../../core/src/transcription/wer.js';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const audioDir = join(repo, 'test/fixtures/audio');
const randomModel = join(repo, 'test/.models/ggml-tiny-random.bin');
const realModel = process.env.WHISPER_MODEL_PATH && existsSync(process.env.WHISPER_MODEL_PATH) ? process.env.WHISPER_MODEL_PATH : null;

const Manifest = z.object({
  files: z.array(z.object({ file: z.string(), language: z.string(), text: z.string(), durationSeconds: z.number(), codec: z.string().optional() })),
});
const manifest = Manifest.parse(JSON.parse(readFileSync(join(audioDir, 'manifest.json'), 'utf8')));
const entry = (file: string) => {
  const e = manifest.files.find((f) => f.file === file);
  if (!e) throw new Error(`fixture ${file} missing from manifest.json`);
  return e;
};
const note = (file: string, translateTo: TranscriptionInput['translateTo'] = null): TranscriptionInput => ({
  audio: readFileSync(join(audioDir, file)),
  mimeType: 'audio/ogg; codecs=opus',
  darijaScript: 'arabic',
  translateTo,
});

function report(label: string, file: string, r: TranscriptionResult): void {
  const ref = entry(file).text;
  const wer = wordErrorRate(ref, r.text);
  const cer = characterErrorRate(ref, r.text);
  console.log(
    `[${label}] ${file}: ${r.durationSeconds}s, language=${r.language}, WER=${wer.wer.toFixed(2)} CER=${cer.cer.toFixed(2)} ` +
      `(S${wer.substitutions} D${wer.deletions} I${wer.insertions} of ${wer.referenceLength} words) text="${r.text.slice(0, 80)}"`,
  );
}

let whisperAr: LocalWhisperTranscriber;
let whisperAuto: LocalWhisperTranscriber;

beforeAll(() => {
  execFileSync(process.execPath, [join(repo, 'scripts/make-test-whisper-model.mjs'), '--out', randomModel]);
  // Junk output always looks degenerate, so whisper's temperature fallback would re-decode every
  // window up to 5 more times: off here to keep the suite quick (the benchmark measures both).
  whisperAr = new LocalWhisperTranscriber({ modelPath: randomModel, language: 'ar', threads: 2, temperatureFallback: false });
  whisperAuto = new LocalWhisperTranscriber({ modelPath: randomModel, language: 'auto', threads: 2, temperatureFallback: false });
});

afterAll(async () => {
  await whisperAr?.close();
  await whisperAuto?.close();
});

describe('local whisper, end to end on real voice-note fixtures (random-weight tiny model)', () => {
  it('the generated model is a valid tiny whisper.cpp file', async () => {
    const info = await inspectWhisperModel(randomModel);
    expect(info).toMatchObject({ kind: 'tiny', nAudioState: 384, nAudioLayer: 4, multilingual: true });
  });

  it('Darija note with an Arabic hint → result with the right shape, duration and provider; English translation pass', async () => {
    const file = 'darija-order-status.ogg';
    const r = await whisperAr.transcribe(note(file, 'en'));
    expect(r.provider).toBe('local-whisper');
    expect(r.model).toBe('ggml-tiny-random.bin');
    expect(r.durationSeconds).toBeCloseTo(entry(file).durationSeconds, 1);
    expect(r.language).toBe('ar'); // the hint is honoured: no detection pass
    expect(typeof r.text).toBe('string');
    expect(r.text).toBe(r.text.trim());
    expect(r.translation === null || typeof r.translation === 'string').toBe(true);
    report('random tiny, ar', file, r);
    expect(whisperAr.modelLoads).toBe(1);
  }, 180_000);

  it('code-switched Darija/French with language auto-detection; the model is reused, not reloaded', async () => {
    const file = 'darija-french-codeswitch.ogg';
    const r = await whisperAuto.transcribe(note(file));
    expect(r.durationSeconds).toBeCloseTo(entry(file).durationSeconds, 1);
    // Random weights detect a random language; a real code is still a short lowercase code.
    expect(r.language).toMatch(/^[a-z]{2,3}$/);
    expect(r.translation).toBeNull();
    report('random tiny, auto', file, r);
    const again = await whisperAuto.transcribe(note('french-delivery.ogg'));
    expect(again.durationSeconds).toBeCloseTo(entry('french-delivery.ogg').durationSeconds, 1);
    expect(whisperAuto.modelLoads).toBe(1);
  }, 180_000);

  it('inference runs off the event loop: a 20 ms timer fires before whisper.cpp answers', async () => {
    const { pcm16k } = await decodeVoiceNote(readFileSync(join(audioDir, 'english-tracking.ogg')), { maxSeconds: 60 });
    const model = await smartWhisperEngine.load(randomModel);
    try {
      const order: string[] = [];
      const job = model
        .transcribe(pcm16k, { language: 'en', translate: false, threads: 2, beamSize: 1, noTimestamps: true, maxTokens: 0, temperatureFallback: false })
        .then((segments) => {
          order.push('transcript');
          return segments;
        });
      await new Promise((r) => setTimeout(r, 20));
      order.push('timer');
      const segments = await job;
      expect(order).toEqual(['timer', 'transcript']);
      expect(Array.isArray(segments)).toBe(true);
      for (const s of segments) expect(s).toMatchObject({ text: expect.any(String) as unknown as string, from: expect.any(Number) as unknown as number });
    } finally {
      await model.free();
    }
  }, 180_000);

  it('bad audio and a broken model fail with clear codes and leave the process alive', async () => {
    const broken = await whisperAr.transcribe({ ...note('darija-order-status.ogg'), audio: readFileSync(join(audioDir, 'not-opus-vorbis.ogg')) }).catch((e: unknown) => e);
    expect(broken).toBeInstanceOf(TranscriptionError);
    expect(broken).toMatchObject({ code: 'decode_failed', retryable: false });

    const truncatedModel = join(repo, 'test/.models/truncated-for-test.bin');
    writeFileSync(truncatedModel, readFileSync(randomModel).subarray(0, 10_000_000));
    try {
      const t = new LocalWhisperTranscriber({ modelPath: truncatedModel });
      const err = await t.transcribe(note('french-delivery.ogg')).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'model_invalid', retryable: false });
      expect(t.modelLoads).toBe(0);
    } finally {
      rmSync(truncatedModel, { force: true });
    }
  });

  it.runIf(realModel !== null)('a real model at WHISPER_MODEL_PATH clears a loose WER ceiling on English and French', async () => {
    const t = new LocalWhisperTranscriber({ modelPath: realModel ?? '', language: 'auto' });
    try {
      for (const [file, ceiling] of [['english-tracking.ogg', 0.5], ['french-delivery.ogg', 0.7]] as const) {
        const r = await t.transcribe(note(file));
        report(`real ${t.model}`, file, r);
        expect(wordErrorRate(entry(file).text, r.text, { foldLatinAccents: true }).wer).toBeLessThan(ceiling);
      }
      for (const file of ['darija-order-status.ogg', 'darija-french-codeswitch.ogg']) report(`real ${t.model}`, file, await t.transcribe(note(file)));
    } finally {
      await t.close();
    }
  }, 600_000);
});
