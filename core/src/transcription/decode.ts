/**
 * WhatsApp voice notes (OGG/Opus) → 16 kHz mono Float32 PCM, the input every Whisper expects.
 *
 * In-process and dependency-light on purpose: `ogg-opus-decoder` is WASM (no system ffmpeg, no
 * native build). Before decoding we walk the Ogg pages ourselves (capture pattern, CRC, end-of-stream
 * flag, OpusHead): the library happily decodes half a file or garbage-after-bit-flips, and a cheap
 * structural pass lets us refuse those with a clear error and reject over-long notes before spending
 * CPU on them.
 */
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { OggOpusDecoder } from 'ogg-opus-decoder';
import { TranscriptionError } from './transcriber.js';

export const TARGET_SAMPLE_RATE = 16000;
const OPUS_RATE = 48000;

export interface DecodeOptions {
  /** Refuse notes longer than this ('too_long'), before decoding when the container says so. */
  maxSeconds: number;
  signal?: AbortSignal;
}

export interface DecodedVoiceNote {
  /** Mono samples in [-1, 1] at 16 kHz. */
  pcm16k: Float32Array;
  sampleRate: typeof TARGET_SAMPLE_RATE;
  durationSeconds: number;
  /** Channels in the source stream (downmixed to mono). */
  channels: number;
}

export interface OggOpusInfo {
  channels: number;
  preSkip: number;
  /** The encoder's input rate from OpusHead (informational: Opus always decodes at 48 kHz). */
  inputSampleRate: number;
  /** From the last page's granule position: exact, known without decoding. */
  durationSeconds: number;
  /** Byte offsets where each Ogg page ends, to feed the decoder whole pages. */
  pageEnds: number[];
}

function decodeFailed(message: string): TranscriptionError {
  return new TranscriptionError(`voice note could not be decoded: ${message}`, false, 'decode_failed');
}

// Ogg's CRC-32: polynomial 0x04c11db7, not reflected, initial value 0 (RFC 3533).
const OGG_CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let r = i << 24;
    for (let j = 0; j < 8; j++) r = r & 0x80000000 ? (r << 1) ^ 0x04c11db7 : r << 1;
    table[i] = r >>> 0;
  }
  return table;
})();

function oggPageCrc(bytes: Uint8Array, start: number, end: number): number {
  let crc = 0;
  for (let i = start; i < end; i++) {
    // The checksum field (bytes 22..25 of the page) counts as zero while computing it.
    const rel = i - start;
    const byte = rel >= 22 && rel < 26 ? 0 : (bytes[i] ?? 0);
    crc = ((crc << 8) ^ (OGG_CRC_TABLE[((crc >>> 24) ^ byte) & 0xff] ?? 0)) >>> 0;
  }
  return crc;
}

/**
 * Validates the container and reads what it promises, without decoding audio.
 * Throws TranscriptionError('decode_failed') for anything that is not one complete Ogg/Opus stream.
 */
export function readOggOpusInfo(bytes: Uint8Array): OggOpusInfo {
  if (bytes.length === 0) throw decodeFailed('empty input');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 4 || view.getUint32(0, false) !== 0x4f676753 /* 'OggS' */) {
    throw decodeFailed('not an OGG file (no OggS capture pattern at the start)');
  }

  let offset = 0;
  let serial: number | null = null;
  let head: { channels: number; preSkip: number; inputSampleRate: number } | null = null;
  let lastGranule = -1n;
  let sawEos = false;
  const pageEnds: number[] = [];

  while (offset < bytes.length) {
    if (sawEos) throw decodeFailed('data after the end of the Opus stream (chained or multiplexed OGG is not supported)');
    if (bytes.length - offset < 27) throw decodeFailed(`truncated: incomplete Ogg page header at byte ${offset}`);
    if (view.getUint32(offset, false) !== 0x4f676753) throw decodeFailed(`corrupt: no Ogg page at byte ${offset}`);
    if (bytes[offset + 4] !== 0) throw decodeFailed(`unsupported Ogg version ${bytes[offset + 4]}`);
    const flags = bytes[offset + 5] ?? 0;
    const granule = view.getBigInt64(offset + 6, true);
    const pageSerial = view.getUint32(offset + 14, true);
    const storedCrc = view.getUint32(offset + 22, true);
    const segments = bytes[offset + 26] ?? 0;
    const headerLen = 27 + segments;
    if (bytes.length - offset < headerLen) throw decodeFailed(`truncated: incomplete segment table at byte ${offset}`);
    let bodyLen = 0;
    for (let i = 0; i < segments; i++) bodyLen += bytes[offset + 27 + i] ?? 0;
    const end = offset + headerLen + bodyLen;
    if (end > bytes.length) throw decodeFailed(`truncated: Ogg page at byte ${offset} needs ${end - bytes.length} more bytes`);
    if (oggPageCrc(bytes, offset, end) !== storedCrc) throw decodeFailed(`corrupt: checksum mismatch in the Ogg page at byte ${offset}`);

    const body = bytes.subarray(offset + headerLen, end);
    if (serial === null) {
      if (!(flags & 0x02)) throw decodeFailed('first Ogg page is not a beginning-of-stream page');
      const magic = Buffer.from(body.subarray(0, 8)).toString('latin1');
      if (magic !== 'OpusHead') {
        const codec = magic.startsWith('\x01vorbis') ? 'Vorbis' : magic.startsWith('Speex') ? 'Speex' : magic.startsWith('\x7fFLAC') ? 'FLAC' : 'unknown';
        throw decodeFailed(`OGG container holds ${codec} audio, not Opus`);
      }
      if (body.length < 19) throw decodeFailed('OpusHead too short');
      const version = body[8] ?? 0;
      if (version >> 4 !== 0) throw decodeFailed(`unsupported Opus header version ${version}`);
      const channels = body[9] ?? 0;
      if (channels < 1) throw decodeFailed('OpusHead declares zero channels');
      const headView = new DataView(body.buffer, body.byteOffset, body.byteLength);
      head = { channels, preSkip: headView.getUint16(10, true), inputSampleRate: headView.getUint32(12, true) };
      serial = pageSerial;
    } else if (pageSerial !== serial) {
      throw decodeFailed('multiplexed OGG streams are not supported');
    }
    if (granule !== -1n) lastGranule = granule;
    if (flags & 0x04) sawEos = true;
    pageEnds.push(end);
    offset = end;
  }

  if (!head) throw decodeFailed('no Opus header');
  if (!sawEos) throw decodeFailed('truncated: the stream has no end-of-stream page');
  const samples = Number(lastGranule) - head.preSkip;
  if (lastGranule < 0n || samples <= 0) throw decodeFailed('no audio in the stream');
  return { ...head, durationSeconds: samples / OPUS_RATE, pageEnds };
}

