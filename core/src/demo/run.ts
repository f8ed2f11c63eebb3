import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../config.js';
import { createLogger } from '../logger.js';
import { Runtime } from '../runtime.js';
import { signBody } from '../webhooks/signature.js';
import { businessProfileSchema } from '../agent/offline-responder.js';
import { setTenantProfile } from '../store/tenants.js';
import { listMessages, listThreads } from '../store/queries.js';
import { startGraphStandIn } from './graph-stand-in.js';
import { DEMO_LABELS, type DemoLanguage } from './labels.js';
import { renderThreads, type RenderedThread } from './print.js';
import { DEMO_NUMBER, DEMO_VOICE_MEDIA_ID, demoDeliveries } from './scenario.js';

/** Repository files the demo plays with (resolved from core/src/demo or core/dist/demo alike). */
const EXAMPLES = fileURLToPath(new URL('../../../examples/', import.meta.url));
export const DEMO_PROFILE_PATH = join(EXAMPLES, 'knowledge', 'atlas-shop.json');
export const DEMO_VOICE_NOTE_PATH = join(EXAMPLES, 'demo', 'voice-note-darija.ogg');

export interface DemoOptions {
  /** The owner's language for everything the demo says (the conversation itself is never translated). */
  language: DemoLanguage;
  /** Keep the embedded database here instead of a temporary directory. */
  dataDir?: string;
  /** Use this PostgreSQL instead of the embedded database (tests). */
  databaseUrl?: string;
  /** A ggml Whisper model on disk: the voice note is transcribed locally with it. */
  whisperModelPath?: string;
  /** How long to wait for the agent and the transcription once the webhooks are in. */
  settleTimeoutMs?: number;
  /** Where each line goes as it is produced (default: console.log). */
  print?: (line: string) => void;
  now?: number;
}

export interface DemoResult {
  /** Everything printed, joined with newlines. */
  output: string;
  /** What the agent sent to the (stand-in) Graph API. */
  sent: Array<{ phoneNumberId: string; body: unknown }>;
  threads: RenderedThread[];
  /** The tenant's quiet period, seconds (for checking "paused until"). */
  quietPeriodSeconds: number;
}

/**
 * `coex demo`: plays a Coexistence day through the real signed webhook endpoint of a throwaway
 * CoEx, with the offline FAQ agent answering (a local stand-in takes the place of Meta's Graph API:
 * media download and sends), the voice note transcribed on this machine when a Whisper model is
 * given, and prints the threads in the owner's language.
 */
export async function runDemo(opts: DemoOptions): Promise<DemoResult> {
  const labels = DEMO_LABELS[opts.language];
  const out: string[] = [];
  const print = (line: string) => {
    out.push(line);
    (opts.print ?? console.log)(line);
  };
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'coex-demo-'));
  const voice = readFileSync(DEMO_VOICE_NOTE_PATH);
  const graph = await startGraphStandIn(new Map([[DEMO_VOICE_MEDIA_ID, { bytes: voice, mimeType: 'audio/ogg' }]]));
  const modelPath = opts.whisperModelPath && existsSync(opts.whisperModelPath) ? opts.whisperModelPath : undefined;
  const secret = randomBytes(16).toString('hex');
  const cfg = loadConfig(
    {},
    {
      DATA_DIR: dataDir,
      DATABASE_URL: opts.databaseUrl,
      WHATSAPP_APP_SECRET: secret,
      COEX_API_TOKEN: randomBytes(16).toString('hex'),
      LOG_LEVEL: 'warn',
      GRAPH_API_BASE_URL: graph.url,
      WHATSAPP_ACCESS_TOKEN: 'demo-access-token',
      WHISPER_MODEL_PATH: modelPath,
    },
  );
  let runtime: Runtime | undefined;
  try {
    runtime = await Runtime.create({ config: cfg, logger: createLogger('warn'), pollingIntervalSeconds: 0.5, sweepIntervalMs: 1000, ephemeral: Boolean(opts.databaseUrl) });
    const profile = businessProfileSchema.parse(JSON.parse(readFileSync(DEMO_PROFILE_PATH, 'utf8')));
    await setTenantProfile(runtime.db, cfg.COEX_DEFAULT_TENANT, profile);
    const url = await runtime.listen(0, '127.0.0.1');
    const database = opts.databaseUrl ? 'PostgreSQL' : `embedded PostgreSQL (${join(dataDir, 'postgres')})`;
    print(`${labels.heading(database, `${url}/webhooks/whatsapp`)}\n`);

    const sha = createHash('sha256').update(voice).digest('hex');
    for (const d of demoDeliveries(opts.now ?? Date.now(), sha)) {
      const raw = JSON.stringify(d.body);
      const res = await fetch(`${url}/webhooks/whatsapp`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-hub-signature-256': signBody(raw, secret) }, body: raw });
      print(`  → ${res.status}  ${labels.deliveries[d.label]}`);
    }
    print(`\n${labels.waiting}`);
    await runtime.waitForInboxDrained(60_000);
    await waitForSettled(runtime, opts.settleTimeoutMs ?? 180_000);

    const db = runtime.db;
    const threads = await listThreads(db, null, { phoneNumberId: DEMO_NUMBER.phoneNumberId });
    const rendered: RenderedThread[] = [];
    for (const thread of threads) {
      const messages = (await listMessages(db, null, thread.id)) ?? [];
      const errors = await db.selectFrom('messages').select(['id', 'transcript_error']).where('thread_id', '=', thread.id).where('transcript_error', 'is not', null).execute();
      rendered.push({ thread, messages, transcriptErrors: new Map(errors.map((e) => [e.id, e.transcript_error ?? ''])) });
    }
    print(renderThreads(rendered, labels));
    const sync = await fetch(`${url}/api/v1/numbers/${DEMO_NUMBER.phoneNumberId}/sync`, { headers: { authorization: `Bearer ${cfg.COEX_API_TOKEN}` } });
    const state = (await sync.json()) as { history: { status: string; progress: number; chunks: number; messages: number } };
    print(`\n${labels.historySync(state.history.status, state.history.progress, state.history.chunks, state.history.messages)}`);
    print(labels.agentNote);
    if (modelPath) print(labels.transcriptionNote(`whisper.cpp (${modelPath})`));
    else print(opts.whisperModelPath ? labels.modelMissing(opts.whisperModelPath) : labels.noTranscriptionNote);
    const tenant = await db.selectFrom('tenants').select('quiet_period_seconds').where('id', '=', cfg.COEX_DEFAULT_TENANT).executeTakeFirstOrThrow();
    return { output: out.join('\n'), sent: graph.sent, threads: rendered, quietPeriodSeconds: tenant.quiet_period_seconds };
  } finally {
    await runtime?.close();
    await graph.close();
    if (!opts.dataDir) rmSync(dataDir, { recursive: true, force: true });
  }
}

/** Until no agent turn, media download or transcription is still in progress. */
async function waitForSettled(runtime: Runtime, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const turns = await runtime.db.selectFrom('agent_turns').select('id').where('status', 'in', ['pending', 'generating', 'waiting_transcript']).executeTakeFirst();
    const media = await runtime.db
      .selectFrom('messages')
      .select('id')
      .where((eb) => eb.or([eb('transcript_state', 'in', ['pending', 'transcribing']), eb.and([eb('media_voice', '=', true), eb('media_state', 'in', ['pending', 'downloading'])])]))
      .executeTakeFirst();
    if (!turns && !media) return;
    if (Date.now() > deadline) return; // print what there is rather than nothing
    await new Promise((r) => setTimeout(r, 200));
  }
}
