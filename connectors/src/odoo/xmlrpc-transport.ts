import { createRequire } from 'node:module';
import type { IncomingMessage } from 'node:http';
import { DEFAULT_TIMEOUT_MS, parseRetryAfter } from '../http.js';
import { CrmError } from '../types.js';
import type { OdooDomain, OdooTransport, SearchReadOptions } from './transport.js';

/**
 * XML-RPC transport for Odoo ≤ 18 (`/xmlrpc/2/common` authenticate, `/xmlrpc/2/object` execute_kw),
 * built on the `odoo-xmlrpc` package (CommonJS, callback API) wrapped in promises.
 * See docs/decisions/odoo-rpc.md for what that package does and does not do.
 */

/** The part of odoo-xmlrpc's API we use (the package ships no types). */
interface OdooXmlRpcClient {
  connect(callback: (err: unknown, uid: unknown) => void): void;
  execute_kw(model: string, method: string, params: unknown[], callback: (err: unknown, value: unknown) => void): void;
}
type OdooXmlRpcConstructor = new (config: {
  url: string;
  port?: string | number;
  db: string;
  username: string;
  password: string;
}) => OdooXmlRpcClient;

// createRequire keeps the CommonJS interop explicit (a default import works too under native ESM).
const require = createRequire(import.meta.url);
const OdooXmlRpc = require('odoo-xmlrpc') as OdooXmlRpcConstructor;

/** Python exceptions that mean "try the same call again later" (Odoo retries these itself a few times). */
const TRANSIENT_FAULT = /SerializationFailure|could not serialize access|deadlock detected|LockNotAvailable|TransactionRollbackError/i;
const RETRYABLE_NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH']);

export interface XmlRpcTransportConfig {
  url: string;
  db: string;
  login: string;
  apiKey: string;
  timeoutMs?: number;
}

export class OdooXmlRpcTransport implements OdooTransport {
  readonly protocol = 'xmlrpc' as const;
  private calls = 0;
  private readonly client: OdooXmlRpcClient;
  private readonly timeoutMs: number;
  private auth: Promise<number> | null = null;

