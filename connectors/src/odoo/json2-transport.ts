import { z } from 'zod';
import { requestJson, type FetchLike } from '../http.js';
import type { OdooDomain, OdooTransport, SearchReadOptions } from './transport.js';

/**
 * JSON-2 transport for Odoo 19+: `POST {url}/json/2/<model>/<method>`, `Authorization: bearer <api key>`,
 * `X-Odoo-Database`, a JSON object of named arguments (`ids`, `context`, and the method's own
 * parameters); the body of a 200 is the method's return value (recordsets come back as id lists);
 * errors use real HTTP status codes with `{ name, message, arguments, context, debug }`.
 */

export interface Json2TransportConfig {
  url: string;
  db: string;
  apiKey: string;
  timeoutMs?: number;
  fetch?: FetchLike;
}

const anyJson = z.unknown();

export class OdooJson2Transport implements OdooTransport {
  readonly protocol = 'json2' as const;
  private calls = 0;
  private readonly base: string;

  constructor(private readonly config: Json2TransportConfig) {
    // Keep a path prefix (Odoo behind a reverse proxy under /odoo) but never a trailing slash.
    this.base = config.url.replace(/\/+$/, '');
  }

  get requestCount(): number {
    return this.calls;
  }

  searchRead(model: string, domain: OdooDomain, options: SearchReadOptions): Promise<unknown> {
    const body: Record<string, unknown> = { domain, fields: options.fields };
    if (options.limit !== undefined) body['limit'] = options.limit;
    if (options.order !== undefined) body['order'] = options.order;
    return this.call(model, 'search_read', body);
  }

  create(model: string, values: Record<string, unknown>): Promise<unknown> {
    return this.call(model, 'create', { vals_list: [values] });
  }

  callOnRecords(model: string, method: string, ids: number[], kwargs: Record<string, unknown>): Promise<unknown> {
    return this.call(model, method, { ids, ...kwargs });
  }

  fieldsGet(model: string, fieldNames: string[]): Promise<unknown> {
    return this.call(model, 'fields_get', { allfields: fieldNames, attributes: ['type'] });
  }

  private async call(model: string, method: string, body: Record<string, unknown>): Promise<unknown> {
    this.calls += 1;
    const url = `${this.base}/json/2/${encodeURIComponent(model)}/${encodeURIComponent(method)}`;
    const init = {
      method: 'POST',
      headers: {
        authorization: `bearer ${this.config.apiKey}`,
        'x-odoo-database': this.config.db,
        'user-agent': 'CoEx-connector/0.1',
      },
      body,
      schema: anyJson,
      ...(this.config.timeoutMs !== undefined ? { timeoutMs: this.config.timeoutMs } : {}),
    };
    const res = this.config.fetch
      ? await requestJson('odoo', url, init, this.config.fetch)
      : await requestJson('odoo', url, init);
    return res.data;
  }
}
