/**
 * Offline speech-to-text: whisper.cpp through the `smart-whisper` N-API binding, fed by our own
 * in-process OGG/Opus decoder. The model is a ggml file the operator puts on disk
 * (WHISPER_MODEL_PATH); nothing is ever downloaded. See docs/decisions/local-speech-to-text.md.
 *
 * - The model loads lazily on the first transcription, once, and is reused; a failed load is not
 *   cached so fixing the path does not need a restart.
 * - Inference runs on a libuv worker thread (the binding's AsyncWorker), never on the event loop;
 *   decoding yields between slices. Jobs run one at a time per transcriber: on a small machine two
 *   concurrent encoders only compete for the same cores and double the memory.
 * - Every model file is checked in JS before the native loader sees it: whisper.cpp aborts or
 *   dereferences null on malformed files, which would take the whole process down.
 */
import { availableParallelism } from 'node:os';
import { open, stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { z } from 'zod';
import { decodeVoiceNote } from './decode.js';
import type { Transcriber, TranscriptionInput, TranscriptionResult } from './transcriber.js';
import { TranscriptionError } from './transcriber.js';

// ---------------------------------------------------------------------------------------------
// Engine seam: the real one wraps smart-whisper; unit tests inject a fake to test queueing,
// lazy loading and error mapping without compiling whisper.cpp.

export interface WhisperRunParams {
  /** Whisper language code ('ar', 'fr', 'en', …) or 'auto'. */
  language: string;
  translate: boolean;
  threads: number;
  beamSize: number;
  /** No timestamp tokens: one segment per 30 s window (fewer tokens, predictable cost). */
  noTimestamps: boolean;
  /** Cap on tokens per 30 s window; 0 = whisper.cpp's own limit. */
  maxTokens: number;
  /** Retry a window at higher temperature when the output looks degenerate (whisper's default). */
  temperatureFallback: boolean;
}

export const WhisperSegment = z.object({
  text: z.string(),
  from: z.number(),
  to: z.number(),
  lang: z.string().optional(),
});
export type WhisperSegment = z.infer<typeof WhisperSegment>;
const WhisperSegments = z.array(WhisperSegment);

export interface LoadedWhisperModel {
  transcribe(pcm16k: Float32Array, params: WhisperRunParams): Promise<WhisperSegment[]>;
  free(): Promise<void>;
}

export interface WhisperEngine {
  readonly name: string;
  load(modelPath: string): Promise<LoadedWhisperModel>;
}

// The parts of smart-whisper's API we use, typed here so a binding change fails loudly at the
// zod parse instead of deep inside.
interface SmartWhisperModule {
  WhisperModel: { load(file: string, gpu?: boolean): Promise<SmartWhisperModel> };
  binding: {
    transcribe(
      handle: unknown,
      pcm: Float32Array,
      params: Record<string, unknown>,
      finish: (results: unknown) => void,
      progress: (result: unknown) => void,
    ): void;
  };
}
interface SmartWhisperModel {
  readonly handle: unknown;
  readonly freed: boolean;
  free(): Promise<void>;
}

export const smartWhisperEngine: WhisperEngine = {
  name: 'smart-whisper',
  async load(modelPath: string): Promise<LoadedWhisperModel> {
    let mod: SmartWhisperModule;
    try {
      // CommonJS package: the named exports may only be on `default`, depending on the loader.
      const imported = (await import('smart-whisper')) as unknown as SmartWhisperModule & { default?: SmartWhisperModule };
      mod = typeof imported.WhisperModel?.load === 'function' ? imported : (imported.default ?? imported);
    } catch (err) {
      throw new TranscriptionError(
        `local whisper engine unavailable: smart-whisper did not load (${err instanceof Error ? err.message : String(err)}); ` +
          'it compiles whisper.cpp at install and needs python3, make and g++',
        false,
        'engine_unavailable',
      );
    }
    const model = await mod.WhisperModel.load(modelPath, false);
    return {
      transcribe(pcm16k, p) {
        return new Promise((resolve, reject) => {
          if (model.freed) {
            reject(new TranscriptionError('local whisper model was closed', false, 'closed'));
            return;
          }
          const params: Record<string, unknown> = {
            language: p.language,
            translate: p.translate,
            n_threads: p.threads,
            strategy: p.beamSize > 1 ? 1 : 0,
            beam_size: p.beamSize,
            no_timestamps: p.noTimestamps,
            max_tokens: p.maxTokens,
            suppress_non_speech_tokens: true,
            format: 'detail',
            ...(p.temperatureFallback ? {} : { temperature_inc: 0 }),
          };
          // The binding copies the samples before its worker thread starts.
          mod.binding.transcribe(
            model.handle,
            pcm16k,
            params,
            (results) => {
              if (results instanceof Error) {
                reject(new TranscriptionError(`whisper.cpp failed: ${results.message}`, true, 'engine_failed'));
                return;
              }
              const parsed = WhisperSegments.safeParse(results);
              if (!parsed.success) {
                reject(new TranscriptionError(`unexpected result from smart-whisper: ${parsed.error.message}`, false, 'engine_failed'));
                return;
              }
              resolve(parsed.data);
            },
            () => {},
          );
        });
      },
      free: () => model.free(),
    };
  },
};

// ---------------------------------------------------------------------------------------------
// Model file check: mirrors what whisper.cpp's whisper_model_load reads and rejects, so a bad file
// becomes a 'model_invalid' error instead of a crashed process.

export interface WhisperModelInfo {
  path: string;
  sizeBytes: number;
  /** 'tiny' | 'base' | 'small' | 'medium' | 'large' | 'unknown', from the encoder depth. */
  kind: string;
  nVocab: number;
  nAudioState: number;
  nAudioLayer: number;
  nTextLayer: number;
  nMels: number;
  ftype: number;
  multilingual: boolean;
  tensors: number;
}

const GGML_MAGIC = 0x67676d6c;
// ggml type id → [bytes per block, elements per block] (ggml-common.h).
const GGML_TYPES: Record<number, readonly [number, number]> = {
  0: [4, 1], 1: [2, 1], 2: [18, 32], 3: [20, 32], 6: [22, 32], 7: [24, 32], 8: [34, 32],
  10: [84, 256], 11: [110, 256], 12: [144, 256], 13: [176, 256], 14: [210, 256], 30: [2, 1],
};
// ggml file type → weight type (ggml_ftype_to_ggml_type; anything else makes whisper.cpp abort).
const FTYPE_TO_WTYPE: Record<number, number> = { 0: 0, 1: 1, 2: 2, 3: 3, 7: 8, 8: 6, 9: 7, 10: 10, 11: 11, 12: 12, 13: 13, 14: 14, 24: 30 };
const QNT_VERSION_FACTOR = 1000;

function expectedTensors(h: { nVocab: number; nAudioCtx: number; nState: number; nAudioLayer: number; nTextCtx: number; nTextLayer: number; nMels: number }, wtype: number) {
  const F32 = 0;
  const vtype = wtype === F32 ? F32 : 1;
  const s = h.nState;
  const t = new Map<string, { ne: number[]; type: number }>();
  const add = (name: string, ne: number[], type: number) => t.set(name, { ne, type });
  add('encoder.positional_embedding', [s, h.nAudioCtx], F32);
  add('encoder.conv1.weight', [3, h.nMels, s], vtype);
  add('encoder.conv1.bias', [1, s], F32);
  add('encoder.conv2.weight', [3, s, s], vtype);
  add('encoder.conv2.bias', [1, s], F32);
  add('encoder.ln_post.weight', [s], F32);
  add('encoder.ln_post.bias', [s], F32);
  const block = (p: string, cross: boolean) => {
    add(`${p}.mlp_ln.weight`, [s], F32);
    add(`${p}.mlp_ln.bias`, [s], F32);
    add(`${p}.mlp.0.weight`, [s, 4 * s], wtype);
    add(`${p}.mlp.0.bias`, [4 * s], F32);
    add(`${p}.mlp.2.weight`, [4 * s, s], wtype);
    add(`${p}.mlp.2.bias`, [s], F32);
    for (const a of cross ? ['attn', 'cross_attn'] : ['attn']) {
      add(`${p}.${a}_ln.weight`, [s], F32);
      add(`${p}.${a}_ln.bias`, [s], F32);
      add(`${p}.${a}.query.weight`, [s, s], wtype);
      add(`${p}.${a}.query.bias`, [s], F32);
      add(`${p}.${a}.key.weight`, [s, s], wtype);
      add(`${p}.${a}.value.weight`, [s, s], wtype);
      add(`${p}.${a}.value.bias`, [s], F32);
      add(`${p}.${a}.out.weight`, [s, s], wtype);
      add(`${p}.${a}.out.bias`, [s], F32);
    }
  };
  for (let i = 0; i < h.nAudioLayer; i++) block(`encoder.blocks.${i}`, false);
  add('decoder.positional_embedding', [s, h.nTextCtx], F32);
  add('decoder.token_embedding.weight', [s, h.nVocab], wtype);
  add('decoder.ln.weight', [s], F32);
  add('decoder.ln.bias', [s], F32);
  for (let i = 0; i < h.nTextLayer; i++) block(`decoder.blocks.${i}`, true);
  return t;
}

/** Reads the file through a small window: header, vocab and tensor headers, skipping tensor data. */
class FileCursor {
  private buf = Buffer.alloc(0);
  private bufStart = 0;
  pos = 0;
  constructor(
    private readonly fh: Awaited<ReturnType<typeof open>>,
    readonly size: number,
  ) {}
  async need(n: number): Promise<void> {
    if (this.pos + n > this.size) throw new Error(`ends early (needs ${this.pos + n} bytes, has ${this.size})`);
    if (this.pos >= this.bufStart && this.pos + n <= this.bufStart + this.buf.length) return;
    const len = Math.min(Math.max(n, 1 << 20), this.size - this.pos);
    const buf = Buffer.alloc(len);
    const { bytesRead } = await this.fh.read(buf, 0, len, this.pos);
    if (bytesRead < n) throw new Error('short read');
    this.buf = buf;
    this.bufStart = this.pos;
  }
  async i32(): Promise<number> {
    await this.need(4);
    const v = this.buf.readInt32LE(this.pos - this.bufStart);
    this.pos += 4;
    return v;
  }
  async u32(): Promise<number> {
    await this.need(4);
    const v = this.buf.readUInt32LE(this.pos - this.bufStart);
    this.pos += 4;
    return v;
  }
  async str(n: number): Promise<string> {
    await this.need(n);
    const v = this.buf.toString('utf8', this.pos - this.bufStart, this.pos - this.bufStart + n);
    this.pos += n;
    return v;
  }
  skip(n: number): void {
    this.pos += n;
  }
}

function modelMissing(message: string): TranscriptionError {
  return new TranscriptionError(message, false, 'model_missing');
}

/**
 * Validates a whisper.cpp ggml model file without loading it. Throws TranscriptionError
 * 'model_missing' (no path, no file) or 'model_invalid' (anything whisper.cpp would reject).
 */
export async function inspectWhisperModel(modelPath: string): Promise<WhisperModelInfo> {
  if (!modelPath) throw modelMissing('no local whisper model configured: set WHISPER_MODEL_PATH to a ggml model file (e.g. ggml-base.bin)');
  let size: number;
  try {
    const st = await stat(modelPath);
    if (!st.isFile()) throw modelMissing(`local whisper model path is not a file: ${modelPath}`);
    size = st.size;
  } catch (err) {
    if (err instanceof TranscriptionError) throw err;
    throw modelMissing(`local whisper model not found at ${modelPath}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  const invalid = (why: string) => new TranscriptionError(`local whisper model ${modelPath} is not a usable whisper.cpp ggml file: ${why}`, false, 'model_invalid');

  const fh = await open(modelPath, 'r');
  try {
    const c = new FileCursor(fh, size);
    if ((await c.u32()) !== GGML_MAGIC) throw invalid('bad magic (expected a ggml file; GGUF/ONNX/PyTorch files are not supported)');
    const [nVocab, nAudioCtx, nAudioState, nAudioHead, nAudioLayer, nTextCtx, nTextState, nTextHead, nTextLayer, nMels, ftypeRaw] = [
      await c.i32(), await c.i32(), await c.i32(), await c.i32(), await c.i32(), await c.i32(),
      await c.i32(), await c.i32(), await c.i32(), await c.i32(), await c.i32(),
    ] as const;
    const dims = { nVocab, nAudioCtx, nAudioState, nAudioHead, nAudioLayer, nTextCtx, nTextState, nTextHead, nTextLayer, nMels };
    for (const [k, v] of Object.entries(dims)) if (!(v > 0 && v < 1_000_000)) throw invalid(`implausible hyper-parameter ${k}=${v}`);
    if (nAudioState !== nTextState) throw invalid('audio and text state sizes differ');
    if (nAudioState % nAudioHead !== 0 || nTextState % nTextHead !== 0) throw invalid('state size not divisible by head count');
    const ftype = ftypeRaw % QNT_VERSION_FACTOR;
    const wtype = FTYPE_TO_WTYPE[ftype];
    if (wtype === undefined) throw invalid(`unsupported ftype ${ftypeRaw}`);

    const nMel = await c.i32();
    const nFft = await c.i32();
    if (!(nMel > 0 && nMel <= 256 && nFft > 0 && nFft <= 4096)) throw invalid(`implausible mel filter shape ${nMel}×${nFft}`);
    await c.need(nMel * nFft * 4);
    c.skip(nMel * nFft * 4);

    const nTokens = await c.i32();
    if (!(nTokens > 0 && nTokens <= nVocab)) throw invalid(`vocabulary of ${nTokens} tokens for n_vocab=${nVocab}`);
    for (let i = 0; i < nTokens; i++) {
      const len = await c.u32();
      if (len > 1024) throw invalid(`token ${i} is ${len} bytes long`);
      await c.need(len);
      c.skip(len);
    }

    const expected = expectedTensors({ nVocab, nAudioCtx, nState: nAudioState, nAudioLayer, nTextCtx, nTextLayer, nMels }, wtype);
    const seen = new Set<string>();
    while (c.pos < size) {
      const nDims = await c.i32();
      const nameLen = await c.i32();
      const ttype = await c.i32();
      if (!(nDims >= 1 && nDims <= 4) || !(nameLen > 0 && nameLen < 256)) throw invalid(`corrupt tensor header at byte ${c.pos - 12}`);
      const ne: number[] = [];
      for (let i = 0; i < nDims; i++) ne.push(await c.i32());
      const name = await c.str(nameLen);
      const want = expected.get(name);
      if (!want) throw invalid(`unknown tensor '${name}'`);
      if (seen.has(name)) throw invalid(`tensor '${name}' appears twice`);
      seen.add(name);
      const got = [...ne, 1, 1, 1].slice(0, 3);
      const exp = [...want.ne, 1, 1, 1].slice(0, 3);
      if (got.some((v, i) => v !== exp[i])) throw invalid(`tensor '${name}' has shape [${ne}] instead of [${want.ne}]`);
      const fileType = GGML_TYPES[ttype];
      const memType = GGML_TYPES[want.type];
      if (!fileType || !memType) throw invalid(`tensor '${name}' has unsupported type ${ttype}`);
      const n = want.ne.reduce((a, b) => a * b, 1);
      if ((want.ne[0] ?? 0) % memType[1] !== 0) throw invalid(`tensor '${name}' row is not a whole number of blocks`);
      const nbytes = (n / memType[1]) * memType[0];
      if ((n * fileType[0]) / memType[1] !== nbytes) throw invalid(`tensor '${name}' is stored as type ${ttype}, expected ${want.type}`);
      if (c.pos + nbytes > size) throw invalid(`tensor '${name}' is truncated (file ends ${c.pos + nbytes - size} bytes early)`);
      c.skip(nbytes);
    }
    if (seen.size !== expected.size) throw invalid(`${expected.size - seen.size} of ${expected.size} tensors missing`);

    const kinds: Record<number, string> = { 4: 'tiny', 6: 'base', 12: 'small', 24: 'medium', 32: 'large' };
    return {
      path: modelPath,
      sizeBytes: size,
      kind: kinds[nAudioLayer] ?? 'unknown',
      nVocab,
      nAudioState,
      nAudioLayer,
      nTextLayer,
      nMels,
      ftype,
      multilingual: nVocab >= 51865,
      tensors: seen.size,
    };
  } catch (err) {
    if (err instanceof TranscriptionError) throw err;
    throw invalid(err instanceof Error ? err.message : String(err));
  } finally {
    await fh.close();
  }
}

// ---------------------------------------------------------------------------------------------

export interface LocalWhisperOptions {
  /** ggml model file on disk (operators set WHISPER_MODEL_PATH). Never downloaded. */
  modelPath: string;
  /** Whisper language hint: 'ar' for Darija-first tenants, 'auto' to detect (costs one more encoder pass). */
  language?: string;
  /** Refuse longer notes ('too_long'). Default 300 s. */
  maxSeconds?: number;
  /** CPU threads for whisper.cpp. Default: available cores, at most 4. */
  threads?: number;
  /** 1 = greedy (default: fastest); 5 = beam search like openai-whisper's CLI. */
  beamSize?: number;
  /** Cap on tokens per 30 s window (0 = whisper.cpp's ~220). */
  maxTokensPerWindow?: number;
  /** whisper's temperature fallback on degenerate output. Default true. */
  temperatureFallback?: boolean;
  /** Injected engine (tests); default smart-whisper. */
  engine?: WhisperEngine;
}

const OGG_MIME = /^audio\/(ogg|opus)\b/i;
const WHISPER_WINDOW_SECONDS = 30;
// whisper.cpp silently returns nothing for under 1 s of audio, and drops a final piece under 1 s.
const WHISPER_MIN_SECONDS = 1;

/** True when whisper.cpp will see one 30 s window: then timestamp tokens buy nothing. */
export function fitsOneWindow(durationSeconds: number): boolean {
  return durationSeconds < WHISPER_WINDOW_SECONDS + WHISPER_MIN_SECONDS;
}

/** Pads very short notes ("wakha", "ok") with silence so whisper.cpp transcribes them. */
export function padForWhisper(pcm16k: Float32Array): Float32Array {
  const min = Math.ceil((WHISPER_MIN_SECONDS + 0.1) * 16000);
  if (pcm16k.length >= min) return pcm16k;
  const padded = new Float32Array(min);
  padded.set(pcm16k);
  return padded;
}

/** Maps whisper's language codes to the BCP-47-ish codes the rest of CoEx uses. */
function toLanguageTag(code: string | undefined): string | null {
  if (!code || code === 'auto') return null;
  return code.toLowerCase();
}

function abortable<T>(p: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return p;
  return new Promise<T>((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

export class LocalWhisperTranscriber implements Transcriber {
  readonly provider = 'local-whisper';
  readonly model: string;
  private readonly modelPath: string;
  private readonly language: string;
  private readonly maxSeconds: number;
  private readonly threads: number;
  private readonly beamSize: number;
  private readonly maxTokens: number;
  private readonly temperatureFallback: boolean;
  private readonly engine: WhisperEngine;
  private loading: Promise<LoadedWhisperModel> | null = null;
  private queue: Promise<void> = Promise.resolve();
  private closed = false;
  private loads = 0;

  constructor(options: LocalWhisperOptions) {
    this.modelPath = options.modelPath;
    this.model = options.modelPath ? basename(options.modelPath) : '(unset)';
    this.language = (options.language ?? 'auto').trim().toLowerCase() || 'auto';
    if (!/^(auto|[a-z]{2,3})$/.test(this.language)) throw new RangeError(`LocalWhisperTranscriber: language must be 'auto' or a Whisper language code, got '${options.language}'`);
    this.maxSeconds = options.maxSeconds ?? 300;
    if (!(this.maxSeconds > 0)) throw new RangeError('LocalWhisperTranscriber: maxSeconds must be positive');
    this.threads = options.threads ?? Math.max(1, Math.min(4, availableParallelism()));
    if (!Number.isInteger(this.threads) || this.threads < 1) throw new RangeError('LocalWhisperTranscriber: threads must be a positive integer');
    this.beamSize = options.beamSize ?? 1;
    if (!Number.isInteger(this.beamSize) || this.beamSize < 1 || this.beamSize > 8) throw new RangeError('LocalWhisperTranscriber: beamSize must be an integer from 1 to 8');
    this.maxTokens = options.maxTokensPerWindow ?? 0;
    this.temperatureFallback = options.temperatureFallback ?? true;
    this.engine = options.engine ?? smartWhisperEngine;
  }

  /** Builds one from the environment: WHISPER_MODEL_PATH (required), WHISPER_LANGUAGE, WHISPER_THREADS. */
  static fromEnv(env: NodeJS.ProcessEnv = process.env, overrides: Partial<LocalWhisperOptions> = {}): LocalWhisperTranscriber {
    const threads = env.WHISPER_THREADS ? Number(env.WHISPER_THREADS) : undefined;
    return new LocalWhisperTranscriber({
      modelPath: env.WHISPER_MODEL_PATH ?? '',
      ...(env.WHISPER_LANGUAGE ? { language: env.WHISPER_LANGUAGE } : {}),
      ...(threads !== undefined ? { threads } : {}),
      ...overrides,
    });
  }

  /** How many times the model was actually loaded (for tests and metrics). */
  get modelLoads(): number {
    return this.loads;
  }

  /** Validates and loads the model now instead of on the first note (e.g. at worker start). */
  async warmUp(): Promise<WhisperModelInfo> {
    const info = await inspectWhisperModel(this.modelPath);
    await this.loadedModel();
    return info;
  }

  private loadedModel(): Promise<LoadedWhisperModel> {
    if (this.closed) return Promise.reject(new TranscriptionError('local whisper transcriber is closed', false, 'closed'));
    if (!this.loading) {
      this.loading = (async () => {
        await inspectWhisperModel(this.modelPath);
        try {
          const m = await this.engine.load(this.modelPath);
          this.loads++;
          return m;
        } catch (err) {
          if (err instanceof TranscriptionError) throw err;
          const why = err instanceof Error ? err.message : String(err);
          throw new TranscriptionError(`whisper.cpp could not load ${this.modelPath}: ${why}`, false, 'model_invalid');
        }
      })();
      // Do not cache failures: an operator who fixes the file should not have to restart.
      this.loading.catch(() => {
        this.loading = null;
      });
    }
    return this.loading;
  }

  /** Runs fn alone; the slot is held until the native job really ends, even if the caller aborted. */
  private async exclusive<T>(fn: () => Promise<T>, signal: AbortSignal | undefined): Promise<T> {
    const previous = this.queue;
    let release!: () => void;
    const mine = new Promise<void>((r) => (release = r));
    this.queue = previous.then(() => mine);
    let started = false;
    try {
      await abortable(previous, signal);
      signal?.throwIfAborted();
      let job: Promise<T>;
      try {
        job = fn();
      } catch (err) {
        job = Promise.reject(err);
      }
      started = true;
      job.then(release, release);
      return await abortable(job, signal);
    } finally {
      if (!started) release();
    }
  }

  async transcribe(input: TranscriptionInput, signal?: AbortSignal): Promise<TranscriptionResult> {
    signal?.throwIfAborted();
    if (!input || !(input.audio instanceof Uint8Array)) throw new TypeError('LocalWhisperTranscriber.transcribe: input.audio must be a Buffer');
    if (input.mimeType && !OGG_MIME.test(input.mimeType)) {
      throw new TranscriptionError(`local whisper only reads OGG/Opus voice notes, got '${input.mimeType}'`, false, 'unsupported_media');
    }
    const model = await abortable(this.loadedModel(), signal);
    const decoded = await decodeVoiceNote(input.audio, { maxSeconds: this.maxSeconds, ...(signal ? { signal } : {}) });

    const base: WhisperRunParams = {
      language: this.language,
      translate: false,
      threads: this.threads,
      beamSize: this.beamSize,
      // Timestamps only matter for splitting long audio at word boundaries; one window needs none.
      noTimestamps: fitsOneWindow(decoded.durationSeconds),
      maxTokens: this.maxTokens,
      temperatureFallback: this.temperatureFallback,
    };
    const pcm = padForWhisper(decoded.pcm16k);
    const segments = await this.exclusive(() => model.transcribe(pcm, base), signal);
    const text = joinSegments(segments);
    const detected = segments.find((s) => s.lang)?.lang ?? (this.language === 'auto' ? undefined : this.language);

    // Whisper can only translate into English; French translations come from the Gemini provider.
    let translation: string | null = null;
    if (input.translateTo === 'en' && detected !== 'en' && text !== '') {
      const translated = await this.exclusive(() => model.transcribe(pcm, { ...base, language: detected ?? 'auto', translate: true }), signal);
      translation = joinSegments(translated) || null;
    }

    return {
      text,
      language: toLanguageTag(detected),
      provider: this.provider,
      model: this.model,
      durationSeconds: Math.round(decoded.durationSeconds * 1000) / 1000,
      translation,
    };
  }

  /** Frees the native model once in-flight jobs finish. Further calls fail with code 'closed'. */
  async close(): Promise<void> {
    this.closed = true;
    const loading = this.loading;
    this.loading = null;
    await this.queue;
    if (loading) {
      const m = await loading.catch(() => null);
      await m?.free();
    }
  }
}

function joinSegments(segments: WhisperSegment[]): string {
  return segments
    .map((s) => s.text)
    .join(' ')
    .replace(/\s+/g, ' ')
    .trim();
}