  constructor(private readonly config: XmlRpcTransportConfig) {
    const url = new URL(config.url);
    // odoo-xmlrpc builds its request paths from hostname and port only: a path prefix would be dropped silently.
    if (url.pathname !== '/' && url.pathname !== '') {
      throw new Error(`OdooConnector: XML-RPC needs Odoo at the root of its host; got path "${url.pathname}" in url`);
    }
    this.client = new OdooXmlRpc({ url: url.origin, db: config.db, username: config.login, password: config.apiKey });
    this.timeoutMs = config.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  get requestCount(): number {
    return this.calls;
  }

  searchRead(model: string, domain: OdooDomain, options: SearchReadOptions): Promise<unknown> {
    const kwargs: Record<string, unknown> = { fields: options.fields };
    if (options.limit !== undefined) kwargs['limit'] = options.limit;
    if (options.order !== undefined) kwargs['order'] = options.order;
    return this.executeKw(model, 'search_read', [domain], kwargs);
  }

  create(model: string, values: Record<string, unknown>): Promise<unknown> {
    // Positional on purpose: Odoo's create dispatcher reads args[0] and fails on a vals_list keyword.
    return this.executeKw(model, 'create', [values], {});
  }

  callOnRecords(model: string, method: string, ids: number[], kwargs: Record<string, unknown>): Promise<unknown> {
    return this.executeKw(model, method, [ids], kwargs);
  }

  fieldsGet(model: string, fieldNames: string[]): Promise<unknown> {
    return this.executeKw(model, 'fields_get', [], { allfields: fieldNames, attributes: ['type'] });
  }

  private async executeKw(model: string, method: string, args: unknown[], kwargs: Record<string, unknown>): Promise<unknown> {
    await this.authenticate();
    const where = `execute_kw ${model}.${method}`;
    try {
      return await this.withTimeout(where, (done) => this.client.execute_kw(model, method, [args, kwargs], done));
    } catch (err) {
      // Fault 3 is AccessDenied (revoked key, changed password): authenticate again on the next call.
      if (isRecord(err) && err['faultCode'] === 3) this.auth = null;
      throw toCrmError(err, where);
    }
  }

  private authenticate(): Promise<number> {
    // Single-flight: concurrent first calls share one authenticate round trip.
    this.auth ??= this.withTimeout('authenticate', (done) => this.client.connect(done)).then(
      (uid) => {
        if (typeof uid !== 'number' || !Number.isInteger(uid) || uid <= 0) {
          throw new CrmError(`odoo: authenticate returned no user id`, 'odoo', false, 401);
        }
        return uid;
      },
      (err: unknown) => {
        this.auth = null;
        // odoo-xmlrpc reports Odoo's `False` (wrong login, key or database) as a plain object.
        if (isRecord(err) && !('res' in err) && typeof err['message'] === 'string' && err['message'].includes('No UID')) {
          throw new CrmError(
            `odoo: authentication failed for login "${this.config.login}" on database "${this.config.db}"`,
            'odoo',
            false,
            401,
          );
        }
        throw toCrmError(err, 'authenticate');
      },
    );
    return this.auth;
  }

  private withTimeout(where: string, start: (done: (err: unknown, value: unknown) => void) => void): Promise<unknown> {
    this.calls += 1;
    return new Promise((resolve, reject) => {
      // odoo-xmlrpc exposes no request handle to abort: the timer only stops us waiting.
      const timer = setTimeout(() => {
        reject(new CrmError(`odoo: ${where} timed out after ${this.timeoutMs} ms`, 'odoo', true));
      }, this.timeoutMs);
      start((err, value) => {
        clearTimeout(timer);
        if (err) reject(err);
        else resolve(value);
      });
    });
  }
}

/** Maps what odoo-xmlrpc/xmlrpc report (HTTP status on err.res, XML-RPC faults, socket errors) to CrmError. */
export function toCrmError(err: unknown, where: string): CrmError {
  if (err instanceof CrmError) return err;
  const res = isRecord(err) ? (err['res'] as IncomingMessage | undefined) : undefined;
  const status = res?.statusCode;
  if (status !== undefined && status !== 200) {
    const retryable = status === 408 || status === 429 || status >= 500;
    const header = res?.headers['retry-after'];
    const retryAfter = retryable ? parseRetryAfter(Array.isArray(header) ? header[0] : header) : undefined;
    return new CrmError(`odoo: ${where} failed with HTTP ${status}`, 'odoo', retryable, status, retryAfter);
  }
  if (isRecord(err) && 'faultCode' in err) {
    const code = String(err['faultCode']);
    const detail = lastLine(typeof err['faultString'] === 'string' ? err['faultString'] : '');
    return new CrmError(`odoo: ${where} fault ${code}: ${detail}`, 'odoo', TRANSIENT_FAULT.test(detail));
  }
  const code = isRecord(err) && typeof err['code'] === 'string' ? err['code'] : undefined;
  const message = err instanceof Error ? err.message : isRecord(err) && typeof err['message'] === 'string' ? err['message'] : String(err);
  if (status === 200) {
    // Odoo answered 200 but not with XML-RPC (a login page, a proxy's HTML...).
    return new CrmError(`odoo: ${where} returned an unexpected body: ${truncate(message)}`, 'odoo', false, 200);
  }
  const retryable = code === undefined || RETRYABLE_NETWORK_CODES.has(code);
  return new CrmError(`odoo: ${where} network error: ${truncate(message)}`, 'odoo', retryable);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

/** Odoo puts a whole Python traceback in faultString; its last line names the exception. */
function lastLine(text: string): string {
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  return truncate(lines.at(-1) ?? 'no detail');
}

function truncate(s: string): string {
  return s.length > 300 ? `${s.slice(0, 300)}…` : s;
}
