import { sql, type Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Database } from '../db/schema.js';
import type { BlobStore } from '../outbound/media.js';
import { TranscriptionError, type Transcriber } from '../transcription/transcriber.js';

/** Largest voice note we transcribe (WhatsApp's audio cap is 16 MB; minutes of Opus are ~100 KB). */
export const MAX_VOICE_NOTE_BYTES = 16 * 1024 * 1024;

export interface TranscribeDeps {
  db: Kysely<Database>;
  blobs: BlobStore;
  logger: Logger;
  /** The tenant's transcriber, or null with the reason when none is configured. */
  transcriberFor: (tenantId: string) => { transcriber: Transcriber } | { transcriber: null; reason: string };
  darijaScriptFor: (tenantId: string) => 'arabic' | 'latin';
  /** Transcript stored or failed: the agent's waiting turn resumes, CRMs get the internal note. */
  onSettled: (messageId: string, state: 'done' | 'failed' | 'not_transcribed') => Promise<void>;
}

/**
 * Transcribes a stored voice note and keeps the transcript on the message with language, provider,
 * model and duration. Retryable provider errors go back to the queue; the last attempt, and errors
 * that retrying cannot fix (decode failure, too long, no provider), leave a visible state and reason.
 */
export async function transcribeVoiceNote(deps: TranscribeDeps, messageId: string, lastAttempt: boolean): Promise<'done' | 'failed' | 'not_transcribed' | 'skipped'> {
  const row = await deps.db
    .selectFrom('messages')
    .select(['id', 'tenant_id', 'media_ref', 'media_mime', 'media_voice', 'transcript_state'])
    .where('id', '=', messageId)
    .executeTakeFirst();
  if (!row || !row.media_voice || row.transcript_state === 'done') return 'skipped';
  const settle = async (state: 'done' | 'failed' | 'not_transcribed', fields: Record<string, unknown>) => {
    await deps.db
      .updateTable('messages')
      .set({ transcript_state: state, ...fields, updated_at: sql`now()` })
      .where('id', '=', messageId)
      .execute();
    await deps.onSettled(messageId, state);
    return state;
  };
  const choice = deps.transcriberFor(row.tenant_id);
  if (!choice.transcriber) return settle('not_transcribed', { transcript_error: choice.reason });
  if (!row.media_ref) return settle('failed', { transcript_error: 'the voice note was not downloaded' });
  const blob = await deps.blobs.get(row.media_ref);
  if (!blob) return settle('failed', { transcript_error: 'the stored voice note is missing from the blob store' });
  if (blob.bytes.length > MAX_VOICE_NOTE_BYTES) return settle('failed', { transcript_error: `voice note too large (${blob.bytes.length} bytes)` });

  await deps.db.updateTable('messages').set({ transcript_state: 'transcribing' }).where('id', '=', messageId).execute();
  try {
    const result = await choice.transcriber.transcribe({
      audio: blob.bytes,
      mimeType: row.media_mime ?? blob.mime,
      darijaScript: deps.darijaScriptFor(row.tenant_id),
      translateTo: null,
    });
    return await settle('done', {
      transcript: result.text,
      transcript_language: result.language,
      transcript_provider: result.provider,
      transcript_model: result.model,
      transcript_duration_seconds: result.durationSeconds,
      transcript_error: null,
    });
  } catch (error) {
    const retryable = error instanceof TranscriptionError ? error.retryable : true;
    const code = error instanceof TranscriptionError ? error.code : 'unexpected';
    const message = error instanceof Error ? error.message : String(error);
    deps.logger.warn({ messageId, code, retryable, lastAttempt, err: message }, 'transcription failed');
    if (retryable && !lastAttempt) {
      await deps.db.updateTable('messages').set({ transcript_state: 'pending', transcript_error: `${code}: ${message}` }).where('id', '=', messageId).execute();
      throw error;
    }
    return settle('failed', { transcript_error: `${code}: ${message}`, transcript_provider: choice.transcriber.provider, transcript_model: choice.transcriber.model });
  }
}