// ---------------------------------------------------------------------------------------------
// 48 kHz → 16 kHz: Kaiser-windowed-sinc low-pass evaluated only at every third input sample
// (polyphase decimation). Passband to ~6.8 kHz, ≥ 60 dB down from 8 kHz (the new Nyquist), so
// energy above 8 kHz cannot fold back into the band Whisper's mel filters look at.

const DECIMATION = 3;
const TAPS = 145; // odd: symmetric, linear phase, integer delay of 72 input samples
const KAISER_BETA = 5.653; // 60 dB stopband (Kaiser's formula 0.1102·(A − 8.7))
const CUTOFF_HZ = 7400;

function besselI0(x: number): number {
  let sum = 1;
  let term = 1;
  for (let k = 1; k < 50; k++) {
    term *= (x / (2 * k)) ** 2;
    sum += term;
    if (term < 1e-12 * sum) break;
  }
  return sum;
}

function designLowPass(): Float32Array {
  const h = new Float64Array(TAPS);
  const mid = (TAPS - 1) / 2;
  const fc = CUTOFF_HZ / OPUS_RATE; // cycles per sample
  const i0Beta = besselI0(KAISER_BETA);
  let sum = 0;
  for (let n = 0; n < TAPS; n++) {
    const t = n - mid;
    const sinc = t === 0 ? 2 * fc : Math.sin(2 * Math.PI * fc * t) / (Math.PI * t);
    const r = t / mid;
    const w = besselI0(KAISER_BETA * Math.sqrt(Math.max(0, 1 - r * r))) / i0Beta;
    h[n] = sinc * w;
    sum += h[n] ?? 0;
  }
  const out = new Float32Array(TAPS);
  for (let n = 0; n < TAPS; n++) out[n] = (h[n] ?? 0) / sum; // unity gain at DC
  return out;
}

const LOW_PASS = designLowPass();

/**
 * Streaming 48 kHz → 16 kHz decimator. Output sample m is centred on input sample 3m (the filter's
 * delay is compensated), so after flush() the output holds exactly ceil(inputLength / 3) samples.
 */
export class Decimator48kTo16k {
  // Pending input, prefixed with (TAPS − 1)/2 zeros so the first outputs see silence before the start.
  private buf: Float32Array = new Float32Array((TAPS - 1) / 2);
  private received = 0;
  private produced = 0;

  /** Feeds 48 kHz samples; returns the 16 kHz samples that are now fully determined. */
  push(input: Float32Array): Float32Array {
    const merged = new Float32Array(this.buf.length + input.length);
    merged.set(this.buf, 0);
    merged.set(input, this.buf.length);
    this.received += input.length;
    return this.drain(merged, false);
  }

  /** Ends the stream: pads with silence and returns the remaining samples. */
  flush(): Float32Array {
    const merged = new Float32Array(this.buf.length + TAPS);
    merged.set(this.buf, 0);
    return this.drain(merged, true);
  }

