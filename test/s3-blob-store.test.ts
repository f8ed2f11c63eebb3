import { createHash } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BlobIntegrityError } from '../core/src/outbound/media.js';
import { S3BlobStore, S3BlobStoreError, blobStoreFromEnv } from '../core/src/outbound/s3-blob-store.js';
import { DEFAULT_S3_ACCESS_KEY_ID, DEFAULT_S3_BUCKET, DEFAULT_S3_SECRET_ACCESS_KEY, startS3Fake, type S3Fake } from './fakes/s3.js';

const voiceNote = Buffer.from('OggS\u0000fake opus voice note payload', 'latin1');
const voiceHex = createHash('sha256').update(voiceNote).digest('hex');

let fake: S3Fake;
const stores: S3BlobStore[] = [];

function storeWith(overrides: Partial<{ accessKeyId: string; secretAccessKey: string; bucket: string; region: string }> = {}): S3BlobStore {
  const store = new S3BlobStore({
    endpoint: fake.url,
    region: overrides.region ?? fake.region,
    bucket: overrides.bucket ?? DEFAULT_S3_BUCKET,
    forcePathStyle: true,
    prefix: 'media',
    maxAttempts: 1,
    credentials: {
      accessKeyId: overrides.accessKeyId ?? DEFAULT_S3_ACCESS_KEY_ID,
      secretAccessKey: overrides.secretAccessKey ?? DEFAULT_S3_SECRET_ACCESS_KEY,
    },
  });
  stores.push(store);
  return store;
}

beforeAll(async () => {
  fake = await startS3Fake();
});
afterEach(() => {
  fake.requests.length = 0;
});
afterAll(async () => {
  for (const s of stores) s.close();
  await fake.close();
});

