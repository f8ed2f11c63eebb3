import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

/** What a stub CoEx server saw of one request from an in-CRM UI. */
export interface SignedRequest {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
  /** The X-Coex-Signature is right for `key` and X-Coex-Account is the expected account. */
  signatureOk: boolean;
}

/** JS reference of the signature every CoEx extension sends (docs/extension-api.md). */
export function referenceSignature(key: string, method: string, pathWithQuery: string, timestamp: string, nonce: string, body: string): string {
  return createHmac('sha256', Buffer.from(key, 'utf8')).update(`${method}\n${pathWithQuery}\n${timestamp}\n${nonce}\n${body}`, 'utf8').digest('hex');
}

/** Reads a request's body and checks its extension signature, as the real server does. */
export function readSignedRequest(req: IncomingMessage, key: string, account: string): Promise<SignedRequest> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('error', reject);
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const h = (n: string) => String(req.headers[n] ?? '');
      const expected = Buffer.from(referenceSignature(key, req.method ?? '', req.url ?? '', h('x-coex-timestamp'), h('x-coex-nonce'), body));
      const got = Buffer.from(h('x-coex-signature'));
      const signatureOk = got.length === expected.length && timingSafeEqual(got, expected) && h('x-coex-account') === account;
      resolve({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body, signatureOk });
    });
  });
}
