/**
 * Fetching WhatsApp media reliably, and storing it.
 *
 * Meta's download URLs expire after about 5 minutes and media ids from webhooks after 7 days
 * (coex-spec §8), so media is looked up and downloaded in one go, verified (size, SHA-256, mime),
 * and kept in a BlobStore. An expired URL (401/403/404 from the lookaside host) gets one fresh lookup.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import type { GraphClient, MediaInfo } from './graph-client.js';
import { GraphApiError, MediaDownloadError } from './graph-errors.js';

export type MediaUnavailableReason = 'expired' | 'not_found' | 'too_large' | 'checksum_mismatch' | 'mime_mismatch';

export class MediaUnavailableError extends Error {
  override readonly name = 'MediaUnavailableError';
  constructor(
    readonly mediaId: string,
    readonly reason: MediaUnavailableReason,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(`Media ${mediaId} is unavailable (${reason}): ${detail}`, options);
  }
}

/** The two GraphClient calls media fetching needs; a narrow type keeps the dependency honest. */
export type MediaSource = Pick<GraphClient, 'getMedia' | 'downloadMedia'>;

export interface FetchMediaOptions {
  /** Refuse anything larger (Meta's own caps: audio/video 16 MB, image 5 MB, document 100 MB). */
  maxBytes: number;
  /** From the webhook. Hex (as GET /{media-id} gives it) or base64 (as some webhook payloads carry it). */
  expectedSha256?: string;
  /** From the webhook, e.g. "audio/ogg; codecs=opus". Compared on type/subtype only. */
  expectedMime?: string;
  /** Sent to Meta so it checks the media belongs to this number, and used to pick the token. */
  phoneNumberId?: string;
  signal?: AbortSignal;
}

export interface FetchedMedia {
  mediaId: string;
  bytes: Buffer;
  mimeType: string;
  /** Lowercase hex SHA-256 of `bytes`. */
  sha256: string;
  size: number;
}

const EXPIRED_URL_STATUSES = new Set([401, 403, 404]);

