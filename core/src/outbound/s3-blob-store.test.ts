import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DirectoryBlobStore } from './media.js';
import { S3BlobStore, blobStoreFromEnv } from './s3-blob-store.js';

const REF = `sha256:${'ab'.repeat(2)}${'0'.repeat(60)}`;
const base = { region: 'eu-west-1', bucket: 'b', credentials: { accessKeyId: 'AK', secretAccessKey: 'do-not-leak' } };
const dataDir = mkdtempSync(join(tmpdir(), 'coex-s3-unit-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

describe('S3BlobStore keys', () => {
  it('lays objects out as <prefix>/ab/cd/<sha256>', () => {
    expect(new S3BlobStore({ ...base, prefix: 'tenant-a/media/' }).objectKey(REF)).toBe(`tenant-a/media/ab/ab/${REF.slice(7)}`);
    expect(new S3BlobStore(base).objectKey(REF)).toBe(`media/ab/ab/${REF.slice(7)}`);
    expect(new S3BlobStore({ ...base, prefix: '' }).objectKey(REF)).toBe(`ab/ab/${REF.slice(7)}`);
  });

  it('refuses malformed refs before any request', async () => {
    const store = new S3BlobStore(base);
    await expect(store.get('sha256:XYZ')).rejects.toThrow(/not a blob ref/);
    await expect(store.exists('md5:abc')).rejects.toThrow(/not a blob ref/);
    await expect(store.put('k', new Uint8Array([1]), ' ')).rejects.toThrow(/mime/);
  });

  it('reports bad options without echoing the secret', () => {
    let message = '';
    try {
      new S3BlobStore({ ...base, bucket: '', endpoint: 'not a url' });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(/bucket/);
    expect(message).toMatch(/endpoint/);
    expect(message).not.toContain('do-not-leak');
  });
});

describe('blobStoreFromEnv', () => {
  it('defaults to the directory store under <dataDir>/media', () => {
    expect(blobStoreFromEnv({}, dataDir)).toBeInstanceOf(DirectoryBlobStore);
    expect(blobStoreFromEnv({ MEDIA_STORE: 'dir', S3_BUCKET: 'ignored' }, dataDir)).toBeInstanceOf(DirectoryBlobStore);
  });

  it('builds an S3 store from the S3_* keys, path-style by default with a custom endpoint', () => {
    const store = blobStoreFromEnv(
      { MEDIA_STORE: 's3', S3_ENDPOINT: 'http://127.0.0.1:9000', S3_BUCKET: 'media', S3_ACCESS_KEY_ID: 'AK', S3_SECRET_ACCESS_KEY: 'SK', S3_PREFIX: 'coex' },
      dataDir,
    );
    expect(store).toBeInstanceOf(S3BlobStore);
    expect((store as S3BlobStore).objectKey(REF)).toBe(`coex/ab/ab/${REF.slice(7)}`);
  });

  it('accepts a parsed config with boolean flags and treats empty strings as unset', () => {
    const store = blobStoreFromEnv({ MEDIA_STORE: 's3', S3_BUCKET: 'm', S3_FORCE_PATH_STYLE: true, S3_PREFIX: '', S3_ENDPOINT: '' }, dataDir);
    expect((store as S3BlobStore).objectKey(REF)).toBe(`media/ab/ab/${REF.slice(7)}`);
  });

  it('gives clear errors for incomplete or wrong settings', () => {
    expect(() => blobStoreFromEnv({ MEDIA_STORE: 's3' }, dataDir)).toThrow(/S3_BUCKET/);
    expect(() => blobStoreFromEnv({ MEDIA_STORE: 's3', S3_BUCKET: 'm', S3_ACCESS_KEY_ID: 'AK' }, dataDir)).toThrow(/S3_SECRET_ACCESS_KEY/);
    expect(() => blobStoreFromEnv({ MEDIA_STORE: 'S3' }, dataDir)).toThrow(/MEDIA_STORE/);
    expect(() => blobStoreFromEnv({ MEDIA_STORE: 's3', S3_BUCKET: 'm', S3_FORCE_PATH_STYLE: 'yes' }, dataDir)).toThrow(/S3_FORCE_PATH_STYLE/);
    expect(() => blobStoreFromEnv({ MEDIA_STORE: 's3', S3_BUCKET: 'm', S3_ENDPOINT: 'minio:9000' }, dataDir)).toThrow(/S3_ENDPOINT/);
  });
});
