#!/usr/bin/env node
// Writes a whisper.cpp ggml model file with the REAL tiny (or base) dimensions and random weights.
//
// Why: no real Whisper weights can be downloaded here (offline machines, offline CI), but the
// encoder's cost does not depend on the weights, so a model with the right shapes measures latency
// and memory honestly and exercises the whole load → encode → decode path of the binding. Its output
// is junk tokens: tests that use it assert shape and plumbing, never the text.
//
// Layout (what whisper.cpp's whisper_model_load reads, little-endian, no padding):
//   u32 magic 'ggml' | 11 × i32 hparams | i32 n_mel, i32 n_fft, f32[n_mel × n_fft] mel filters
//   | i32 n_tokens, n_tokens × (u32 len, bytes) | tensors: i32 n_dims, i32 name_len, i32 type
//   (0 = f32, 1 = f16), i32 ne[n_dims] (fastest-varying first), name, data.
// What is real: hparams, the Slaney mel filterbank Whisper uses (80 × 201), the sinusoidal encoder
// positional embedding, every tensor name/shape/type. What is not: the vocabulary (synthetic
// syllables, valid UTF-8) and all learned weights (seeded uniform noise scaled by 1/sqrt(fan_in)).
//
// Usage: node scripts/make-test-whisper-model.mjs [--size tiny|base] [--out PATH] [--seed N] [--never-eot] [--force]
// Default out: test/.models/ggml-<size>-random.bin (that folder ignores itself via its .gitignore).

