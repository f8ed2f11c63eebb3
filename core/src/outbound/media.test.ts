import { createHash } from 'node:crypto';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { MediaInfo } from './graph-client.js';
import { GraphApiError, MediaDownloadError } from './graph-errors.js';
import {
  BlobIntegrityError,
  DirectoryBlobStore,
  fetchMedia,
  MediaUnavailableError,
  mimeEssence,
  normalizeSha256,
  type MediaSource,
} from './media.js';

const VOICE = Buffer.from('OggS fake opus voice note bytes');
const VOICE_HEX = createHash('sha256').update(VOICE).digest('hex');
const VOICE_B64 = createHash('sha256').update(VOICE).digest('base64');

/**
 * An in-memory stand-in for the two GraphClient calls, scripted per test. The real HTTP path
 * (GraphClient against the Graph API fake) is covered in test/graph-client.test.ts.
 */
function source(script: {
  info?: Partial<MediaInfo>;
  lookupError?: Error;
  downloads?: Array<Buffer | Error>;
}): MediaSource & { lookups: number; downloadCalls: Array<{ url: string; maxBytes: number | undefined; phoneNumberId: string | undefined }> } {
  const downloads = [...(script.downloads ?? [VOICE])];
  const state = {
    lookups: 0,
    downloadCalls: [] as Array<{ url: string; maxBytes: number | undefined; phoneNumberId: string | undefined }>,
    async getMedia(mediaId: string): Promise<MediaInfo> {
      state.lookups++;
      if (script.lookupError) throw script.lookupError;
      return {
        url: `https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=${mediaId}&n=${state.lookups}`,
        mimeType: 'audio/ogg; codecs=opus',
        sha256: VOICE_HEX,
        fileSize: VOICE.length,
        id: mediaId,
        ...script.info,
      };
    },
    async downloadMedia(url: string, options: { maxBytes?: number; phoneNumberId?: string } = {}): Promise<Buffer> {
      state.downloadCalls.push({ url, maxBytes: options.maxBytes, phoneNumberId: options.phoneNumberId });
      const next = downloads.shift() ?? VOICE;
      if (next instanceof Error) throw next;
      return next;
    },
  };
  return state;
}

async function unavailable(promise: Promise<unknown>): Promise<MediaUnavailableError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(MediaUnavailableError);
  return err as MediaUnavailableError;
}

describe('fetchMedia', () => {
  it('looks up, downloads and verifies in one go', async () => {
    const src = source({});
    const media = await fetchMedia(src, '1234', {
      maxBytes: 16 * 1024 * 1024,
      expectedSha256: VOICE_B64,
      expectedMime: 'audio/ogg',
      phoneNumberId: '106540352242922',
    });
    expect(media).toEqual({ mediaId: '1234', bytes: VOICE, mimeType: 'audio/ogg; codecs=opus', sha256: VOICE_HEX, size: VOICE.length });
    expect(src.downloadCalls).toEqual([
      { url: expect.stringContaining('mid=1234') as unknown as string, maxBytes: 16 * 1024 * 1024, phoneNumberId: '106540352242922' },
    ]);
  });

  it('re-fetches the URL once when the lookaside host says it expired', async () => {
    for (const status of [401, 403, 404]) {
      const src = source({ downloads: [new MediaDownloadError('expired', 'http', status), VOICE] });
      const media = await fetchMedia(src, 'm', { maxBytes: 1000 });
      expect(media.bytes).toEqual(VOICE);
      expect(src.lookups).toBe(2);
      expect(src.downloadCalls[1]?.url).toContain('n=2'); // the fresh URL, not the stale one
    }
  });

  it("gives up with 'expired' when the fresh URL fails too", async () => {
    const src = source({ downloads: [new MediaDownloadError('x', 'http', 404), new MediaDownloadError('x', 'http', 404)] });
    const err = await unavailable(fetchMedia(src, 'm', { maxBytes: 1000 }));
    expect(err.reason).toBe('expired');
    expect(err.mediaId).toBe('m');
    expect(src.lookups).toBe(2);
  });

  it("reports 'not_found' for an id Meta does not know (7-day expiry)", async () => {
    const gone = new GraphApiError({
      httpStatus: 400,
      code: 100,
      subcode: 33,
      type: 'GraphMethodException',
      details: null,
      fbtraceId: null,
      retryAfterSeconds: null,
      isTransient: null,
      graphMessage: "Unsupported get request. Object with ID 'm' does not exist",
    });
    const err = await unavailable(fetchMedia(source({ lookupError: gone }), 'm', { maxBytes: 1000 }));
    expect(err.reason).toBe('not_found');
  });

  it("reports 'too_large' from the lookup without downloading, or from the download itself", async () => {
    const big = source({ info: { fileSize: 5_000_000 } });
    expect((await unavailable(fetchMedia(big, 'm', { maxBytes: 1_000_000 }))).reason).toBe('too_large');
    expect(big.downloadCalls).toHaveLength(0);

    const lying = source({ downloads: [new MediaDownloadError('over', 'too_large', 200)] });
    expect((await unavailable(fetchMedia(lying, 'm', { maxBytes: 1000 }))).reason).toBe('too_large');
  });

  it("reports 'checksum_mismatch' when bytes do not match Meta's hash, the webhook's hash, or the size", async () => {
    const tampered = source({ downloads: [Buffer.from('something else entirely, same length!')] });
    expect((await unavailable(fetchMedia(tampered, 'm', { maxBytes: 1000 }))).reason).toBe('checksum_mismatch');

    const otherHash = createHash('sha256').update('other').digest('hex');
    const webhookDisagrees = source({});
    const err = await unavailable(fetchMedia(webhookDisagrees, 'm', { maxBytes: 1000, expectedSha256: otherHash }));
    expect(err.reason).toBe('checksum_mismatch');
    expect(err.message).toContain('webhook');

    const wrongSize = source({ info: { fileSize: VOICE.length + 1 } });
    expect((await unavailable(fetchMedia(wrongSize, 'm', { maxBytes: 1000 }))).reason).toBe('checksum_mismatch');
  });

  it("reports 'mime_mismatch' when Meta's type differs from the webhook's, ignoring parameters and case", async () => {
    expect((await unavailable(fetchMedia(source({}), 'm', { maxBytes: 1000, expectedMime: 'image/jpeg' }))).reason).toBe('mime_mismatch');
    await expect(fetchMedia(source({}), 'm', { maxBytes: 1000, expectedMime: 'Audio/OGG; codecs=opus' })).resolves.toMatchObject({ size: VOICE.length });
  });

  it('lets transient failures through for the caller to retry', async () => {
    const src = source({ downloads: [new MediaDownloadError('boom', 'http', 503)] });
    await expect(fetchMedia(src, 'm', { maxBytes: 1000 })).rejects.toBeInstanceOf(MediaDownloadError);
    expect(src.lookups).toBe(1);
  });

  it('rejects bad options before calling Meta', async () => {
    const src = source({});
    await expect(fetchMedia(src, 'm', { maxBytes: 0 })).rejects.toThrow(/maxBytes/);
    await expect(fetchMedia(src, 'm', { maxBytes: 10, expectedSha256: 'not-a-hash' })).rejects.toThrow(/hex or base64/);
    expect(src.lookups).toBe(0);
  });
});

