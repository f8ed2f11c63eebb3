/**
 * A local fake of an S3-compatible object store (AWS S3, MinIO, R2, …) for running the real
 * `@aws-sdk/client-s3` against: one HTTP server on 127.0.0.1, in-memory buckets.
 *
 * Modelled (wire format as S3 documents and answers it):
 * - Path-style URLs only: `/{bucket}/{key}` (the SDK's `forcePathStyle: true`). Query strings such as
 *   the SDK's `?x-id=PutObject` are accepted and ignored apart from signing.
 * - `PutObject` (PUT): stores the body, `Content-Type` (S3's default `binary/octet-stream` when absent)
 *   and `x-amz-meta-*` headers; answers 200 with a quoted MD5 `ETag`. Overwrites like S3 does.
 * - `GetObject` (GET): body, `Content-Type`, `Content-Length`, `ETag`, `Last-Modified`, `x-amz-meta-*`.
 * - `HeadObject` (HEAD): the same headers without a body; errors are status-only, as S3 sends them.
 * - Errors as S3's XML `<Error><Code>…</Code><Message>…</Message>…<RequestId>…</RequestId></Error>`:
 *   404 `NoSuchKey`, 404 `NoSuchBucket`, 403 `AccessDenied` (no Authorization header),
 *   403 `InvalidAccessKeyId`, 403 `SignatureDoesNotMatch`, 400 `AuthorizationHeaderMalformed`
 *   (wrong region or service in the credential scope), 400 `XAmzContentSHA256Mismatch` (body does not
 *   hash to the signed `x-amz-content-sha256`), 405 `MethodNotAllowed`, 501 `NotImplemented`.
 * - SigV4 header auth is fully verified: canonical request (method, path as sent, sorted query,
 *   signed headers, payload hash), string to sign, derived signing key, constant-time comparison.
 *
 * Not modelled: virtual-hosted-style URLs, presigned (query-string) auth, `aws-chunked` streaming
 * uploads (rejected with 501), clock-skew checks (`RequestTimeTooSkewed`), multipart uploads, Range
 * and conditional requests, ListObjects, DeleteObject, versioning, ACLs/policies, bucket creation
 * over HTTP, checksum headers (`x-amz-checksum-*` are stored as plain headers, not verified).
 *
 * Test hooks: `requests` (every request as received, with its answer's status), `object()` to read
 * what is stored, `tamper()` to change stored bytes behind the client's back, `failNext()` to answer
 * the next request with a scripted error.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export const DEFAULT_S3_ACCESS_KEY_ID = 'AKIAFAKECOEXTEST0001';
export const DEFAULT_S3_SECRET_ACCESS_KEY = 'fake-secret/coex+test/0000000000000000000';
export const DEFAULT_S3_REGION = 'us-east-1';
export const DEFAULT_S3_BUCKET = 'coex-media';

export interface S3FakeOptions {
  region?: string;
  buckets?: string[];
  credentials?: Array<{ accessKeyId: string; secretAccessKey: string }>;
}

export interface StoredS3Object {
  bytes: Buffer;
  contentType: string;
  metadata: Record<string, string>;
  etag: string;
  lastModified: Date;
}

export interface RecordedS3Request {
  method: string;
  /** The path as sent, e.g. `/coex-media/media/ab/cd/<sha>`. */
  path: string;
  bucket: string | null;
  key: string | null;
  query: string;
  headers: Record<string, string>;
  bodyLength: number;
  /** The access key id from the Authorization header, when there was one. */
  accessKeyId: string | null;
  status: number;
}

export interface S3Fake {
  url: string;
  region: string;
  requests: RecordedS3Request[];
  object(bucket: string, key: string): StoredS3Object | undefined;
  /** Replace the stored bytes of an existing object, keeping its headers (simulates bit rot or tampering). */
  tamper(bucket: string, key: string, bytes: Uint8Array): void;
  /** Answer the next request with this S3 error instead of serving it. */
  failNext(status: number, code: string, message: string): void;
  close(): Promise<void>;
}

class S3Error extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly extra: Record<string, string> = {},
  ) {
    super(message);
  }
}

const AUTH_PATTERN = /^AWS4-HMAC-SHA256 Credential=([^/,\s]+)\/(\d{8})\/([^/,\s]+)\/([^/,\s]+)\/aws4_request,\s*SignedHeaders=([a-z0-9;-]+),\s*Signature=([0-9a-f]{64})$/;

