import type { FetchLike } from '../http.js';
import { OdooJson2Transport } from './json2-transport.js';
import type { OdooTransport } from './transport.js';
import { OdooXmlRpcTransport } from './xmlrpc-transport.js';

export interface OdooTransportConfig {
  url: string;
  db: string;
  /** XML-RPC authenticates with login + API key; JSON-2 with the key alone. */
  login?: string | undefined;
  apiKey: string;
  protocol: 'xmlrpc' | 'json2';
  timeoutMs?: number | undefined;
  /** JSON-2 only (XML-RPC speaks through the xmlrpc package's own HTTP client). */
  fetch?: FetchLike | undefined;
}

/** The transport for a connection's protocol: what the connector and the campaign segments both use. */
export function createOdooTransport(config: OdooTransportConfig): OdooTransport {
  const timeout = config.timeoutMs !== undefined ? { timeoutMs: config.timeoutMs } : {};
  return config.protocol === 'xmlrpc'
    ? new OdooXmlRpcTransport({ url: config.url, db: config.db, login: config.login ?? '', apiKey: config.apiKey, ...timeout })
    : new OdooJson2Transport({ url: config.url, db: config.db, apiKey: config.apiKey, ...timeout, ...(config.fetch ? { fetch: config.fetch } : {}) });
}