describe('normalizeSha256 and mimeEssence', () => {
  it('accepts hex (any case), base64 and base64url', () => {
    expect(normalizeSha256(VOICE_HEX.toUpperCase())).toBe(VOICE_HEX);
    expect(normalizeSha256(VOICE_B64)).toBe(VOICE_HEX);
    expect(normalizeSha256(VOICE_B64.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, ''))).toBe(VOICE_HEX);
    expect(normalizeSha256('abc')).toBeNull();
    expect(normalizeSha256(Buffer.alloc(16).toString('base64'))).toBeNull();
  });
  it('keeps only type/subtype', () => {
    expect(mimeEssence('audio/ogg; codecs=opus')).toBe('audio/ogg');
    expect(mimeEssence(' IMAGE/JPEG ')).toBe('image/jpeg');
  });
});

describe('DirectoryBlobStore', () => {
  let root: string;
  beforeEach(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'coex-blobs-'));
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('stores content-addressed by sha256 and reads it back with its mime type', async () => {
    const store = new DirectoryBlobStore(root);
    const ref = await store.put('media/1234', VOICE, 'audio/ogg; codecs=opus');
    expect(ref).toBe(`sha256:${VOICE_HEX}`);
    expect(await store.exists(ref)).toBe(true);
    expect(await store.get(ref)).toEqual({ bytes: VOICE, mime: 'audio/ogg; codecs=opus' });
    const shard = path.join(root, VOICE_HEX.slice(0, 2), VOICE_HEX.slice(2, 4));
    expect((await readdir(shard)).sort()).toEqual([VOICE_HEX, `${VOICE_HEX}.json`]);
  });

  it('deduplicates identical content and leaves no temp files behind', async () => {
    const store = new DirectoryBlobStore(root);
    const a = await store.put('media/a', VOICE, 'audio/ogg');
    const b = await store.put('media/b', Buffer.from(VOICE), 'audio/ogg');
    expect(a).toBe(b);
    const shard = path.join(root, VOICE_HEX.slice(0, 2), VOICE_HEX.slice(2, 4));
    const files = await readdir(shard);
    expect(files.filter((f) => f.endsWith('.tmp'))).toEqual([]);
    expect(files).toHaveLength(2);
  });

  it('answers null / false for content it does not have', async () => {
    const store = new DirectoryBlobStore(root);
    const missing = `sha256:${'0'.repeat(64)}`;
    expect(await store.get(missing)).toBeNull();
    expect(await store.exists(missing)).toBe(false);
  });

  it('rejects refs that are not sha256 addresses (no path traversal)', async () => {
    const store = new DirectoryBlobStore(root);
    await expect(store.get('../../etc/passwd')).rejects.toThrow(/not a blob ref/);
    await expect(store.exists(`sha256:${'A'.repeat(64)}`)).rejects.toThrow(/not a blob ref/);
  });

  it('detects a blob corrupted on disk', async () => {
    const store = new DirectoryBlobStore(root);
    const ref = await store.put('k', VOICE, 'audio/ogg');
    await writeFile(path.join(root, VOICE_HEX.slice(0, 2), VOICE_HEX.slice(2, 4), VOICE_HEX), 'tampered');
    await expect(store.get(ref)).rejects.toBeInstanceOf(BlobIntegrityError);
  });

  it('keeps working across instances on the same directory', async () => {
    const ref = await new DirectoryBlobStore(root).put('k', Buffer.from('hello'), 'text/plain');
    expect((await new DirectoryBlobStore(root).get(ref))?.bytes.toString()).toBe('hello');
  });
});