describe('S3BlobStore against the S3 fake', () => {
  it('puts, finds and reads back a voice note with its mime type, at a content-addressed key', async () => {
    const store = storeWith();
    const ref = await store.put('media/wamid.1', voiceNote, 'audio/ogg; codecs=opus');
    expect(ref).toBe(`sha256:${voiceHex}`);

    const key = `media/${voiceHex.slice(0, 2)}/${voiceHex.slice(2, 4)}/${voiceHex}`;
    const stored = fake.object(DEFAULT_S3_BUCKET, key);
    expect(stored?.bytes.equals(voiceNote)).toBe(true);
    expect(stored?.contentType).toBe('audio/ogg; codecs=opus');
    expect(stored?.metadata).toEqual({ sha256: voiceHex, label: 'media%2Fwamid.1' });

    const puts = fake.requests.filter((r) => r.method === 'PUT');
    expect(puts).toHaveLength(1);
    expect(puts[0]?.path).toBe(`/${DEFAULT_S3_BUCKET}/${key}`);
    expect(puts[0]?.headers.authorization).toMatch(/^AWS4-HMAC-SHA256 Credential=AKIAFAKECOEXTEST0001\/\d{8}\/us-east-1\/s3\/aws4_request/);
    expect(puts[0]?.status).toBe(200);

    expect(await store.exists(ref)).toBe(true);
    const blob = await store.get(ref);
    expect(blob?.mime).toBe('audio/ogg; codecs=opus');
    expect(blob?.bytes.equals(voiceNote)).toBe(true);
  });

  it('skips the upload when the object is already there (HEAD, no second PUT)', async () => {
    const store = storeWith();
    const bytes = Buffer.from('the same image twice');
    const first = await store.put('media/a', bytes, 'image/jpeg');
    fake.requests.length = 0;
    const second = await store.put('media/b', bytes, 'image/jpeg');
    expect(second).toBe(first);
    expect(fake.requests.map((r) => r.method)).toEqual(['HEAD']);
  });

  it('answers null / false for a ref that was never stored', async () => {
    const store = storeWith();
    const missing = `sha256:${'0'.repeat(64)}`;
    expect(await store.exists(missing)).toBe(false);
    expect(await store.get(missing)).toBeNull();
    expect(fake.requests.map((r) => `${r.method} ${r.status}`)).toEqual(['HEAD 404', 'GET 404']);
  });

  it('refuses to return an object whose bytes no longer hash to its ref', async () => {
    const store = storeWith();
    const bytes = Buffer.from('a document that will be tampered with');
    const ref = await store.put('media/doc', bytes, 'application/pdf');
    fake.tamper(DEFAULT_S3_BUCKET, store.objectKey(ref), Buffer.from('a document that was tampered with!!!!'));
    await expect(store.get(ref)).rejects.toBeInstanceOf(BlobIntegrityError);
    await expect(store.get(ref)).rejects.toThrow(/corrupted in s3:\/\/coex-media\/media\//);
  });

  it('reports an unknown access key clearly, on writes and on reads', async () => {
    const store = storeWith({ accessKeyId: 'AKIAWRONGKEY' });
    const put = store.put('media/x', Buffer.from('x'), 'text/plain');
    await expect(put).rejects.toBeInstanceOf(S3BlobStoreError);
    // put starts with HEAD, whose 403 has no body: the error still says what to check.
    await expect(put).rejects.toThrow(/refused \(HTTP 403\).*S3_ACCESS_KEY_ID/);
    await expect(store.get(`sha256:${voiceHex}`)).rejects.toMatchObject({ code: 'InvalidAccessKeyId', httpStatus: 403 });
    expect(fake.requests.every((r) => r.accessKeyId === 'AKIAWRONGKEY' && r.status === 403)).toBe(true);
    expect(fake.requests.some((r) => r.method === 'PUT')).toBe(false);
  });

  it('reports a wrong secret as a signature mismatch, without leaking the secret', async () => {
    const store = storeWith({ secretAccessKey: 'not-the-real-secret-key' });
    const error = await store.get(`sha256:${voiceHex}`).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(S3BlobStoreError);
    expect(error).toMatchObject({ code: 'SignatureDoesNotMatch', httpStatus: 403 });
    expect((error as Error).message).toMatch(/S3_SECRET_ACCESS_KEY/);
    expect((error as Error).message).not.toContain('not-the-real-secret-key');
  });

  it('names a missing bucket', async () => {
    const store = storeWith({ bucket: 'no-such-bucket' });
    await expect(store.get(`sha256:${voiceHex}`)).rejects.toThrow(/bucket "no-such-bucket" does not exist/);
  });

  it('surfaces server errors with the S3 code instead of pretending the blob is missing', async () => {
    const store = storeWith();
    fake.failNext(503, 'SlowDown', 'Please reduce your request rate.');
    await expect(store.get(`sha256:${voiceHex}`)).rejects.toMatchObject({ code: 'SlowDown', httpStatus: 503 });
  });

  it('is what blobStoreFromEnv builds for MEDIA_STORE=s3', async () => {
    const store = blobStoreFromEnv(
      {
        MEDIA_STORE: 's3',
        S3_ENDPOINT: fake.url,
        S3_REGION: fake.region,
        S3_BUCKET: DEFAULT_S3_BUCKET,
        S3_ACCESS_KEY_ID: DEFAULT_S3_ACCESS_KEY_ID,
        S3_SECRET_ACCESS_KEY: DEFAULT_S3_SECRET_ACCESS_KEY,
        S3_PREFIX: 'tenant-a',
      },
      '/nonexistent',
    );
    expect(store).toBeInstanceOf(S3BlobStore);
    stores.push(store as S3BlobStore);
    const ref = await store.put('media/env', Buffer.from('from env'), 'text/plain');
    expect(fake.requests.find((r) => r.method === 'PUT')?.path).toBe(`/${DEFAULT_S3_BUCKET}/${(store as S3BlobStore).objectKey(ref)}`);
    expect((store as S3BlobStore).objectKey(ref)).toMatch(/^tenant-a\//);
    expect((await store.get(ref))?.bytes.toString()).toBe('from env');
  });
});

describe('S3 fake honesty', () => {
  it('answers unsigned requests with S3\'s AccessDenied XML and records them', async () => {
    const res = await fetch(`${fake.url}/${DEFAULT_S3_BUCKET}/media/x`);
    expect(res.status).toBe(403);
    expect(await res.text()).toMatch(/<Error><Code>AccessDenied<\/Code><Message>Access Denied<\/Message>/);
    expect(fake.requests[0]).toMatchObject({ method: 'GET', key: 'media/x', accessKeyId: null, status: 403 });
  });

  it('checks the signature over the request, not just the key id in it', async () => {
    const store = storeWith();
    await store.put('media/sig', Buffer.from('signed'), 'text/plain');
    const put = fake.requests.find((r) => r.method === 'PUT');
    expect(put).toBeDefined();
    // Replay the SDK's signed headers on a different path: the signature no longer matches.
    const headers = Object.fromEntries(Object.entries(put?.headers ?? {}).filter(([n]) => !['host', 'connection', 'content-length'].includes(n)));
    const res = await fetch(`${fake.url}/${DEFAULT_S3_BUCKET}/media/other`, { method: 'PUT', headers, body: 'signed' });
    expect(res.status).toBe(403);
    expect(await res.text()).toContain('<Code>SignatureDoesNotMatch</Code>');
  });
});
