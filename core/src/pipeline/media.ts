import { sql, type Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Database } from '../db/schema.js';
import type { GraphClient } from '../outbound/graph-client.js';
import { fetchMedia, MediaUnavailableError, type BlobStore } from '../outbound/media.js';

/** Meta's own size caps per media type (coex-spec §8). */
export const MEDIA_MAX_BYTES: Record<string, number> = {
  audio: 16 * 1024 * 1024,
  image: 5 * 1024 * 1024,
  video: 16 * 1024 * 1024,
  document: 100 * 1024 * 1024,
  sticker: 500 * 1024,
};

export interface MediaDeps {
  db: Kysely<Database>;
  graph: GraphClient;
  blobs: BlobStore;
  logger: Logger;
  /** Called after a voice note is stored (enqueue its transcription). */
  onVoiceStored: (messageId: string) => Promise<void>;
  /** Called when a voice note can never be had (the agent hands off instead of guessing). */
  onVoiceUnavailable: (messageId: string, reason: string) => Promise<void>;
}

/**
 * Downloads a message's media right away (webhook media URLs expire in minutes, media ids in 7 days),
 * verifies size and sha256, and keeps it in the blob store. Expired or missing media is marked
 * `unavailable` with its reason; transient failures are retried by the job queue, and the last try
 * records a visible failure.
 */
export async function downloadMessageMedia(deps: MediaDeps, messageId: string, lastAttempt: boolean): Promise<'stored' | 'unavailable' | 'skipped'> {
  const row = await deps.db
    .selectFrom('messages')
    .select(['id', 'type', 'media_id', 'media_mime', 'media_sha256', 'media_state', 'media_voice', 'phone_number_id'])
    .where('id', '=', messageId)
    .executeTakeFirst();
  if (!row || !row.media_id || row.media_state === 'stored' || row.media_state === 'unavailable') return 'skipped';
  const maxBytes = MEDIA_MAX_BYTES[row.type] ?? MEDIA_MAX_BYTES.document!;
  try {
    const fetched = await fetchMedia(deps.graph, row.media_id, {
      maxBytes,
      ...(row.media_sha256 ? { expectedSha256: row.media_sha256 } : {}),
      ...(row.media_mime ? { expectedMime: row.media_mime } : {}),
      phoneNumberId: row.phone_number_id,
    });
    const ref = await deps.blobs.put(`media/${row.media_id}`, fetched.bytes, fetched.mimeType);
    await deps.db
      .updateTable('messages')
      .set({ media_ref: ref, media_state: 'stored', media_mime: fetched.mimeType, media_sha256: fetched.sha256, updated_at: sql`now()` })
      .where('id', '=', messageId)
      .execute();
    if (row.media_voice) await deps.onVoiceStored(messageId);
    return 'stored';
  } catch (error) {
    const permanent = error instanceof MediaUnavailableError;
    if (!permanent && !lastAttempt) throw error;
    const reason = permanent ? error.reason : `download failed: ${error instanceof Error ? error.message : String(error)}`;
    deps.logger.warn({ messageId, mediaId: row.media_id, reason }, 'media unavailable');
    await deps.db
      .updateTable('messages')
      .set({
        media_state: 'unavailable',
        error: JSON.stringify({ media: reason }),
        ...(row.media_voice ? { transcript_state: 'failed', transcript_error: `voice note could not be downloaded (${reason})` } : {}),
        updated_at: sql`now()`,
      })
      .where('id', '=', messageId)
      .execute();
    if (row.media_voice) await deps.onVoiceUnavailable(messageId, reason);
    return 'unavailable';
  }
}
