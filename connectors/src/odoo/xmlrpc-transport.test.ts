import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { CrmError } from '../types.js';
import { OdooXmlRpcTransport, toCrmError } from './xmlrpc-transport.js';

/** A bare HTTP server that records paths and answers with a fixed status/body. */
async function server(status: number, body: string, headers: Record<string, string> = {}) {
  const paths: string[] = [];
  const srv = createServer((req, res) => {
    paths.push(req.url ?? '');
    req.resume();
    req.on('end', () => {
      res.writeHead(status, { 'content-type': 'text/xml', ...headers });
      res.end(body);
    });
  });
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(srv.address() as AddressInfo).port}`, paths, close: () => new Promise((r) => srv.close(r)) };
}

let close: (() => Promise<unknown>) | null = null;
afterEach(async () => {
  await close?.();
  close = null;
});

type Client = { connect(cb: (err: unknown, uid: unknown) => void): void };
const OdooXmlRpc = createRequire(import.meta.url)('odoo-xmlrpc') as new (c: object) => Client;

describe('odoo-xmlrpc under ESM', () => {
  it('loads as a default import in native Node ESM (CommonJS module.exports = constructor)', () => {
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', "import O from 'odoo-xmlrpc'; process.stdout.write(typeof O)"], {
      cwd: fileURLToPath(new URL('.', import.meta.url)),
    });
    expect(out.toString()).toBe('function');
  });

  it('drops the path of the configured URL, which is why the transport refuses URLs with a path', async () => {
    const s = await server(200, "<?xml version='1.0'?><methodResponse><params><param><value><int>2</int></value></param></params></methodResponse>");
    close = s.close;
    const client = new OdooXmlRpc({ url: `${s.url}/odoo`, db: 'd', username: 'u', password: 'p' });
    const uid = await new Promise((resolve, reject) => client.connect((err, v) => (err ? reject(err) : resolve(v))));
    expect(uid).toBe(2);
    expect(s.paths).toEqual(['/xmlrpc/2/common']);
    expect(() => new OdooXmlRpcTransport({ url: `${s.url}/odoo`, db: 'd', login: 'u', apiKey: 'p' })).toThrow(/root/);
  });
});

describe('OdooXmlRpcTransport errors', () => {
  it('maps a proxy 429 with an HTML body to a retryable CrmError with Retry-After', async () => {
    const s = await server(429, '<html>slow down</html>', { 'retry-after': '12', 'content-type': 'text/html' });
    close = s.close;
    const t = new OdooXmlRpcTransport({ url: s.url, db: 'd', login: 'u', apiKey: 'p' });
    const err = await t.searchRead('res.partner', [], { fields: ['id'] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CrmError);
    expect(err).toMatchObject({ retryable: true, status: 429, retryAfterSeconds: 12 });
    expect(t.requestCount).toBe(1);
  });

  it('times out a server that never answers, as a retryable error', async () => {
    const srv = createServer(() => {
      /* never answers */
    });
    await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
    close = () => {
      srv.closeAllConnections();
      return new Promise((r) => srv.close(r));
    };
    const t = new OdooXmlRpcTransport({ url: `http://127.0.0.1:${(srv.address() as AddressInfo).port}`, db: 'd', login: 'u', apiKey: 'p', timeoutMs: 50 });
    const err = await t.fieldsGet('res.partner', ['phone']).catch((e: unknown) => e);
    expect(err).toMatchObject({ retryable: true });
    expect(String((err as Error).message)).toContain('timed out');
  });

  it('maps faults: access denied and app errors are final, serialization failures retryable', () => {
    expect(toCrmError({ faultCode: 3, faultString: 'Access Denied' }, 'x')).toMatchObject({ retryable: false });
    const app = toCrmError({ faultCode: 1, faultString: 'Traceback...\n  File "x"\nValueError: Invalid field' }, 'x');
    expect(app.retryable).toBe(false);
    expect(app.message).toContain('ValueError: Invalid field');
    expect(toCrmError({ faultCode: 1, faultString: 'Traceback\npsycopg2.errors.SerializationFailure: could not serialize access' }, 'x').retryable).toBe(true);
  });

  it('maps HTTP statuses from err.res and socket errors', () => {
    const res = (statusCode: number, headers: Record<string, string> = {}) => ({ statusCode, headers }) as unknown as IncomingMessage;
    expect(toCrmError({ message: 'Not Found', res: res(404) }, 'x')).toMatchObject({ retryable: false, status: 404 });
    expect(toCrmError({ message: 'bad', res: res(502) }, 'x')).toMatchObject({ retryable: true, status: 502 });
    expect(toCrmError({ message: "Unknown XML-RPC tag 'HTML'", res: res(200) }, 'x')).toMatchObject({ retryable: false, status: 200 });
    expect(toCrmError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }), 'x').retryable).toBe(true);
    expect(toCrmError(Object.assign(new Error('self-signed certificate'), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' }), 'x').retryable).toBe(false);
  });
});
