import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, writeFileSync, copyFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LoadedWhisperModel, WhisperEngine, WhisperRunParams, WhisperSegment } from './local-whisper.js';
import { LocalWhisperTranscriber, fitsOneWindow, inspectWhisperModel, padForWhisper } from './local-whisper.js';
import type { TranscriptionInput } from './transcriber.js';
import { TranscriptionError } from './transcriber.js';

const repo = fileURLToPath(new URL('../../../', import.meta.url));
const audio = (name: string) => readFileSync(join(repo, 'test/fixtures/audio', name));
const tinyModel = join(repo, 'test/.models/ggml-tiny-random.bin');
let scratch = '';

beforeAll(() => {
  // Idempotent and atomic: parallel test files may race to create it.
  execFileSync(process.execPath, [join(repo, 'scripts/make-test-whisper-model.mjs'), '--out', tinyModel]);
  scratch = mkdtempSync(join(tmpdir(), 'coex-whisper-unit-'));
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const voiceNote = (name = 'darija-order-status.ogg', extra: Partial<TranscriptionInput> = {}): TranscriptionInput => ({
  audio: audio(name),
  mimeType: 'audio/ogg; codecs=opus',
  darijaScript: 'arabic',
  translateTo: null,
  ...extra,
});

async function codeOf(p: Promise<unknown>): Promise<string> {
  const err: unknown = await p.then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(TranscriptionError);
  expect((err as TranscriptionError).retryable).toBe(false);
  return (err as TranscriptionError).code;
}

/** Stands in for whisper.cpp: records calls and concurrency, answers with fixed segments. */
class FakeEngine implements WhisperEngine {
  readonly name = 'fake';
  loads = 0;
  frees = 0;
  running = 0;
  maxRunning = 0;
  calls: Array<{ samples: number; params: WhisperRunParams }> = [];
  gate: Promise<void> = Promise.resolve();
  segments: WhisperSegment[] = [{ text: ' السلام عليكم', from: 0, to: 1000, lang: 'ar' }, { text: '  بغيت نعرف ', from: 1000, to: 2000, lang: 'ar' }];

  async load(): Promise<LoadedWhisperModel> {
    this.loads++;
    await new Promise((r) => setTimeout(r, 5));
    return {
      transcribe: async (pcm, params) => {
        this.running++;
        this.maxRunning = Math.max(this.maxRunning, this.running);
        this.calls.push({ samples: pcm.length, params });
        await this.gate;
        await new Promise((r) => setTimeout(r, 5));
        this.running--;
        return params.translate ? [{ text: ' Hello, I want to know', from: 0, to: 2000, lang: 'en' }] : this.segments;
      },
      free: async () => {
        this.frees++;
      },
    };
  }
}

describe('LocalWhisperTranscriber with a fake engine', () => {
  it('loads lazily, once, and returns the Transcriber result shape', async () => {
    const engine = new FakeEngine();
    const t = new LocalWhisperTranscriber({ modelPath: tinyModel, language: 'ar', engine, threads: 2 });
    expect(t.provider).toBe('local-whisper');
    expect(t.model).toBe('ggml-tiny-random.bin');
    expect(engine.loads).toBe(0);

    const [a, b] = await Promise.all([t.transcribe(voiceNote()), t.transcribe(voiceNote('french-delivery.ogg'))]);
    expect(engine.loads).toBe(1);
    expect(t.modelLoads).toBe(1);
    expect(a).toEqual({
      text: 'السلام عليكم بغيت نعرف',
      language: 'ar',
      provider: 'local-whisper',
      model: 'ggml-tiny-random.bin',
      durationSeconds: expect.closeTo(11.22, 1) as unknown as number,
      translation: null,
    });
    expect(b.durationSeconds).toBeCloseTo(6.55, 1);
    // 16 kHz mono reached the engine, with the hint and the single-window settings.
    const seconds = engine.calls.map((c) => c.samples / 16000).sort((x, y) => x - y);
    const reported = [a, b].map((r) => r.durationSeconds ?? 0).sort((x, y) => x - y);
    seconds.forEach((s, i) => expect(s).toBeCloseTo(reported[i] ?? -1, 2));
    for (const c of engine.calls) expect(c.params).toMatchObject({ language: 'ar', translate: false, threads: 2, beamSize: 1, noTimestamps: true });
    await t.close();
    expect(engine.frees).toBe(1);
  });

  it('runs one engine job at a time', async () => {
    const engine = new FakeEngine();
    const t = new LocalWhisperTranscriber({ modelPath: tinyModel, engine });
    await Promise.all([t.transcribe(voiceNote()), t.transcribe(voiceNote()), t.transcribe(voiceNote())]);
    expect(engine.calls).toHaveLength(3);
    expect(engine.maxRunning).toBe(1);
    await t.close();
  });

  it('an aborted caller gives up at once; the queue still drains in order', async () => {
    const engine = new FakeEngine();
    let open!: () => void;
    engine.gate = new Promise((r) => (open = r));
    const t = new LocalWhisperTranscriber({ modelPath: tinyModel, engine });
    const first = t.transcribe(voiceNote());
    const ac = new AbortController();
    const second = t.transcribe(voiceNote(), ac.signal);
    const third = t.transcribe(voiceNote('english-tracking.ogg'));
    await new Promise((r) => setTimeout(r, 200));
    ac.abort(new Error('webhook timed out'));
    await expect(second).rejects.toThrow('webhook timed out');
    open();
    await expect(first).resolves.toMatchObject({ provider: 'local-whisper' });
    await expect(third).resolves.toMatchObject({ durationSeconds: expect.closeTo(7.96, 1) as unknown as number });
    expect(engine.calls).toHaveLength(2); // the aborted job never reached the engine
    await t.close();
  });

  it("translates to English with whisper's translate task; French is not offered locally", async () => {
    const engine = new FakeEngine();
    const t = new LocalWhisperTranscriber({ modelPath: tinyModel, engine });
    const en = await t.transcribe(voiceNote('darija-order-status.ogg', { translateTo: 'en' }));
    expect(en.translation).toBe('Hello, I want to know');
    expect(engine.calls.map((c) => c.params.translate)).toEqual([false, true]);
    expect(engine.calls[1]?.params.language).toBe('ar'); // the detected language, not 'auto'
    const fr = await t.transcribe(voiceNote('darija-order-status.ogg', { translateTo: 'fr' }));
    expect(fr.translation).toBeNull();
    await t.close();
  });

  it('asks for timestamps (word-boundary windows) only past one 30 s window, and pads sub-second notes', async () => {
    expect(fitsOneWindow(6.5)).toBe(true);
    expect(fitsOneWindow(30.0004)).toBe(true); // whisper.cpp ignores a last piece under 1 s
    expect(fitsOneWindow(31)).toBe(false);
    expect(fitsOneWindow(95)).toBe(false);
    const engine = new FakeEngine();
    const t = new LocalWhisperTranscriber({ modelPath: tinyModel, engine });
    await t.transcribe(voiceNote('darija-long-30s.ogg'));
    expect(engine.calls[0]?.params.noTimestamps).toBe(true);
    await t.close();
    expect(padForWhisper(new Float32Array(8000).fill(0.5))).toHaveLength(17600);
    expect(padForWhisper(new Float32Array(8000).fill(0.5))[7999]).toBe(0.5);
    const long = new Float32Array(32000);
    expect(padForWhisper(long)).toBe(long);
  });

  it("maps bad input to clear, non-retryable errors", async () => {
    const engine = new FakeEngine();
    const t = new LocalWhisperTranscriber({ modelPath: tinyModel, engine, maxSeconds: 20 });
    expect(await codeOf(t.transcribe(voiceNote('darija-order-status.ogg', { mimeType: 'audio/mpeg' })))).toBe('unsupported_media');
    expect(await codeOf(t.transcribe(voiceNote('not-opus-vorbis.ogg')))).toBe('decode_failed');
    expect(await codeOf(t.transcribe({ ...voiceNote(), audio: audio('darija-order-status.ogg').subarray(0, 3000) }))).toBe('decode_failed');
    expect(await codeOf(t.transcribe(voiceNote('darija-long-30s.ogg')))).toBe('too_long');
    expect(engine.calls).toHaveLength(0);
    await t.close();
    expect(await codeOf(t.transcribe(voiceNote()))).toBe('closed');
  });

  it("reports 'model_missing' without loading, and does not cache the failure", async () => {
    const engine = new FakeEngine();
    const path = join(scratch, 'later', 'ggml-tiny.bin');
    const t = new LocalWhisperTranscriber({ modelPath: path, engine });
    const err: unknown = await t.transcribe(voiceNote()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TranscriptionError);
    expect(err).toMatchObject({ code: 'model_missing', retryable: false });
    expect((err as Error).message).toContain(path);
    expect(engine.loads).toBe(0);

    mkdirSync(join(scratch, 'later'), { recursive: true });
    copyFileSync(tinyModel, path);
    await expect(t.transcribe(voiceNote())).resolves.toMatchObject({ text: 'السلام عليكم بغيت نعرف' });
    expect(engine.loads).toBe(1);
    await t.close();
  });

  it('fromEnv reads WHISPER_MODEL_PATH and says what to set when it is missing', async () => {
    const engine = new FakeEngine();
    const unset = LocalWhisperTranscriber.fromEnv({}, { engine });
    const err: unknown = await unset.transcribe(voiceNote()).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'model_missing' });
    expect((err as Error).message).toMatch(/WHISPER_MODEL_PATH/);
    const set = LocalWhisperTranscriber.fromEnv({ WHISPER_MODEL_PATH: tinyModel, WHISPER_LANGUAGE: 'AR', WHISPER_THREADS: '1' }, { engine });
    expect(set.model).toBe('ggml-tiny-random.bin');
    await set.transcribe(voiceNote());
    expect(engine.calls[0]?.params).toMatchObject({ language: 'ar', threads: 1 });
    await set.close();
  });

  it('rejects impossible options at construction', () => {
    expect(() => new LocalWhisperTranscriber({ modelPath: tinyModel, language: 'darija!' })).toThrow(RangeError);
    expect(() => new LocalWhisperTranscriber({ modelPath: tinyModel, threads: 0 })).toThrow(RangeError);
    expect(() => new LocalWhisperTranscriber({ modelPath: tinyModel, beamSize: 20 })).toThrow(RangeError);
  });

  it("maps an engine load failure to 'model_invalid'", async () => {
    const engine: WhisperEngine = { name: 'broken', load: () => Promise.reject(new Error('Failed to initialize whisper context')) };
    const t = new LocalWhisperTranscriber({ modelPath: tinyModel, engine });
    expect(await codeOf(t.transcribe(voiceNote()))).toBe('model_invalid');
  });
});

