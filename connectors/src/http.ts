import type { z } from 'zod';
import { CrmError, type CrmName } from './types.js';

/**
 * Small shared HTTP helper for connectors that call their CRM with raw fetch. It owns the one
 * policy the outbox depends on: which failures are worth retrying (429, 5xx, 408, network errors,
 * timeouts) and which are not (400, 401, 403, 404 and every other 4xx), plus Retry-After.
 */

export type FetchLike = (input: string | URL, init?: RequestInit) => Promise<Response>;

export interface RequestJsonInit<T> {
  method: string;
  headers?: Record<string, string>;
  /**
   * JSON-encoded unless it is a URLSearchParams (sent form-encoded, e.g. OAuth token calls) or a
   * string (sent as is, caller sets content-type).
   */
  body?: unknown;
  /** Default 15 s. */
  timeoutMs?: number;
  /** Schema of a successful response body. */
  schema: z.ZodType<T>;
}

export interface JsonResponse<T> {
  status: number;
  /** null for 204 or an empty body. */
  data: T | null;
  headers: Headers;
}

export const DEFAULT_TIMEOUT_MS = 15_000;
const MAX_DETAIL_CHARS = 300;

/**
 * Performs one HTTP request and parses the JSON response with `schema`.
 * Throws CrmError: retryable for 408/429/5xx/network/timeout (with Retry-After seconds when the
 * CRM sent one), non-retryable for other 4xx and for a 2xx body that does not match the schema.
 */
export async function requestJson<T>(
  crm: CrmName,
  url: string,
  init: RequestJsonInit<T>,
  fetchImpl: FetchLike = fetch,
): Promise<JsonResponse<T>> {
  const headers: Record<string, string> = { accept: 'application/json', ...init.headers };
  const hasContentType = Object.keys(headers).some((k) => k.toLowerCase() === 'content-type');
  let body: string | undefined;
  if (init.body instanceof URLSearchParams) {
    body = init.body.toString();
    if (!hasContentType) headers['content-type'] = 'application/x-www-form-urlencoded';
  } else if (typeof init.body === 'string') {
    body = init.body;
  } else if (init.body !== undefined) {
    body = JSON.stringify(init.body);
    if (!hasContentType) headers['content-type'] = 'application/json';
  }

  const where = `${init.method.toUpperCase()} ${redactUrl(url)}`;
  const timeoutMs = init.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  let res: Response;
  let text: string;
  try {
    const signal = AbortSignal.timeout(timeoutMs);
    res = await fetchImpl(url, { method: init.method, headers, body, signal });
    text = await res.text();
  } catch (err) {
    const name = err instanceof Error ? err.name : '';
    const reason =
      name === 'TimeoutError' || name === 'AbortError'
        ? `timed out after ${timeoutMs} ms`
        : `network error: ${err instanceof Error ? err.message : String(err)}`;
    throw new CrmError(`${crm}: ${where} ${reason}`, crm, true);
  }

  if (!res.ok) {
    const retryable = res.status === 408 || res.status === 429 || res.status >= 500;
    const retryAfter = retryable ? parseRetryAfter(res.headers.get('retry-after')) : undefined;
    throw new CrmError(
      `${crm}: ${where} failed with HTTP ${res.status}${errorDetail(text)}`,
      crm,
      retryable,
      res.status,
      retryAfter,
    );
  }

  if (res.status === 204 || text.trim() === '') return { status: res.status, data: null, headers: res.headers };

  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new CrmError(`${crm}: ${where} returned a non-JSON body (HTTP ${res.status})`, crm, false, res.status);
  }
  const parsed = init.schema.safeParse(json);
  if (!parsed.success) {
    throw new CrmError(
      `${crm}: ${where} returned an unexpected body: ${truncate(parsed.error.message)}`,
      crm,
      false,
      res.status,
    );
  }
  return { status: res.status, data: parsed.data, headers: res.headers };
}

/**
 * Retry-After as seconds: delta-seconds ("30") or an HTTP date. Undefined when absent/unparseable.
 * A date in the past gives 0.
 */
export function parseRetryAfter(value: string | null | undefined, now: number = Date.now()): number | undefined {
  if (value === null || value === undefined) return undefined;
  const v = value.trim();
  if (v === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(v)) return Math.ceil(Number(v));
  const at = Date.parse(v);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, Math.ceil((at - now) / 1000));
}

/** Drops the query string (it may carry credentials, e.g. WooCommerce consumer_secret) from URLs in errors. */
export function redactUrl(url: string): string {
  const q = url.indexOf('?');
  return q === -1 ? url : `${url.slice(0, q)}?…`;
}

/** A short, single-line excerpt of the CRM's error body: its `message` field when it is JSON. */
function errorDetail(text: string): string {
  if (text.trim() === '') return '';
  try {
    const json: unknown = JSON.parse(text);
    if (json && typeof json === 'object' && 'message' in json && typeof json.message === 'string') {
      return `: ${truncate(json.message)}`;
    }
  } catch {
    // not JSON: fall through to the raw excerpt
  }
  return `: ${truncate(text)}`;
}

function truncate(s: string): string {
  const oneLine = s.replace(/\s+/g, ' ').trim();
  return oneLine.length > MAX_DETAIL_CHARS ? `${oneLine.slice(0, MAX_DETAIL_CHARS)}…` : oneLine;
}
