import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { Decimator48kTo16k, decodeVoiceNote, readOggOpusInfo } from './decode.js';
import { TranscriptionError } from './transcriber.js';

const audioDir = fileURLToPath(new URL('../../../test/fixtures/audio/', import.meta.url));
const Manifest = z.object({
  files: z.array(z.object({ file: z.string(), channels: z.number(), durationSeconds: z.number(), codec: z.string().optional() })),
});
const manifest = Manifest.parse(JSON.parse(readFileSync(audioDir + 'manifest.json', 'utf8')));
const fixture = (name: string) => new Uint8Array(readFileSync(audioDir + name));
const opusFixtures = manifest.files.filter((f) => f.codec === undefined);

function rms(x: Float32Array, from = 0, to = x.length): number {
  let s = 0;
  for (let i = from; i < to; i++) s += (x[i] ?? 0) ** 2;
  return Math.sqrt(s / Math.max(1, to - from));
}

async function expectCode(p: Promise<unknown>, code: string, message?: RegExp): Promise<TranscriptionError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(TranscriptionError);
  const te = err as TranscriptionError;
  expect(te.code).toBe(code);
  expect(te.retryable).toBe(false);
  if (message) expect(te.message).toMatch(message);
  return te;
}

describe('decodeVoiceNote on real OGG/Opus fixtures', () => {
  it.each(opusFixtures.map((f) => [f.file, f] as const))('%s → 16 kHz mono with the known duration', async (_name, f) => {
    const out = await decodeVoiceNote(fixture(f.file), { maxSeconds: 120 });
    expect(out.sampleRate).toBe(16000);
    expect(out.channels).toBe(f.channels);
    expect(out.durationSeconds).toBeCloseTo(f.durationSeconds, 1);
    expect(out.pcm16k.length).toBe(Math.round(out.durationSeconds * 16000));
    expect(out.pcm16k.every((v) => Number.isFinite(v) && Math.abs(v) <= 1.5)).toBe(true);
    // Speech is there: the loudest second is well above silence.
    let loudest = 0;
    for (let s = 0; s + 16000 <= out.pcm16k.length; s += 16000) loudest = Math.max(loudest, rms(out.pcm16k, s, s + 16000));
    expect(loudest).toBeGreaterThan(0.02);
  });

  it('keeps the trailing silence of the 30-second note silent (no decoder garbage)', async () => {
    const out = await decodeVoiceNote(fixture('darija-long-30s.ogg'), { maxSeconds: 60 });
    expect(out.durationSeconds).toBeGreaterThan(29.9);
    expect(rms(out.pcm16k, out.pcm16k.length - 8000)).toBeLessThan(0.002);
  });

  it('reads duration and channels from the container without decoding', () => {
    const info = readOggOpusInfo(fixture('stereo-french-short.ogg'));
    expect(info.channels).toBe(2);
    expect(info.preSkip).toBeGreaterThan(0);
    expect(info.durationSeconds).toBeCloseTo(manifest.files.find((f) => f.file === 'stereo-french-short.ogg')?.durationSeconds ?? -1, 1);
    expect(info.pageEnds.at(-1)).toBe(fixture('stereo-french-short.ogg').length);
  });

  it('accepts a Node Buffer as well as a Uint8Array', async () => {
    const out = await decodeVoiceNote(readFileSync(audioDir + 'french-delivery.ogg'), { maxSeconds: 60 });
    expect(out.durationSeconds).toBeGreaterThan(6);
  });
});