describe('inspectWhisperModel', () => {
  it('reads the generated tiny model like whisper.cpp would', async () => {
    const info = await inspectWhisperModel(tinyModel);
    expect(info).toMatchObject({ kind: 'tiny', nVocab: 51865, nAudioState: 384, nAudioLayer: 4, nTextLayer: 4, nMels: 80, ftype: 1, multilingual: true });
    expect(info.tensors).toBe(7 + 15 * 4 + 4 + 24 * 4);
  });

  it("says 'model_missing' for no path, a missing file and a directory", async () => {
    expect(await codeOf(inspectWhisperModel(''))).toBe('model_missing');
    expect(await codeOf(inspectWhisperModel(join(scratch, 'nope.bin')))).toBe('model_missing');
    expect(await codeOf(inspectWhisperModel(scratch))).toBe('model_missing');
  });

  // Each of these would make whisper.cpp abort or crash the process if it reached the native loader.
  const header = () => {
    const fd = openSync(tinyModel, 'r');
    const b = Buffer.alloc(4096);
    readSync(fd, b, 0, b.length, 0);
    closeSync(fd);
    return b;
  };
  const variant = (name: string, bytes: Buffer) => {
    const p = join(scratch, name);
    writeFileSync(p, bytes);
    return p;
  };

  it.each([
    ['a GGUF file', () => Buffer.concat([Buffer.from('GGUF'), Buffer.alloc(100)]), /bad magic/],
    ['an unknown ftype', () => { const b = header(); b.writeInt32LE(5, 4 + 10 * 4); return b; }, /unsupported ftype 5/],
    ['implausible dimensions', () => { const b = header(); b.writeInt32LE(-3, 4 + 2 * 4); return b; }, /implausible/],
    ['a header cut short', () => header().subarray(0, 30), /ends early/],
  ] as const)("says 'model_invalid' for %s", async (name, make, why) => {
    const p = variant(`${name.replace(/\W+/g, '-')}.bin`, make());
    const err: unknown = await inspectWhisperModel(p).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'model_invalid', retryable: false });
    expect((err as Error).message).toMatch(why);
  });

  it("says 'model_invalid' for a truncated download, a wrong tensor shape and trailing junk", async () => {
    const full = readFileSync(tinyModel);
    const truncated = variant('truncated.bin', full.subarray(0, Math.floor(full.length * 0.7)));
    await expect(inspectWhisperModel(truncated)).rejects.toMatchObject({ code: 'model_invalid', message: expect.stringMatching(/truncated/) as unknown as string });

    const reshaped = Buffer.from(full);
    const at = reshaped.indexOf('encoder.conv1.weight') - 3 * 4; // ne[] sits right before the name
    expect(reshaped.readInt32LE(at)).toBe(3);
    reshaped.writeInt32LE(5, at);
    await expect(inspectWhisperModel(variant('reshaped.bin', reshaped))).rejects.toMatchObject({ message: expect.stringMatching(/shape \[5,80,384\]/) as unknown as string });

    const junk = variant('junk.bin', Buffer.concat([full, Buffer.from('trailing junk bytes')]));
    await expect(inspectWhisperModel(junk)).rejects.toMatchObject({ code: 'model_invalid' });
  });
});
