import { CrmError } from '../types.js';

/**
 * What the Odoo connector needs from Odoo, independent of the wire protocol. Both transports
 * return raw decoded values (`unknown`); the connector parses them with zod.
 */

/** An Odoo search domain in prefix (Polish) notation: leaves `[field, operator, value]` and '&' / '|' / '!'. */
export type OdooDomain = ReadonlyArray<'&' | '|' | '!' | readonly [string, string, unknown]>;

export interface SearchReadOptions {
  fields: string[];
  limit?: number;
  order?: string;
}

export interface OdooTransport {
  readonly protocol: 'xmlrpc' | 'json2';
  /** HTTP requests made so far (authentication included). */
  readonly requestCount: number;
  searchRead(model: string, domain: OdooDomain, options: SearchReadOptions): Promise<unknown>;
  /** Creates one record; resolves to whatever Odoo answered (an id or a list of ids). */
  create(model: string, values: Record<string, unknown>): Promise<unknown>;
  /** Calls a method on records with keyword arguments only (e.g. message_post, which is keyword-only). */
  callOnRecords(model: string, method: string, ids: number[], kwargs: Record<string, unknown>): Promise<unknown>;
  /** `fields_get` restricted to `fieldNames`: the fields that exist come back, the others are absent. */
  fieldsGet(model: string, fieldNames: string[]): Promise<unknown>;
}

/** True when Odoo said the model is not installed (e.g. crm.lead on a database without the CRM app). */
export function isMissingModelError(err: unknown, model: string): boolean {
  if (!(err instanceof CrmError) || err.retryable) return false;
  const quoted = `'${model}'`;
  // JSON-2: 404 "the model 'crm.lead' does not exist". XML-RPC: Odoo 17-19 answer fault 2
  // "Object crm.lead doesn't exist" (measured on Odoo 19, odoo/service/model.py in 17/18); older
  // servers and some proxies surfaced the bare "KeyError: 'crm.lead'", still accepted.
  return (
    (err.status === 404 && err.message.includes(quoted)) ||
    err.message.includes(`Object ${model} doesn't exist`) ||
    err.message.includes(`KeyError: ${quoted}`)
  );
}