describe('decodeVoiceNote errors', () => {
  const good = fixture('darija-order-status.ogg');

  it("refuses an OGG that holds Vorbis, not Opus ('decode_failed')", async () => {
    await expectCode(decodeVoiceNote(fixture('not-opus-vorbis.ogg'), { maxSeconds: 60 }), 'decode_failed', /Vorbis audio, not Opus/);
  });

  it('refuses a file cut in the middle of a page', async () => {
    await expectCode(decodeVoiceNote(good.subarray(0, Math.floor(good.length / 2)), { maxSeconds: 60 }), 'decode_failed', /truncated/);
  });

  it('refuses a file cut exactly at a page boundary (no end-of-stream page)', async () => {
    const info = readOggOpusInfo(good);
    const cut = info.pageEnds.at(-3) ?? 0;
    await expectCode(decodeVoiceNote(good.subarray(0, cut), { maxSeconds: 60 }), 'decode_failed', /end-of-stream/);
  });

  it('refuses flipped bytes inside the audio (page checksum)', async () => {
    const bad = good.slice();
    for (let i = 5000; i < 5100; i++) bad[i] = (bad[i] ?? 0) ^ 0xff;
    await expectCode(decodeVoiceNote(bad, { maxSeconds: 60 }), 'decode_failed', /checksum/);
  });

  it('refuses empty input, garbage and other formats', async () => {
    await expectCode(decodeVoiceNote(new Uint8Array(0), { maxSeconds: 60 }), 'decode_failed', /empty/);
    await expectCode(decodeVoiceNote(new Uint8Array(2048).fill(7), { maxSeconds: 60 }), 'decode_failed', /not an OGG/);
    const wavHeader = new TextEncoder().encode('RIFF\x24\x00\x00\x00WAVEfmt ');
    await expectCode(decodeVoiceNote(wavHeader, { maxSeconds: 60 }), 'decode_failed', /not an OGG/);
    // Just the two header pages of a real note: valid Ogg/Opus, no audio.
    const headersOnly = good.subarray(0, readOggOpusInfo(good).pageEnds[1]);
    await expectCode(decodeVoiceNote(headersOnly, { maxSeconds: 60 }), 'decode_failed');
  });

  it("refuses a note over maxSeconds ('too_long') and says by how much", async () => {
    const err = await expectCode(decodeVoiceNote(fixture('darija-long-30s.ogg'), { maxSeconds: 10 }), 'too_long');
    expect(err.message).toMatch(/30\.0 s long, over the 10 s limit/);
  });

  it('rejects bad options as programming errors, not TranscriptionErrors', async () => {
    await expect(decodeVoiceNote(good, { maxSeconds: 0 })).rejects.toThrow(RangeError);
    await expect(decodeVoiceNote('nope' as unknown as Uint8Array, { maxSeconds: 10 })).rejects.toThrow(TypeError);
  });

  it('stops when the signal is aborted', async () => {
    const ac = new AbortController();
    ac.abort(new Error('caller gave up'));
    await expect(decodeVoiceNote(good, { maxSeconds: 60, signal: ac.signal })).rejects.toThrow('caller gave up');
  });
});

describe('Decimator48kTo16k', () => {
  const sine = (hz: number, seconds: number) => Float32Array.from({ length: 48000 * seconds }, (_, i) => Math.sin((2 * Math.PI * hz * i) / 48000));
  const oneShot = (x: Float32Array) => {
    const d = new Decimator48kTo16k();
    const a = d.push(x);
    const b = d.flush();
    const out = new Float32Array(a.length + b.length);
    out.set(a);
    out.set(b, a.length);
    return out;
  };
  // Skip the edges, where the filter sees the zero padding.
  const steadyRms = (y: Float32Array) => rms(y, 200, y.length - 200);

  it('passes speech frequencies at unity gain', () => {
    for (const hz of [300, 1000, 4000, 6000]) {
      expect(steadyRms(oneShot(sine(hz, 1)))).toBeCloseTo(Math.SQRT1_2, 2);
    }
  });

  it('removes what would alias: ≥ 55 dB down from 8 kHz up, where naive dropping keeps it all', () => {
    for (const hz of [8500, 9000, 12000, 20000]) {
      const x = sine(hz, 1);
      const filtered = steadyRms(oneShot(x));
      const naive = rms(Float32Array.from({ length: x.length / 3 }, (_, i) => x[3 * i] ?? 0));
      expect(20 * Math.log10(filtered / Math.SQRT1_2)).toBeLessThan(-55);
      if (hz !== 12000) expect(naive).toBeGreaterThan(0.5); // 12 kHz happens to land on zeros when dropped
    }
  });

  it('outputs ceil(n/3) samples, compensates the filter delay, and streams like one shot', () => {
    const x = new Float32Array(4801);
    x[300] = 1;
    const y = oneShot(x);
    expect(y.length).toBe(Math.ceil(4801 / 3));
    let peak = 0;
    for (let i = 1; i < y.length; i++) if (Math.abs(y[i] ?? 0) > Math.abs(y[peak] ?? 0)) peak = i;
    expect(peak).toBe(100);

    const noise = Float32Array.from({ length: 10007 }, (_, i) => Math.sin(i * 12.9898) * 0.5);
    const whole = oneShot(noise);
    const d = new Decimator48kTo16k();
    const pieces: number[] = [];
    for (let at = 0, step = 1; at < noise.length; at += step, step = (step * 7 + 3) % 997) {
      pieces.push(...d.push(noise.subarray(at, at + step)));
    }
    pieces.push(...d.flush());
    expect(pieces.length).toBe(whole.length);
    expect(Math.max(...pieces.map((v, i) => Math.abs(v - (whole[i] ?? 0))))).toBeLessThan(1e-6);
  });

  it('has a symmetric (linear-phase) filter with unity DC gain', () => {
    const h = Decimator48kTo16k.taps;
    expect(h.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
    for (let i = 0; i < h.length; i++) expect(h[i]).toBeCloseTo(h[h.length - 1 - i] ?? NaN, 7);
    expect(Decimator48kTo16k.delaySamples).toBe((h.length - 1) / 2);
  });
});
