/**
 * Media blobs in an S3-compatible bucket (AWS S3, MinIO, Cloudflare R2, …), beside the
 * DirectoryBlobStore, for deployments whose disk is ephemeral or shared by several instances.
 *
 * Same contract as the directory store: content-addressed keys `<prefix>/ab/cd/<sha256>`, refs
 * "sha256:<hex>", the mime type kept as the object's Content-Type, and every read re-hashed so a
 * corrupted or tampered object is an error rather than wrong media.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { z } from 'zod';
import { BlobIntegrityError, DirectoryBlobStore, type BlobRef, type BlobStore, type StoredBlob } from './media.js';

const REF_PATTERN = /^sha256:([0-9a-f]{64})$/;

const s3OptionsSchema = z.object({
  /** Omit for AWS itself; e.g. "http://127.0.0.1:9000" for MinIO. */
  endpoint: z.url({ protocol: /^https?$/ }).optional(),
  region: z.string().min(1),
  bucket: z.string().min(1),
  /** Omit to use the AWS default chain (env, shared config, instance role). */
  credentials: z.object({ accessKeyId: z.string().min(1), secretAccessKey: z.string().min(1) }).optional(),
  /** Key prefix without leading/trailing slashes; "" puts blobs at the bucket root. */
  prefix: z.string().default('media'),
  /** `/{bucket}/{key}` URLs, which MinIO and most self-hosted stores need. */
  forcePathStyle: z.boolean().default(false),
  /** SDK attempts per request (1 = no retries). */
  maxAttempts: z.number().int().min(1).max(10).default(3),
});

export type S3BlobStoreOptions = z.input<typeof s3OptionsSchema>;

/** S3 refused or failed a request; `code` is S3's error code (e.g. "InvalidAccessKeyId") or "HTTP <status>". */
export class S3BlobStoreError extends Error {
  override readonly name = 'S3BlobStoreError';
  constructor(
    message: string,
    readonly code: string,
    readonly httpStatus: number | null,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

const AUTH_CODES = new Set(['InvalidAccessKeyId', 'SignatureDoesNotMatch', 'AccessDenied', 'Forbidden', 'AuthorizationHeaderMalformed', 'InvalidToken', 'ExpiredToken']);

export class S3BlobStore implements BlobStore {
  private readonly client: S3Client;
  private readonly bucket: string;
  private readonly prefix: string;

  constructor(options: S3BlobStoreOptions) {
    const parsed = s3OptionsSchema.safeParse(options);
    if (!parsed.success) {
      // Never echo the input: it carries the secret key.
      const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
      throw new TypeError(`invalid S3BlobStore options: ${problems}`);
    }
    const o = parsed.data;
    this.bucket = o.bucket;
    this.prefix = o.prefix.replace(/^\/+|\/+$/g, '');
    this.client = new S3Client({
      region: o.region,
      forcePathStyle: o.forcePathStyle,
      maxAttempts: o.maxAttempts,
      ...(o.endpoint === undefined ? {} : { endpoint: o.endpoint }),
      ...(o.credentials === undefined ? {} : { credentials: o.credentials }),
      // The SDK's default CRC32 checksum headers (since 3.729) are rejected by several S3-compatible
      // stores; the SigV4-signed payload hash already protects uploads and `get` re-hashes downloads.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
  }

  /** The object key a ref lives under. */
  objectKey(ref: BlobRef): string {
    const hex = parseRef(ref);
    const tail = `${hex.slice(0, 2)}/${hex.slice(2, 4)}/${hex}`;
    return this.prefix === '' ? tail : `${this.prefix}/${tail}`;
  }

  async put(key: string, bytes: Uint8Array, mime: string): Promise<BlobRef> {
    if (mime.trim() === '') throw new TypeError('mime must not be empty');
    const hex = createHash('sha256').update(bytes).digest('hex');
    const ref: BlobRef = `sha256:${hex}`;
    // Same content, same key: an object already there has these bytes, so skip the upload.
    if (await this.exists(ref)) return ref;
    try {
      await this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: this.objectKey(ref),
          Body: bytes,
          ContentType: mime,
          // User metadata travels as HTTP headers, which must be ASCII: the label is URI-encoded.
          Metadata: { sha256: hex, label: encodeURIComponent(key).slice(0, 1024) },
        }),
      );
    } catch (error) {
      throw this.translate(error, 'PutObject', ref);
    }
    return ref;
  }

  async get(ref: BlobRef): Promise<StoredBlob | null> {
    const objectKey = this.objectKey(ref);
    let bytes: Buffer;
    let mime: string;
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: objectKey }));
      if (out.Body === undefined) throw new S3BlobStoreError(`S3 GetObject for ${ref} returned no body`, 'EmptyBody', null);
      bytes = Buffer.from(await out.Body.transformToByteArray());
      mime = out.ContentType ?? 'application/octet-stream';
    } catch (error) {
      if (isNotFound(error)) return null;
      throw this.translate(error, 'GetObject', ref);
    }
    if (createHash('sha256').update(bytes).digest('hex') !== parseRef(ref)) {
      throw new BlobIntegrityError(`blob ${ref} is corrupted in s3://${this.bucket}/${objectKey}`);
    }
    return { bytes, mime };
  }

  async exists(ref: BlobRef): Promise<boolean> {
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.objectKey(ref) }));
      return true;
    } catch (error) {
      if (isNotFound(error)) return false;
      throw this.translate(error, 'HeadObject', ref);
    }
  }

  /** Closes the SDK's pooled connections. */
  close(): void {
    this.client.destroy();
  }

  private translate(error: unknown, operation: string, ref: BlobRef): Error {
    if (error instanceof S3BlobStoreError) return error;
    if (!(error instanceof S3ServiceException)) return error instanceof Error ? error : new Error(String(error));
    const status = error.$metadata.httpStatusCode ?? null;
    // HEAD errors have no body, so the SDK only knows the status; name the code after it.
    const code = ['Unknown', 'UnknownError', ''].includes(error.name) ? `HTTP ${status ?? '?'}` : error.name;
    const where = `s3://${this.bucket}/${this.objectKey(ref)}`;
    if (status === 403 || AUTH_CODES.has(code)) {
      return new S3BlobStoreError(
        `S3 ${operation} on ${where} was refused (${code}): check the access key id, secret access key and the bucket's permissions (S3_ACCESS_KEY_ID / S3_SECRET_ACCESS_KEY)`,
        code,
        status,
        { cause: error },
      );
    }
    if (code === 'NoSuchBucket') {
      return new S3BlobStoreError(`S3 bucket "${this.bucket}" does not exist (S3_BUCKET)`, code, status, { cause: error });
    }
    return new S3BlobStoreError(`S3 ${operation} on ${where} failed (${code}): ${error.message}`, code, status, { cause: error });
  }
}

