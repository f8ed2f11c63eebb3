// Offline speech-to-text cost: real-time factor (compute seconds / audio seconds) and peak RSS for
// the committed 30-second Darija voice note through the product path (OGG/Opus decode → 16 kHz →
// LocalWhisperTranscriber → whisper.cpp via smart-whisper), against a baseline measured in the same
// run: decoding the same note alone.
//
// Models come from scripts/make-test-whisper-model.mjs --never-eot: real tiny (and, with
// BENCH_WHISPER_BASE=1, base) dimensions, random weights, and a decoder that never ends a window by
// itself. Encoder cost does not depend on weights, so it is honest as is; decoder cost depends on how
// many tokens come out, so every configuration decodes exactly TOKENS tokens per window (default 150:
// ~60 Darija words at ~2.5 of Whisper's byte-level BPE tokens per Arabic-script word) instead of
// whatever a random model happens to emit. The "loop" row is the worst case: output that looks
// degenerate (as a real model's hallucination loop on noise does) triggers whisper's temperature
// fallback, which re-decodes the window up to 5 times with 5 candidates each.
//
// Each configuration runs in a child process so peak RSS is its own, not the bench runner's.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, '..');
const FIXTURE = join(repo, 'test/fixtures/audio/darija-long-30s.ogg');
const RUNS = Number(process.env.BENCH_WHISPER_RUNS ?? 3);
const THREADS = Number(process.env.BENCH_WHISPER_THREADS ?? 2);
const TOKENS = Number(process.env.BENCH_WHISPER_TOKENS ?? 150);

const fmt = (n, d = 2) => n.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function modelPath(size) {
  const p = join(repo, 'test/.models', `ggml-${size}-random-noeot.bin`);
  if (!existsSync(p)) spawnSync(process.execPath, [join(repo, 'scripts/make-test-whisper-model.mjs'), '--size', size, '--never-eot', '--out', p], { stdio: 'inherit' });
  return p;
}

/** One configuration, in this (child) process. Prints one JSON line. */
async function child(cfg) {
  const { decodeVoiceNote } = await import('../core/dist/transcription/decode.js');
  const { LocalWhisperTranscriber } = await import('../core/dist/transcription/local-whisper.js');
  const bytes = readFileSync(FIXTURE);
  const input = { audio: bytes, mimeType: 'audio/ogg; codecs=opus', darijaScript: 'arabic', translateTo: null };

  // Baseline: decode only (warm the WASM once first, as a long-lived worker would be).
  await decodeVoiceNote(bytes, { maxSeconds: 60 });
  const decodeTimes = [];
  let audioSeconds = 0;
  for (let i = 0; i < cfg.runs; i++) {
    const t = performance.now();
    audioSeconds = (await decodeVoiceNote(bytes, { maxSeconds: 60 })).durationSeconds;
    decodeTimes.push((performance.now() - t) / 1000);
  }
  const rssBeforeModel = process.memoryUsage().rss;

  const whisper = new LocalWhisperTranscriber({
    modelPath: cfg.model, language: cfg.language, threads: cfg.threads, temperatureFallback: cfg.fallback, beamSize: cfg.beam, maxTokensPerWindow: cfg.tokens,
  });
  let t = performance.now();
  await whisper.warmUp();
  const loadSeconds = (performance.now() - t) / 1000;
  const times = [];
  const cpu = [];
  let words = 0;
  for (let i = 0; i < cfg.runs; i++) {
    const c0 = process.cpuUsage();
    t = performance.now();
    const r = await whisper.transcribe(input);
    times.push((performance.now() - t) / 1000);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1e6);
    words = r.text.split(/\s+/).filter(Boolean).length;
  }
  await whisper.close();
  console.log(JSON.stringify({
    audioSeconds,
    decodeSeconds: median(decodeTimes),
    transcribeSeconds: median(times),
    minTranscribeSeconds: Math.min(...times),
    cpuSeconds: median(cpu),
    loadSeconds,
    rssBeforeModelMB: rssBeforeModel / 2 ** 20,
    peakRssMB: process.resourceUsage().maxRSS / 1024,
    words,
  }));
}

function measure(cfg) {
  const res = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--child', JSON.stringify(cfg)], { encoding: 'utf8', maxBuffer: 1 << 24 });
  const line = res.stdout.trim().split('\n').filter((l) => l.startsWith('{')).at(-1);
  if (res.status !== 0 || !line) throw new Error(`transcription bench child failed (${res.status}):\n${res.stderr.split('\n').filter((l) => !/^(whisper_|ggml_)/.test(l)).join('\n').slice(-2000)}`);
  return JSON.parse(line);
}

export async function run() {
  console.log(`\n# Offline transcription: 30 s Darija voice note (OGG/Opus 16 kbit/s), whisper.cpp via smart-whisper, ${THREADS} threads, ${TOKENS} decoder tokens, median of ${RUNS}`);
  const configs = [
    { name: 'tiny ar   greedy        ', size: 'tiny', language: 'ar', fallback: false, beam: 1, tokens: TOKENS },
    { name: 'tiny auto greedy        ', size: 'tiny', language: 'auto', fallback: false, beam: 1, tokens: TOKENS },
    { name: 'tiny ar   loop+fallback ', size: 'tiny', language: 'ar', fallback: true, beam: 1, tokens: 0, runs: 1 },
  ];
  if (process.env.BENCH_WHISPER_BASE === '1') configs.push({ name: 'base ar   greedy        ', size: 'base', language: 'ar', fallback: false, beam: 1, tokens: TOKENS, runs: 1 });
  const rows = [];
  for (const c of configs) {
    const r = measure({ model: modelPath(c.size), language: c.language, fallback: c.fallback, beam: c.beam, tokens: c.tokens, threads: THREADS, runs: c.runs ?? RUNS });
    const rtf = r.transcribeSeconds / r.audioSeconds;
    const decodeRtf = r.decodeSeconds / r.audioSeconds;
    console.log(
      `${c.name}  transcribe RTF ${fmt(rtf, 3)} (decode-only baseline ${fmt(decodeRtf, 4)}, ratio ${fmt(rtf / decodeRtf, 0)}x)  ` +
        `${fmt(r.transcribeSeconds)} s wall (best ${fmt(r.minTranscribeSeconds)}), ${fmt(r.cpuSeconds)} CPU-s per note, load ${fmt(r.loadSeconds)} s, ` +
        `peak RSS ${fmt(r.peakRssMB, 0)} MB (${fmt(r.rssBeforeModelMB, 0)} MB before the model)`,
    );
    rows.push({ ...c, ...r, rtf, decodeRtf });
  }
  const slow = rows.find((r) => r.size === 'tiny' && r.language === 'ar' && !r.fallback && r.rtf > 0.2);
  if (slow) console.log('note: tiny above RTF 0.2 usually means whisper.cpp was built without AVX2/FMA/F16C: see docs/decisions/local-speech-to-text.md');
  return rows;
}

if (process.argv[2] === '--child') await child(JSON.parse(process.argv[3]));
else if (import.meta.url === `file://${process.argv[1]}`) await run();