  private drain(merged: Float32Array, final: boolean): Float32Array {
    // merged[0] is padded-stream index 3·produced; output m needs padded indices 3m .. 3m + TAPS − 1.
    const totalOutputs = Math.ceil(this.received / DECIMATION);
    let count = Math.max(0, Math.floor((merged.length - TAPS) / DECIMATION) + 1);
    if (final) count = Math.min(count, totalOutputs - this.produced);
    const out = new Float32Array(Math.max(0, count));
    for (let m = 0; m < out.length; m++) {
      const base = m * DECIMATION;
      let acc = 0;
      for (let k = 0; k < TAPS; k++) acc += (LOW_PASS[k] ?? 0) * (merged[base + TAPS - 1 - k] ?? 0);
      out[m] = acc;
    }
    this.produced += out.length;
    this.buf = final ? new Float32Array(0) : merged.slice(out.length * DECIMATION);
    return out;
  }

  /** The filter, exposed for tests and docs. */
  static get taps(): Float32Array {
    return LOW_PASS.slice();
  }

  static get delaySamples(): number {
    return (TAPS - 1) / 2;
  }
}

function downmix(channels: Float32Array[], length: number): Float32Array {
  const first = channels[0];
  if (channels.length === 1 && first) return first.length === length ? first : first.subarray(0, length);
  const mono = new Float32Array(length);
  for (const ch of channels) for (let i = 0; i < length; i++) mono[i] = (mono[i] ?? 0) + (ch[i] ?? 0);
  const scale = 1 / channels.length;
  for (let i = 0; i < length; i++) mono[i] = (mono[i] ?? 0) * scale;
  return mono;
}

/** About two seconds of a 16 kbit/s voice note per slice: each synchronous WASM run stays short. */
const FEED_BYTES = 4096;

/**
 * Decodes a WhatsApp voice note to 16 kHz mono PCM.
 * Errors: TranscriptionError 'decode_failed' (not OGG/Opus, truncated, corrupt, empty) and
 * 'too_long' (over maxSeconds), neither retryable. Yields to the event loop between slices.
 */
export async function decodeVoiceNote(bytes: Uint8Array, options: DecodeOptions): Promise<DecodedVoiceNote> {
  if (!(bytes instanceof Uint8Array)) throw new TypeError('decodeVoiceNote: bytes must be a Uint8Array or Buffer');
  const { maxSeconds, signal } = options;
  if (!Number.isFinite(maxSeconds) || maxSeconds <= 0) throw new RangeError(`decodeVoiceNote: maxSeconds must be a positive number, got ${maxSeconds}`);
  signal?.throwIfAborted();

  const info = readOggOpusInfo(bytes);
  const tooLong = (seconds: number) =>
    new TranscriptionError(`voice note is ${seconds.toFixed(1)} s long, over the ${maxSeconds} s limit`, false, 'too_long');
  if (info.durationSeconds > maxSeconds) throw tooLong(info.durationSeconds);

  const decoder = new OggOpusDecoder();
  const decimator = new Decimator48kTo16k();
  const parts: Float32Array[] = [];
  // Guard against a container that under-reports its length: stop once decoding passes the limit.
  const maxSamples48k = Math.ceil((maxSeconds + 0.1) * OPUS_RATE);
  let samples48k = 0;
  let errors = 0;
  try {
    await decoder.ready;
    let start = 0;
    for (let p = 0; p < info.pageEnds.length; p++) {
      const end = info.pageEnds[p] ?? start;
      if (end - start < FEED_BYTES && p < info.pageEnds.length - 1) continue;
      const decoded = await decoder.decode(bytes.subarray(start, end));
      start = end;
      errors += decoded.errors.length;
      if (decoded.samplesDecoded > 0) {
        samples48k += decoded.samplesDecoded;
        if (samples48k > maxSamples48k) throw tooLong(samples48k / OPUS_RATE);
        parts.push(decimator.push(downmix(decoded.channelData, decoded.samplesDecoded)));
      }
      await yieldToEventLoop();
      signal?.throwIfAborted();
    }
    const tail = await decoder.flush();
    errors += tail.errors.length;
    if (tail.samplesDecoded > 0) {
      samples48k += tail.samplesDecoded;
      parts.push(decimator.push(downmix(tail.channelData, tail.samplesDecoded)));
    }
  } catch (err) {
    if (err instanceof TranscriptionError || (signal?.aborted && err === signal.reason)) throw err;
    throw decodeFailed(err instanceof Error ? err.message : String(err));
  } finally {
    decoder.free();
  }
  if (errors > 0) throw decodeFailed(`${errors} corrupt Opus packet(s)`);
  if (samples48k === 0) throw decodeFailed('no audio in the stream');
  parts.push(decimator.flush());

  const total = parts.reduce((n, p) => n + p.length, 0);
  const pcm16k = new Float32Array(total);
  let at = 0;
  for (const p of parts) {
    pcm16k.set(p, at);
    at += p.length;
  }
  return { pcm16k, sampleRate: TARGET_SAMPLE_RATE, durationSeconds: total / TARGET_SAMPLE_RATE, channels: info.channels };
}
