import { sql } from 'kysely';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Capability, CapabilityContext } from '../capability.js';
import type { QueueSpec } from '../jobs.js';
import { DirectoryBlobStore, type BlobStore } from '../outbound/media.js';
import { blobStoreFromEnv } from '../outbound/s3-blob-store.js';
import { downloadMessageMedia } from '../pipeline/media.js';
import { transcribeVoiceNote } from '../pipeline/transcribe.js';
import { GeminiTranscriber } from './gemini-transcriber.js';
import type { Transcriber } from './transcriber.js';

export const MEDIA_QUEUE: QueueSpec = { name: 'coex-media', options: { retryLimit: 6, retryDelay: 5, retryBackoff: true, retryDelayMax: 600, expireInSeconds: 300 } };
export const TRANSCRIBE_QUEUE: QueueSpec = { name: 'coex-transcribe', options: { retryLimit: 4, retryDelay: 10, retryBackoff: true, retryDelayMax: 900, expireInSeconds: 600 } };

/** History media older than this is left as a placeholder (not downloaded). */
const RECENT_HISTORY_MS = 14 * 86_400_000;

export interface TranscriptionDeps {
  /** A voice note's transcript settled (text, or a final failure): the agent may answer now. */
  onTranscriptSettled(messageId: string): Promise<void>;
  /** A transcript is new content for the CRM archive. */
  wakeCrm(): Promise<void>;
}

export interface Transcription extends Capability {
  /** Where downloaded media is kept (a directory, or S3 with MEDIA_STORE=s3). */
  readonly blobs: BlobStore;
}

/**
 * Media and voice notes: each new live message with media, and recent history media, is downloaded
 * at once (`../pipeline/media.ts`); a voice note is then transcribed (`../pipeline/transcribe.ts`)
 * by a local Whisper model (WHISPER_MODEL_PATH) or Gemini (GEMINI_API_KEY).
 */
export async function transcriptionCapability(ctx: CapabilityContext, deps: TranscriptionDeps): Promise<Transcription> {
  const { config, db, graph, jobs, logger } = ctx;
  const blobs: BlobStore =
    config.MEDIA_STORE === 's3'
      ? blobStoreFromEnv(config, config.DATA_DIR)
      : new DirectoryBlobStore(ctx.ephemeral ? mkdtempSync(join(tmpdir(), 'coex-media-')) : join(config.DATA_DIR, 'media'));
  let localTranscriber: Transcriber | null = null;
  if (config.WHISPER_MODEL_PATH) {
    // Imported only when configured: processes without a model never load the native Whisper binding.
    const { LocalWhisperTranscriber } = await import('./local-whisper.js');
    localTranscriber = new LocalWhisperTranscriber({ modelPath: config.WHISPER_MODEL_PATH, language: 'ar' });
  }
  const geminiTranscriber = config.GEMINI_API_KEY
    ? new GeminiTranscriber({ apiKey: config.GEMINI_API_KEY, model: config.GEMINI_MODEL, ...(config.GEMINI_BASE_URL ? { baseUrl: config.GEMINI_BASE_URL } : {}) })
    : null;
  const transcriberFor = (): { transcriber: Transcriber } | { transcriber: null; reason: string } => {
    const t = localTranscriber ?? geminiTranscriber;
    return t ? { transcriber: t } : { transcriber: null, reason: 'no transcription provider configured: set GEMINI_API_KEY, or WHISPER_MODEL_PATH to a ggml Whisper model on disk' };
  };

  return {
    name: 'transcription',
    blobs,
    queues: [MEDIA_QUEUE, TRANSCRIBE_QUEUE],
    onApplied: [
      {
        stage: 'follow-up',
        hook: async (outcome, trx) => {
          const recentHistory = Date.now() - RECENT_HISTORY_MS;
          await jobs.enqueueMany(MEDIA_QUEUE, outcome.live.filter((m) => m.mediaId).map((m) => ({ messageId: m.messageId })), { trx });
          if (outcome.historyMedia.length > 0) {
            // One read for the chunk's media (a history chunk holds hundreds), not one per message.
            const due = await trx
              .selectFrom('messages')
              .select('id')
              .where(sql<boolean>`id = any(${outcome.historyMedia.map((m) => m.messageId)}::uuid[])`)
              .where('media_state', '=', 'pending')
              .where('provider_timestamp', '>=', new Date(recentHistory))
              .execute();
            await jobs.enqueueMany(MEDIA_QUEUE, due.map((row) => ({ messageId: row.id })), { trx });
          }
        },
      },
    ],
    startWorker: async () => {
      await jobs.work<{ messageId: string }>(MEDIA_QUEUE, async (data, job) => {
        await downloadMessageMedia(
          {
            db,
            graph,
            blobs,
            logger,
            onVoiceStored: (messageId) => jobs.enqueue(TRANSCRIBE_QUEUE, { messageId }),
            onVoiceUnavailable: (messageId) => deps.onTranscriptSettled(messageId),
          },
          data.messageId,
          job.lastAttempt,
        );
      });
      await jobs.work<{ messageId: string }>(TRANSCRIBE_QUEUE, async (data, job) => {
        await transcribeVoiceNote(
          {
            db,
            blobs,
            logger,
            transcriberFor,
            darijaScriptFor: () => config.TRANSCRIPT_DARIJA_SCRIPT,
            onSettled: async (messageId) => {
              await deps.onTranscriptSettled(messageId);
              await deps.wakeCrm();
            },
          },
          data.messageId,
          job.lastAttempt,
        );
      }, 1);
    },
  };
}