/** Lowercase hex for a SHA-256 given as hex or base64; null when it is neither. */
export function normalizeSha256(value: string): string | null {
  const trimmed = value.trim();
  if (/^[0-9a-fA-F]{64}$/.test(trimmed)) return trimmed.toLowerCase();
  if (/^[A-Za-z0-9+/_-]{42,44}={0,2}$/.test(trimmed)) {
    const bytes = Buffer.from(trimmed.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
    if (bytes.length === 32) return bytes.toString('hex');
  }
  return null;
}

/** "Audio/OGG; codecs=opus" → "audio/ogg". */
export function mimeEssence(mime: string): string {
  return (mime.split(';')[0] ?? '').trim().toLowerCase();
}

function isNotFound(error: GraphApiError): boolean {
  // Unknown or expired ids: HTTP 404, or Graph's code 100 (subcode 33 "object does not exist").
  return error.httpStatus === 404 || error.code === 100 || error.subcode === 33;
}

/**
 * Looks the media up, downloads it at once, and verifies it. Throws MediaUnavailableError when the
 * media cannot be had; other errors (network, Meta 5xx, token) propagate for the caller's retry policy.
 */
export async function fetchMedia(client: MediaSource, mediaId: string, options: FetchMediaOptions): Promise<FetchedMedia> {
  if (!Number.isInteger(options.maxBytes) || options.maxBytes <= 0) throw new TypeError('maxBytes must be a positive integer');
  let expectedHex: string | null = null;
  if (options.expectedSha256 !== undefined) {
    expectedHex = normalizeSha256(options.expectedSha256);
    if (expectedHex === null) throw new TypeError('expectedSha256 must be a SHA-256 in hex or base64');
  }
  const scope = {
    ...(options.phoneNumberId === undefined ? {} : { phoneNumberId: options.phoneNumberId }),
    ...(options.signal === undefined ? {} : { signal: options.signal }),
  };

  for (let attempt = 0; ; attempt++) {
    let info: MediaInfo;
    try {
      info = await client.getMedia(mediaId, scope);
    } catch (error) {
      if (error instanceof GraphApiError && isNotFound(error)) {
        throw new MediaUnavailableError(mediaId, 'not_found', `Meta does not know this media id (${error.graphMessage})`, { cause: error });
      }
      throw error;
    }
    if (info.fileSize > options.maxBytes) {
      throw new MediaUnavailableError(mediaId, 'too_large', `${info.fileSize} bytes is over the ${options.maxBytes}-byte limit`);
    }
    if (options.expectedMime !== undefined && mimeEssence(options.expectedMime) !== mimeEssence(info.mimeType)) {
      throw new MediaUnavailableError(mediaId, 'mime_mismatch', `expected ${options.expectedMime}, Meta says ${info.mimeType}`);
    }

    let bytes: Buffer;
    try {
      bytes = await client.downloadMedia(info.url, { ...scope, maxBytes: options.maxBytes });
    } catch (error) {
      if (error instanceof MediaDownloadError) {
        if (error.kind === 'too_large') {
          throw new MediaUnavailableError(mediaId, 'too_large', error.message, { cause: error });
        }
        if (error.httpStatus !== null && EXPIRED_URL_STATUSES.has(error.httpStatus)) {
          if (attempt === 0) continue; // the URL expired between lookup and download: one fresh lookup
          throw new MediaUnavailableError(mediaId, 'expired', `download URL rejected twice (HTTP ${error.httpStatus})`, { cause: error });
        }
      }
      throw error;
    }

    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const metaHex = normalizeSha256(info.sha256);
    if (metaHex !== null && metaHex !== sha256) {
      throw new MediaUnavailableError(mediaId, 'checksum_mismatch', `downloaded bytes hash to ${sha256}, Meta says ${metaHex}`);
    }
    if (expectedHex !== null && expectedHex !== sha256) {
      throw new MediaUnavailableError(mediaId, 'checksum_mismatch', `downloaded bytes hash to ${sha256}, the webhook said ${expectedHex}`);
    }
    if (bytes.length !== info.fileSize) {
      throw new MediaUnavailableError(mediaId, 'checksum_mismatch', `downloaded ${bytes.length} bytes, Meta says ${info.fileSize}`);
    }
    return { mediaId, bytes, mimeType: info.mimeType, sha256, size: bytes.length };
  }
}

// ---------------------------------------------------------------------------------------------
// Blob storage
// ---------------------------------------------------------------------------------------------

/** An opaque, storable reference: "sha256:<64 hex>". */
export type BlobRef = string;

export interface StoredBlob {
  bytes: Buffer;
  mime: string;
}

export interface BlobStore {
  /** Stores the bytes; storing the same content twice returns the same ref. `key` is a label kept for humans (e.g. "media/<id>"). */
  put(key: string, bytes: Uint8Array, mime: string): Promise<BlobRef>;
  /** The bytes and mime type, or null when nothing is stored under that ref. */
  get(ref: BlobRef): Promise<StoredBlob | null>;
  exists(ref: BlobRef): Promise<boolean>;
}

const REF_PATTERN = /^sha256:([0-9a-f]{64})$/;

const blobMetaSchema = z.object({ mime: z.string(), size: z.number().int().nonnegative(), keys: z.array(z.string()) });

export class BlobIntegrityError extends Error {
  override readonly name = 'BlobIntegrityError';
}

/**
 * Content-addressed files under a root directory: `<root>/ab/cd/<sha256>` plus `<sha256>.json`
 * with the mime type. Writes go to a temp file and are renamed into place, so a reader never sees a
 * half-written blob and a crash leaves at most a stray temp file.
 */
export class DirectoryBlobStore implements BlobStore {
  private readonly root: string;

  constructor(root: string) {
    if (root.trim() === '') throw new TypeError('root must be a directory path');
    this.root = path.resolve(root);
  }

  async put(key: string, bytes: Uint8Array, mime: string): Promise<BlobRef> {
    if (mime.trim() === '') throw new TypeError('mime must not be empty');
    const hex = createHash('sha256').update(bytes).digest('hex');
    const ref: BlobRef = `sha256:${hex}`;
    const { dir, dataPath, metaPath } = this.pathsFor(hex);
    await mkdir(dir, { recursive: true });
    // Same content, same path: when it is already there the bytes are identical, only the label is new.
    if (!(await fileExists(dataPath))) await this.atomicWrite(dataPath, bytes);
    const previous = await this.readMeta(metaPath);
    const keys = previous ? Array.from(new Set([...previous.keys, key])) : [key];
    await this.atomicWrite(metaPath, Buffer.from(JSON.stringify({ mime: previous?.mime ?? mime, size: bytes.byteLength, keys })));
    return ref;
  }

  async get(ref: BlobRef): Promise<StoredBlob | null> {
    const hex = parseRef(ref);
    const { dataPath, metaPath } = this.pathsFor(hex);
    let bytes: Buffer;
    try {
      bytes = await readFile(dataPath);
    } catch (error) {
      if (isNoEntry(error)) return null;
      throw error;
    }
    if (createHash('sha256').update(bytes).digest('hex') !== hex) {
      throw new BlobIntegrityError(`blob ${ref} is corrupted on disk`);
    }
    const meta = await this.readMeta(metaPath);
    return { bytes, mime: meta?.mime ?? 'application/octet-stream' };
  }

  async exists(ref: BlobRef): Promise<boolean> {
    const hex = parseRef(ref);
    return fileExists(this.pathsFor(hex).dataPath);
  }

  private pathsFor(hex: string): { dir: string; dataPath: string; metaPath: string } {
    const dir = path.join(this.root, hex.slice(0, 2), hex.slice(2, 4));
    return { dir, dataPath: path.join(dir, hex), metaPath: path.join(dir, `${hex}.json`) };
  }

  private async readMeta(metaPath: string): Promise<z.infer<typeof blobMetaSchema> | null> {
    try {
      const parsed = blobMetaSchema.safeParse(JSON.parse(await readFile(metaPath, 'utf8')));
      return parsed.success ? parsed.data : null;
    } catch (error) {
      if (isNoEntry(error) || error instanceof SyntaxError) return null;
      throw error;
    }
  }

  private async atomicWrite(target: string, bytes: Uint8Array): Promise<void> {
    const tmp = `${target}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
    try {
      await writeFile(tmp, bytes, { flag: 'wx' });
      // fsync before rename so a power cut cannot leave a renamed-but-empty file.
      const handle = await open(tmp, 'r+');
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(tmp, target);
    } catch (error) {
      await rm(tmp, { force: true });
      throw error;
    }
  }
}

function parseRef(ref: BlobRef): string {
  const match = REF_PATTERN.exec(ref);
  if (!match?.[1]) throw new TypeError(`not a blob ref: ${JSON.stringify(ref)} (expected "sha256:<64 hex>")`);
  return match[1];
}

async function fileExists(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isFile();
  } catch (error) {
    if (isNoEntry(error)) return false;
    throw error;
  }
}

function isNoEntry(error: unknown): boolean {
  return error instanceof Error && 'code' in error && error.code === 'ENOENT';
}