export async function startS3Fake(options: S3FakeOptions = {}): Promise<S3Fake> {
  const region = options.region ?? DEFAULT_S3_REGION;
  const secrets = new Map((options.credentials ?? [{ accessKeyId: DEFAULT_S3_ACCESS_KEY_ID, secretAccessKey: DEFAULT_S3_SECRET_ACCESS_KEY }]).map((c) => [c.accessKeyId, c.secretAccessKey]));
  const buckets = new Map<string, Map<string, StoredS3Object>>((options.buckets ?? [DEFAULT_S3_BUCKET]).map((b) => [b, new Map()]));
  const requests: RecordedS3Request[] = [];
  const scripted: S3Error[] = [];

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const rawUrl = req.url ?? '/';
      const queryAt = rawUrl.indexOf('?');
      const rawPath = queryAt === -1 ? rawUrl : rawUrl.slice(0, queryAt);
      const query = queryAt === -1 ? '' : rawUrl.slice(queryAt + 1);
      const { bucket, key } = splitPath(rawPath);
      const record: RecordedS3Request = {
        method: req.method ?? '',
        path: rawPath,
        bucket,
        key,
        query,
        headers: flatHeaders(req),
        bodyLength: body.length,
        accessKeyId: AUTH_PATTERN.exec(req.headers.authorization ?? '')?.[1] ?? null,
        status: 0,
      };
      requests.push(record);
      try {
        const failure = scripted.shift();
        if (failure) throw failure;
        authenticate(req, rawPath, query, body);
        record.status = serve(req, res, bucket, key, body);
      } catch (error) {
        const e = error instanceof S3Error ? error : new S3Error(500, 'InternalError', 'We encountered an internal error. Please try again.');
        record.status = e.status;
        sendError(req, res, e, rawPath);
      }
    });
  });

  function authenticate(req: IncomingMessage, rawPath: string, query: string, body: Buffer): void {
    const header = req.headers.authorization;
    if (header === undefined) throw new S3Error(403, 'AccessDenied', 'Access Denied');
    const match = AUTH_PATTERN.exec(header);
    if (!match) throw new S3Error(400, 'AuthorizationHeaderMalformed', 'The authorization header is malformed.');
    const [, accessKeyId = '', date = '', scopeRegion = '', service = '', signedHeaderList = '', signature = ''] = match;
    const secret = secrets.get(accessKeyId);
    if (secret === undefined) {
      throw new S3Error(403, 'InvalidAccessKeyId', 'The AWS Access Key Id you provided does not exist in our records.', { AWSAccessKeyId: accessKeyId });
    }
    if (scopeRegion !== region || service !== 's3') {
      throw new S3Error(400, 'AuthorizationHeaderMalformed', `The authorization header is malformed; the region '${scopeRegion}' is wrong; expecting '${region}'`, { Region: region });
    }
    const amzDate = header1(req, 'x-amz-date');
    const payloadHash = header1(req, 'x-amz-content-sha256');
    if (amzDate === undefined || !amzDate.startsWith(date) || payloadHash === undefined) {
      throw new S3Error(400, 'AuthorizationHeaderMalformed', 'The authorization header is malformed; x-amz-date and x-amz-content-sha256 are required.');
    }
    if (payloadHash.startsWith('STREAMING-') || /aws-chunked/.test(header1(req, 'content-encoding') ?? '')) {
      throw new S3Error(501, 'NotImplemented', 'This fake does not implement aws-chunked streaming uploads.');
    }
    if (payloadHash !== 'UNSIGNED-PAYLOAD' && payloadHash !== createHash('sha256').update(body).digest('hex')) {
      throw new S3Error(400, 'XAmzContentSHA256Mismatch', "The provided 'x-amz-content-sha256' header does not match what was computed.");
    }
    const signedHeaders = signedHeaderList.split(';');
    if (!signedHeaders.includes('host')) throw new S3Error(400, 'AuthorizationHeaderMalformed', 'The host header must be signed.');
    const canonicalHeaders = signedHeaders.map((name) => `${name}:${(header1(req, name) ?? '').trim().replace(/\s+/g, ' ')}\n`).join('');
    const canonicalRequest = [req.method, rawPath, canonicalQuery(query), canonicalHeaders, signedHeaderList, payloadHash].join('\n');
    const scope = `${date}/${scopeRegion}/${service}/aws4_request`;
    const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, createHash('sha256').update(canonicalRequest).digest('hex')].join('\n');
    let signingKey: Buffer = hmac(`AWS4${secret}`, date);
    for (const part of [scopeRegion, service, 'aws4_request']) signingKey = hmac(signingKey, part);
    const expected = createHmac('sha256', signingKey).update(stringToSign).digest();
    if (!timingSafeEqual(expected, Buffer.from(signature, 'hex'))) {
      throw new S3Error(403, 'SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided. Check your key and signing method.', { AWSAccessKeyId: accessKeyId });
    }
  }

  function serve(req: IncomingMessage, res: ServerResponse, bucket: string | null, key: string | null, body: Buffer): number {
    if (bucket === null) throw new S3Error(501, 'NotImplemented', 'ListBuckets is not implemented by this fake.');
    const objects = buckets.get(bucket);
    if (!objects) throw new S3Error(404, 'NoSuchBucket', 'The specified bucket does not exist', { BucketName: bucket });
    if (key === null) throw new S3Error(501, 'NotImplemented', 'Bucket-level operations are not implemented by this fake.');
    switch (req.method) {
      case 'PUT': {
        const metadata: Record<string, string> = {};
        for (const [name, value] of Object.entries(flatHeaders(req))) if (name.startsWith('x-amz-meta-')) metadata[name.slice('x-amz-meta-'.length)] = value;
        const stored: StoredS3Object = {
          bytes: body,
          contentType: header1(req, 'content-type') ?? 'binary/octet-stream',
          metadata,
          etag: `"${createHash('md5').update(body).digest('hex')}"`,
          lastModified: new Date(),
        };
        objects.set(key, stored);
        res.writeHead(200, { ETag: stored.etag, 'x-amz-request-id': requestId() });
        res.end();
        return 200;
      }
      case 'GET':
      case 'HEAD': {
        const stored = objects.get(key);
        if (!stored) throw new S3Error(404, 'NoSuchKey', 'The specified key does not exist.', { Key: key });
        const headers: Record<string, string | number> = {
          'Content-Type': stored.contentType,
          'Content-Length': stored.bytes.length,
          ETag: stored.etag,
          'Last-Modified': stored.lastModified.toUTCString(),
          'Accept-Ranges': 'bytes',
          'x-amz-request-id': requestId(),
        };
        for (const [name, value] of Object.entries(stored.metadata)) headers[`x-amz-meta-${name}`] = value;
        res.writeHead(200, headers);
        res.end(req.method === 'GET' ? stored.bytes : undefined);
        return 200;
      }
      default:
        throw new S3Error(405, 'MethodNotAllowed', 'The specified method is not allowed against this resource.', { Method: req.method ?? '' });
    }
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    region,
    requests,
    object: (bucket, key) => buckets.get(bucket)?.get(key),
    tamper(bucket, key, bytes) {
      const stored = buckets.get(bucket)?.get(key);
      if (!stored) throw new Error(`no object ${bucket}/${key} to tamper with`);
      stored.bytes = Buffer.from(bytes);
    },
    failNext(status, code, message) {
      scripted.push(new S3Error(status, code, message));
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}

function splitPath(rawPath: string): { bucket: string | null; key: string | null } {
  const path = rawPath.replace(/^\/+/, '');
  if (path === '') return { bucket: null, key: null };
  const slash = path.indexOf('/');
  if (slash === -1 || slash === path.length - 1) return { bucket: decodeURIComponent(path.replace(/\/$/, '')), key: null };
  return { bucket: decodeURIComponent(path.slice(0, slash)), key: decodeURIComponent(path.slice(slash + 1)) };
}

/** SigV4 canonical query: each name and value RFC 3986-encoded, sorted by name then value. */
function canonicalQuery(query: string): string {
  if (query === '') return '';
  const encode = (s: string) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return query
    .split('&')
    .filter((p) => p !== '')
    .map((pair) => {
      const eq = pair.indexOf('=');
      const name = decodeURIComponent(eq === -1 ? pair : pair.slice(0, eq));
      const value = eq === -1 ? '' : decodeURIComponent(pair.slice(eq + 1).replace(/\+/g, ' '));
      return [encode(name), encode(value)] as const;
    })
    .sort(([a1, a2], [b1, b2]) => (a1 < b1 ? -1 : a1 > b1 ? 1 : a2 < b2 ? -1 : a2 > b2 ? 1 : 0))
    .map(([n, v]) => `${n}=${v}`)
    .join('&');
}

function hmac(key: string | Buffer, data: string): Buffer {
  return createHmac('sha256', key).update(data).digest();
}

function header1(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(',') : value;
}

function flatHeaders(req: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) if (value !== undefined) out[name] = Array.isArray(value) ? value.join(',') : value;
  return out;
}

function requestId(): string {
  return randomBytes(8).toString('hex').toUpperCase();
}

function sendError(req: IncomingMessage, res: ServerResponse, error: S3Error, resource: string): void {
  const id = requestId();
  // HEAD responses carry no body, so S3 reports HEAD errors by status code alone.
  if (req.method === 'HEAD') {
    res.writeHead(error.status, { 'x-amz-request-id': id });
    res.end();
    return;
  }
  const extra = Object.entries(error.extra)
    .map(([name, value]) => `<${name}>${xmlEscape(value)}</${name}>`)
    .join('');
  const xml = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${error.code}</Code><Message>${xmlEscape(error.message)}</Message>${extra}<Resource>${xmlEscape(resource)}</Resource><RequestId>${id}</RequestId></Error>`;
  res.writeHead(error.status, { 'Content-Type': 'application/xml', 'Content-Length': Buffer.byteLength(xml), 'x-amz-request-id': id });
  res.end(xml);
}

function xmlEscape(s: string): string {
  return s.replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c] ?? c);
}