import { closeSync, existsSync, mkdirSync, openSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const GGML_MAGIC = 0x67676d6c;
const TYPE_F32 = 0;
const TYPE_F16 = 1;

/** Real Whisper hyper-parameters (openai/whisper model cards, multilingual vocab). */
export const DIMENSIONS = {
  tiny: { n_vocab: 51865, n_audio_ctx: 1500, n_state: 384, n_head: 6, n_layer: 4, n_text_ctx: 448, n_mels: 80 },
  base: { n_vocab: 51865, n_audio_ctx: 1500, n_state: 512, n_head: 8, n_layer: 6, n_text_ctx: 448, n_mels: 80 },
};

/** Tokens stored in the file; whisper.cpp adds the special tokens (eot, sot, languages, timestamps) itself. */
const FILE_VOCAB = 50257;

function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// librosa.filters.mel(sr=16000, n_fft=400, n_mels=80) with Slaney scale and Slaney norm: what
// openai/whisper ships as mel_filters.npz and whisper.cpp's converter copies into the model file.
function hzToMel(f) {
  const fSp = 200 / 3;
  const minLogHz = 1000;
  const minLogMel = minLogHz / fSp;
  const logStep = Math.log(6.4) / 27;
  return f >= minLogHz ? minLogMel + Math.log(f / minLogHz) / logStep : f / fSp;
}
function melToHz(m) {
  const fSp = 200 / 3;
  const minLogHz = 1000;
  const minLogMel = minLogHz / fSp;
  const logStep = Math.log(6.4) / 27;
  return m >= minLogMel ? minLogHz * Math.exp(logStep * (m - minLogMel)) : fSp * m;
}
export function slaneyMelFilters(nMels = 80, nFft = 400, sampleRate = 16000) {
  const nBins = 1 + Math.floor(nFft / 2);
  const fftFreqs = Array.from({ length: nBins }, (_, i) => (i * sampleRate) / 2 / (nBins - 1));
  const melMin = hzToMel(0);
  const melMax = hzToMel(sampleRate / 2);
  const melF = Array.from({ length: nMels + 2 }, (_, i) => melToHz(melMin + ((melMax - melMin) * i) / (nMels + 1)));
  const out = new Float32Array(nMels * nBins);
  for (let m = 0; m < nMels; m++) {
    const enorm = 2 / (melF[m + 2] - melF[m]);
    for (let k = 0; k < nBins; k++) {
      const lower = (fftFreqs[k] - melF[m]) / (melF[m + 1] - melF[m]);
      const upper = (melF[m + 2] - fftFreqs[k]) / (melF[m + 2] - melF[m + 1]);
      out[m * nBins + k] = Math.max(0, Math.min(lower, upper)) * enorm;
    }
  }
  return { nMels, nBins, data: out };
}

function syntheticVocab(rand) {
  const latin = ['b', 'd', 'f', 'k', 'l', 'm', 'n', 'r', 's', 't', 'w', 'z'];
  const vowels = ['a', 'i', 'ou', 'e'];
  const arabic = ['ب', 'د', 'ف', 'ك', 'ل', 'م', 'ن', 'ر', 'س', 'ت', 'و', 'ي'];
  // Like Whisper's byte-level BPE, the first 256 tokens are the single bytes in GPT-2's order
  // (whisper.cpp looks some up by text, e.g. " " when suppressing blanks); the rest are syllables.
  const printable = [];
  for (let b = 0x21; b <= 0x7e; b++) printable.push(b);
  for (let b = 0xa1; b <= 0xac; b++) printable.push(b);
  for (let b = 0xae; b <= 0xff; b++) printable.push(b);
  const order = [...printable];
  for (let b = 0; b < 256; b++) if (!printable.includes(b)) order.push(b);
  const tokens = order.map((b) => Buffer.from([b]));
  for (let i = tokens.length; i < FILE_VOCAB; i++) {
    const space = rand() < 0.4 ? ' ' : '';
    const syllables = 1 + Math.floor(rand() * 2);
    let word = '';
    for (let s = 0; s < syllables; s++) {
      word += i % 3 === 0
        ? arabic[Math.floor(rand() * arabic.length)] + 'ا'
        : latin[Math.floor(rand() * latin.length)] + vowels[Math.floor(rand() * vowels.length)];
    }
    tokens.push(Buffer.from(space + word, 'utf8'));
  }
  return tokens;
}

/** Every tensor whisper.cpp expects, with ggml shapes (ne[0] fastest) and file types. */
function tensorSpecs(d) {
  const s = d.n_state;
  const specs = [];
  const add = (name, ne, type, init) => specs.push({ name, ne, type, init });
  add('encoder.positional_embedding', [s, d.n_audio_ctx], TYPE_F32, { kind: 'sinusoids' });
  add('encoder.conv1.weight', [3, d.n_mels, s], TYPE_F16, { kind: 'random', fanIn: 3 * d.n_mels });
  add('encoder.conv1.bias', [1, s], TYPE_F32, { kind: 'zeros' });
  add('encoder.conv2.weight', [3, s, s], TYPE_F16, { kind: 'random', fanIn: 3 * s });
  add('encoder.conv2.bias', [1, s], TYPE_F32, { kind: 'zeros' });
  add('encoder.ln_post.weight', [s], TYPE_F32, { kind: 'ones' });
  add('encoder.ln_post.bias', [s], TYPE_F32, { kind: 'zeros' });
  const block = (prefix, cross) => {
    add(`${prefix}.mlp_ln.weight`, [s], TYPE_F32, { kind: 'ones' });
    add(`${prefix}.mlp_ln.bias`, [s], TYPE_F32, { kind: 'zeros' });
    add(`${prefix}.mlp.0.weight`, [s, 4 * s], TYPE_F16, { kind: 'random', fanIn: s });
    add(`${prefix}.mlp.0.bias`, [4 * s], TYPE_F32, { kind: 'zeros' });
    add(`${prefix}.mlp.2.weight`, [4 * s, s], TYPE_F16, { kind: 'random', fanIn: 4 * s });
    add(`${prefix}.mlp.2.bias`, [s], TYPE_F32, { kind: 'zeros' });
    const attn = (a) => {
      add(`${prefix}.${a}_ln.weight`, [s], TYPE_F32, { kind: 'ones' });
      add(`${prefix}.${a}_ln.bias`, [s], TYPE_F32, { kind: 'zeros' });
      add(`${prefix}.${a}.query.weight`, [s, s], TYPE_F16, { kind: 'random', fanIn: s });
      add(`${prefix}.${a}.query.bias`, [s], TYPE_F32, { kind: 'zeros' });
      add(`${prefix}.${a}.key.weight`, [s, s], TYPE_F16, { kind: 'random', fanIn: s });
      add(`${prefix}.${a}.value.weight`, [s, s], TYPE_F16, { kind: 'random', fanIn: s });
      add(`${prefix}.${a}.value.bias`, [s], TYPE_F32, { kind: 'zeros' });
      add(`${prefix}.${a}.out.weight`, [s, s], TYPE_F16, { kind: 'random', fanIn: s });
      add(`${prefix}.${a}.out.bias`, [s], TYPE_F32, { kind: 'zeros' });
    };
    attn('attn');
    if (cross) attn('cross_attn');
  };
  for (let i = 0; i < d.n_layer; i++) block(`encoder.blocks.${i}`, false);
  add('decoder.positional_embedding', [s, d.n_text_ctx], TYPE_F32, { kind: 'random', fanIn: 10_000 });
  add('decoder.token_embedding.weight', [s, d.n_vocab], TYPE_F16, { kind: 'random', fanIn: s });
  add('decoder.ln.weight', [s], TYPE_F32, { kind: 'ones' });
  add('decoder.ln.bias', [s], TYPE_F32, { kind: 'zeros' });
  for (let i = 0; i < d.n_layer; i++) block(`decoder.blocks.${i}`, true);
  return specs;
}

function sinusoids(length, channels) {
  const half = channels / 2;
  const inc = Math.log(10000) / (half - 1);
  const out = new Float32Array(length * channels);
  for (let t = 0; t < length; t++) {
    for (let c = 0; c < half; c++) {
      const x = t * Math.exp(-inc * c);
      out[t * channels + c] = Math.sin(x);
      out[t * channels + half + c] = Math.cos(x);
    }
  }
  return out;
}

// Filling ~40 M values one PRNG call at a time is slow in JS; copying windows of a 1 M-value noise
// pool at random offsets is fast and still gives weights with no structure, which is all we need.
const POOL = 1 << 20;
function makePools(rand) {
  const unit = new Float32Array(POOL);
  for (let i = 0; i < POOL; i++) unit[i] = (rand() * 2 - 1) * Math.sqrt(3); // unit variance
  const f16 = new Map();
  const f32 = new Map();
  return {
    f16(fanIn) {
      let pool = f16.get(fanIn);
      if (!pool) {
        const arr = new Float16Array(POOL);
        const scale = 1 / Math.sqrt(fanIn);
        for (let i = 0; i < POOL; i++) arr[i] = unit[i] * scale;
        pool = Buffer.from(arr.buffer);
        f16.set(fanIn, pool);
      }
      return pool;
    },
    f32(fanIn) {
      let pool = f32.get(fanIn);
      if (!pool) {
        const arr = new Float32Array(POOL);
        const scale = 1 / Math.sqrt(fanIn);
        for (let i = 0; i < POOL; i++) arr[i] = unit[i] * scale;
        pool = Buffer.from(arr.buffer);
        f32.set(fanIn, pool);
      }
      return pool;
    },
  };
}

function i32(...values) {
  const b = Buffer.alloc(4 * values.length);
  values.forEach((v, i) => b.writeInt32LE(v, 4 * i));
  return b;
}

function tensorData(spec, pools, rand, d) {
  const n = spec.ne.reduce((a, b) => a * b, 1);
  const bytesPer = spec.type === TYPE_F16 ? 2 : 4;
  const size = n * bytesPer;
  const { kind } = spec.init;
  if (kind === 'sinusoids') return Buffer.from(sinusoids(d.n_audio_ctx, d.n_state).buffer);
  if (kind === 'zeros') return Buffer.alloc(size);
  if (kind === 'ones') return Buffer.from(new Float32Array(n).fill(1).buffer);
  const pool = spec.type === TYPE_F16 ? pools.f16(spec.init.fanIn) : pools.f32(spec.init.fanIn);
  const out = Buffer.allocUnsafe(size);
  const window = 64 * 1024;
  for (let off = 0; off < size; off += window) {
    const len = Math.min(window, size - off);
    const start = Math.floor(rand() * (pool.length - window) / bytesPer) * bytesPer;
    pool.copy(out, off, start, start + len);
  }
  return out;
}

/**
 * Writes the model to outPath (atomically: temp file then rename, so parallel test workers never see
 * a half-written file). Returns the path and size in bytes. Skips the work when the file exists
 * unless force is set.
 */
export function makeTestWhisperModel({ size = 'tiny', outPath, seed = 1, force = false, neverEot = false } = {}) {
  const d = DIMENSIONS[size];
  if (!d) throw new Error(`unknown model size '${size}' (expected one of: ${Object.keys(DIMENSIONS).join(', ')})`);
  const out = resolve(outPath ?? defaultModelPath(size));
  if (existsSync(out) && !force) return { path: out, created: false };
  mkdirSync(dirname(out), { recursive: true });
  ensureSelfIgnoringDir(dirname(out));

  const rand = mulberry32(seed);
  const pools = makePools(rand);
  const tmp = `${out}.${process.pid}.${Date.now()}.tmp`;
  const fd = openSync(tmp, 'w');
  let bytes = 0;
  const write = (buf) => {
    writeSync(fd, buf);
    bytes += buf.length;
  };
  try {
    const hdr = Buffer.alloc(4);
    hdr.writeUInt32LE(GGML_MAGIC, 0);
    write(hdr);
    write(i32(d.n_vocab, d.n_audio_ctx, d.n_state, d.n_head, d.n_layer, d.n_text_ctx, d.n_state, d.n_head, d.n_layer, d.n_mels, 1 /* ftype: mostly f16 */));
    const mel = slaneyMelFilters(d.n_mels);
    write(i32(mel.nMels, mel.nBins));
    write(Buffer.from(mel.data.buffer));
    const vocab = syntheticVocab(rand);
    write(i32(vocab.length));
    for (const tok of vocab) {
      const len = Buffer.alloc(4);
      len.writeUInt32LE(tok.length, 0);
      write(len);
      write(tok);
    }
    // --never-eot: the final decoder LayerNorm outputs a constant vector b (weight 0, bias b) and the
    // end-of-text embedding is −b, so greedy decoding never ends a window on its own and always runs
    // to the token cap: benchmarks then time a known number of decoder steps instead of whatever a
    // random model happens to emit.
    const bias = Float32Array.from({ length: d.n_state }, () => (rand() * 2 - 1) * Math.sqrt(3));
    const EOT = 50257; // multilingual vocabularies: 50256 + 1
    for (const spec of tensorSpecs(d)) {
      const name = Buffer.from(spec.name, 'utf8');
      write(i32(spec.ne.length, name.length, spec.type, ...spec.ne));
      write(name);
      let data = tensorData(spec, pools, rand, d);
      if (neverEot && spec.name === 'decoder.ln.weight') data = Buffer.alloc(data.length);
      if (neverEot && spec.name === 'decoder.ln.bias') data = Buffer.from(bias.buffer.slice(0));
      if (neverEot && spec.name === 'decoder.token_embedding.weight') {
        const row = Buffer.from(Float16Array.from(bias, (v) => -v).buffer);
        row.copy(data, EOT * d.n_state * 2);
      }
      write(data);
    }
    closeSync(fd);
    renameSync(tmp, out);
  } catch (err) {
    try { closeSync(fd); } catch { /* already closed */ }
    rmSync(tmp, { force: true });
    throw err;
  }
  return { path: out, created: true, bytes };
}

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export function defaultModelPath(size = 'tiny') {
  return join(repoRoot, 'test', '.models', `ggml-${size}-random.bin`);
}

// A generated 75–150 MB file must never be committed: the folder carries a .gitignore of '*'.
function ensureSelfIgnoringDir(dir) {
  const gi = join(dir, '.gitignore');
  if (dir.startsWith(join(repoRoot, 'test')) && !existsSync(gi)) writeFileSync(gi, '# generated models: never commit\n*\n');
}

function parseArgs(argv) {
  const args = { size: 'tiny', outPath: undefined, seed: 1, force: false, neverEot: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--size') args.size = argv[++i];
    else if (a === '--out') args.outPath = argv[++i];
    else if (a === '--seed') args.seed = Number(argv[++i]);
    else if (a === '--force') args.force = true;
    else if (a === '--never-eot') args.neverEot = true;
    else if (a === '--help' || a === '-h') {
      console.log('usage: make-test-whisper-model.mjs [--size tiny|base] [--out PATH] [--seed N] [--never-eot] [--force]');
      process.exit(0);
    } else throw new Error(`unknown argument '${a}'`);
  }
  if (!Number.isInteger(args.seed)) throw new Error('--seed must be an integer');
  return args;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const t0 = performance.now();
  const res = makeTestWhisperModel(parseArgs(process.argv.slice(2)));
  const ms = (performance.now() - t0).toFixed(0);
  console.log(res.created ? `wrote ${res.path} (${(res.bytes / 1e6).toFixed(1)} MB) in ${ms} ms` : `exists: ${res.path} (use --force to rewrite)`);
}
