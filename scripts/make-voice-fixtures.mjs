#!/usr/bin/env node
// Regenerates test/fixtures/audio/*.ogg and manifest.json: synthetic voice notes with KNOWN texts.
//
// Speech comes from espeak-ng (voices: ar, fr-fr, en-us), encoded like a WhatsApp voice note:
// OGG/Opus, mono, 48 kHz, 16 kbit/s, VoIP application. The outputs are committed, so neither tests
// nor the product need these tools; only whoever changes the fixtures does:
//   apt-get install -y espeak-ng ffmpeg sox
//   node scripts/make-voice-fixtures.mjs
// espeak-ng is a formant synthesizer with no Moroccan voice: the "Darija" fixtures are Darija text
// in Arabic letters read with the Arabic voice. They test plumbing and WER code, not accuracy.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createHash } from 'node:crypto';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const outDir = join(repoRoot, 'test', 'fixtures', 'audio');
const work = mkdtempSync(join(tmpdir(), 'coex-voice-'));

const VOICES = { ar: 'ar', fr: 'fr-fr', en: 'en-us' };

/** Each fixture: segments of [language, text]; several segments = code-switching. */
const FIXTURES = [
  {
    file: 'darija-order-status.ogg',
    language: 'ar',
    variety: 'darija',
    segments: [['ar', 'السلام عليكم، بغيت نعرف واش الكوموند ديالي وصلات ولا باقي. خلصت البارح بالكارط، وما جاني حتى ميساج.']],
  },
  {
    file: 'french-delivery.ogg',
    language: 'fr',
    variety: null,
    segments: [['fr', "Bonjour, je voudrais savoir si ma commande est bien partie. Pouvez-vous me rappeler demain matin, s'il vous plaît ?"]],
  },
  {
    file: 'english-tracking.ogg',
    language: 'en',
    variety: null,
    segments: [['en', 'Hello, I ordered two blue shirts last week and I still have not received a tracking number. Can you check it for me?']],
  },
  {
    file: 'darija-french-codeswitch.ogg',
    language: 'ar',
    variety: 'darija+fr',
    segments: [
      ['ar', 'واخا، ولكن'],
      ['fr', 'la livraison'],
      ['ar', 'تعطلات بزاف،'],
      ['fr', "est-ce que c'est possible d'avoir"],
      ['ar', 'الفلوس ديالي'],
      ['fr', 'avant vendredi ?'],
    ],
  },
  {
    // The benchmark's clip: padded with trailing silence to exactly 30 s, as voice notes often end.
    file: 'darija-long-30s.ogg',
    language: 'ar',
    variety: 'darija',
    padToSeconds: 30,
    segments: [['ar', 'السلام عليكم خويا، أنا سميتي يوسف من الدار البيضاء. شريت من عندكم واحد التلفون الأسبوع اللي فات، ولكن ملي وصلني لقيت الشاشة مهرسة شوية من الجنب. بغيت نعرف واش ممكن تبدلوه ليا ولا ترجعو ليا الفلوس. عافاك جاوبني فاش تقدر، حيت محتاج التلفون للخدمة.']],
  },
  {
    // Not WhatsApp-like on purpose: stereo, to test the downmix path.
    file: 'stereo-french-short.ogg',
    language: 'fr',
    variety: null,
    channels: 2,
    bitrate: '24k',
    segments: [['fr', 'Merci beaucoup, à demain.']],
  },
];

function run(cmd, args) {
  return execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
}

function probeSeconds(path) {
  return Number(run('ffprobe', ['-v', 'error', '-show_entries', 'format=duration', '-of', 'csv=p=0', path]).trim());
}

const manifest = {
  generator: 'scripts/make-voice-fixtures.mjs',
  synthesizer: run('espeak-ng', ['--version']).replace(/\s+Data at:.*$/s, '').trim(),
  encoding: 'OGG/Opus via ffmpeg libopus: -b:a 16k -application voip, 48 kHz, mono unless noted',
  files: [],
};

try {
  for (const fx of FIXTURES) {
    const parts = fx.segments.map(([lang, text], i) => {
      const wav = join(work, `${fx.file}.${i}.wav`);
      run('espeak-ng', ['-v', VOICES[lang], '-s', '150', '-w', wav, text]);
      return wav;
    });
    let speech = join(work, `${fx.file}.speech.wav`);
    if (parts.length === 1) speech = parts[0];
    else run('sox', [...parts, speech]);
    if (fx.padToSeconds) {
      const have = probeSeconds(speech);
      if (have > fx.padToSeconds) throw new Error(`${fx.file}: speech is ${have}s, longer than ${fx.padToSeconds}s`);
      const padded = join(work, `${fx.file}.padded.wav`);
      run('sox', [speech, padded, 'pad', '0', (fx.padToSeconds - have).toFixed(3)]);
      speech = padded;
    }
    const channels = fx.channels ?? 1;
    const input = channels === 2 ? ['-filter_complex', '[0:a]pan=stereo|c0=c0|c1=0.5*c0[a]', '-map', '[a]'] : [];
    const out = join(outDir, fx.file);
    run('ffmpeg', [
      '-y', '-v', 'error', '-i', speech, ...input,
      '-ar', '48000', '-ac', String(channels),
      '-c:a', 'libopus', '-b:a', fx.bitrate ?? '16k', '-application', 'voip',
      '-map_metadata', '-1', '-fflags', '+bitexact', '-flags:a', '+bitexact', out,
    ]);
    const bytes = readFileSync(out);
    manifest.files.push({
      file: fx.file,
      language: fx.language,
      variety: fx.variety,
      languages: [...new Set(fx.segments.map(([l]) => l))],
      channels,
      text: fx.segments.map(([, t]) => t).join(' '),
      durationSeconds: Math.round(probeSeconds(out) * 1000) / 1000,
      bytes: statSync(out).size,
      sha256: createHash('sha256').update(bytes).digest('hex'),
    });
  }

  // An OGG container holding Vorbis, not Opus: the decoder must refuse it cleanly.
  const vorbisOut = join(outDir, 'not-opus-vorbis.ogg');
  const src = join(work, 'vorbis.wav');
  run('espeak-ng', ['-v', 'en-us', '-w', src, 'This is not opus.']);
  run('ffmpeg', ['-y', '-v', 'error', '-i', src, '-ac', '1', '-c:a', 'libvorbis', '-q:a', '0', '-map_metadata', '-1', '-fflags', '+bitexact', '-flags:a', '+bitexact', vorbisOut]);
  manifest.files.push({
    file: 'not-opus-vorbis.ogg',
    language: 'en',
    variety: null,
    languages: ['en'],
    channels: 1,
    text: 'This is not opus.',
    durationSeconds: Math.round(probeSeconds(vorbisOut) * 1000) / 1000,
    bytes: statSync(vorbisOut).size,
    sha256: createHash('sha256').update(readFileSync(vorbisOut)).digest('hex'),
    codec: 'vorbis',
  });

  writeFileSync(join(outDir, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
  const total = manifest.files.reduce((a, f) => a + f.bytes, 0);
  for (const f of manifest.files) console.log(`${f.file.padEnd(32)} ${f.durationSeconds.toFixed(2).padStart(6)} s ${String(f.bytes).padStart(7)} B`);
  console.log(`total ${(total / 1024).toFixed(1)} KB`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