function parseRef(ref: BlobRef): string {
  const match = REF_PATTERN.exec(ref);
  if (!match?.[1]) throw new TypeError(`not a blob ref: ${JSON.stringify(ref)} (expected "sha256:<64 hex>")`);
  return match[1];
}

function isNotFound(error: unknown): boolean {
  // GetObject answers NoSuchKey; HeadObject has no body, so the SDK names its 404 "NotFound".
  if (!(error instanceof S3ServiceException)) return false;
  return error.name === 'NoSuchKey' || error.name === 'NotFound' || (error.$metadata.httpStatusCode === 404 && error.name !== 'NoSuchBucket');
}

const booleanFlag = z.union([z.boolean(), z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1')]);

const mediaStoreEnvSchema = z.object({
  MEDIA_STORE: z.enum(['dir', 's3']).default('dir'),
  S3_ENDPOINT: z.url({ protocol: /^https?$/ }).optional(),
  S3_REGION: z.string().min(1).default('us-east-1'),
  S3_BUCKET: z.string().min(1).optional(),
  S3_ACCESS_KEY_ID: z.string().min(1).optional(),
  S3_SECRET_ACCESS_KEY: z.string().min(1).optional(),
  S3_PREFIX: z.string().default('media'),
  S3_FORCE_PATH_STYLE: booleanFlag.optional(),
});

/**
 * The media store the environment asks for: MEDIA_STORE=s3 → S3BlobStore from the S3_* keys,
 * anything else → DirectoryBlobStore under `<dataDir>/media`. Accepts `process.env` or a parsed config
 * (empty strings count as unset). S3_FORCE_PATH_STYLE defaults to true when S3_ENDPOINT is set, as
 * self-hosted stores mostly need it, and false for AWS itself.
 */
export function blobStoreFromEnv(env: Readonly<Record<string, unknown>>, dataDir: string): BlobStore {
  const cleaned = Object.fromEntries(Object.entries(env).filter(([name, v]) => (name === 'MEDIA_STORE' || name.startsWith('S3_')) && v !== undefined && v !== ''));
  const parsed = mediaStoreEnvSchema.safeParse(cleaned);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new TypeError(`invalid media store configuration: ${problems}`);
  }
  const e = parsed.data;
  if (e.MEDIA_STORE === 'dir') return new DirectoryBlobStore(path.join(dataDir, 'media'));
  if (e.S3_BUCKET === undefined) throw new TypeError('MEDIA_STORE=s3 needs S3_BUCKET');
  if ((e.S3_ACCESS_KEY_ID === undefined) !== (e.S3_SECRET_ACCESS_KEY === undefined)) {
    throw new TypeError('S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY go together: set both, or neither to use the AWS default credential chain');
  }
  return new S3BlobStore({
    region: e.S3_REGION,
    bucket: e.S3_BUCKET,
    prefix: e.S3_PREFIX,
    forcePathStyle: e.S3_FORCE_PATH_STYLE ?? e.S3_ENDPOINT !== undefined,
    ...(e.S3_ENDPOINT === undefined ? {} : { endpoint: e.S3_ENDPOINT }),
    ...(e.S3_ACCESS_KEY_ID === undefined || e.S3_SECRET_ACCESS_KEY === undefined
      ? {}
      : { credentials: { accessKeyId: e.S3_ACCESS_KEY_ID, secretAccessKey: e.S3_SECRET_ACCESS_KEY } }),
  });
}
