import wooModule from '@woocommerce/woocommerce-rest-api';
import { parsePhoneNumberFromString, type CountryCode } from 'libphonenumber-js/max';
import { z } from 'zod';
import { DEFAULT_TIMEOUT_MS, parseRetryAfter, requestJson, type FetchLike } from '../http.js';
import { normalizePhone, phoneSearchVariants } from '../phone.js';
import {
  CrmError,
  type ArchiveResult,
  type ArchivedMessage,
  type BotStateChange,
  type CrmConnector,
  type CrmContactRef,
  type ExtensionRequest,
  type MarketingConsentChange,
  type TranscriptNote,
  type VerifyResult,
} from '../types.js';
import { botStateKey, botStateNote, consentKey, consentNote, markedKeys, timelineNote, transcriptKey, transcriptNote, WOO_CONSENT_META } from './format.js';
import { consentSummary } from '../hubspot/format.js';
import { coexLookup, wooCustomer, wooOrder, wooOrderList, wooOrderNote, wooOrderNoteList, wpError, type OrderRef } from './schemas.js';
import { hashWooSiteKey, wooSiteKeyMatches } from './webhook.js';

export interface WooCommerceConnectorOptions {
  /** Store URL, e.g. https://shop.example (the REST API lives under /wp-json/). */
  url: string;
  consumerKey: string;
  consumerSecret: string;
  /** Key shared with the CoEx companion plugin (lookup route, extension requests). */
  siteKey: string;
  /** Hash stored at install; derived from siteKey when omitted. */
  siteKeyHash?: string;
  /** Over HTTPS, send the keys in the query string instead of Basic auth (hosts that drop Authorization). */
  queryStringAuth?: boolean;
  /** Country for reading national-format billing phones. Default MA. */
  defaultCountry?: CountryCode;
  /** Per HTTP call. Default 15 s. */
  timeoutMs?: number;
  /** For the plugin route (raw fetch); tests may inject. */
  fetch?: FetchLike;
  /** How long to skip the plugin route after it answered 404 (plugin not installed). Default 10 min. */
  pluginRecheckMs?: number;
  now?: () => number;
}

export const COEX_SITE_KEY_HEADER = 'X-Coex-Site-Key';
/** Messages per order note: keeps a note readable and its marker line bounded. */
export const WOO_MESSAGES_PER_NOTE = 100;
/** wc/v3 lists take at most 100 per page; 20 recent orders are plenty to find the newest match. */
const ORDER_SEARCH_PAGE = 20;

// ── the CommonJS client under ESM ─────────────────────────────────────────────────────────────

interface WooClient {
  get(endpoint: string, params?: Record<string, string | number>): Promise<WooAxiosResponse>;
  post(endpoint: string, data: unknown, params?: Record<string, string | number>): Promise<WooAxiosResponse>;
  put(endpoint: string, data: unknown, params?: Record<string, string | number>): Promise<WooAxiosResponse>;
}
interface WooAxiosResponse {
  status: number;
  data: unknown;
  headers: Record<string, unknown>;
}
type WooClientCtor = new (opts: {
  url: string;
  consumerKey: string;
  consumerSecret: string;
  version: 'wc/v3';
  queryStringAuth?: boolean;
  timeout?: number;
}) => WooClient;

/**
 * @woocommerce/woocommerce-rest-api 1.0.2 is CommonJS with `exports.default = Class`: under native
 * ESM the default import is `module.exports`, so the class is at `.default`; bundlers that unwrap
 * `__esModule` hand over the class itself. Accept both, fail loudly on anything else.
 */
export function resolveWooClientCtor(mod: unknown): WooClientCtor {
  const inner = (mod as { default?: unknown } | null)?.default;
  const ctor = typeof inner === 'function' ? inner : mod;
  if (typeof ctor !== 'function') throw new Error('@woocommerce/woocommerce-rest-api: constructor not found');
  return ctor as WooClientCtor;
}

// ── errors ───────────────────────────────────────────────────────────────────────────────────

const axiosLike = z.looseObject({
  isAxiosError: z.literal(true).optional(),
  code: z.string().optional(),
  message: z.string().optional(),
  response: z
    .looseObject({
      status: z.number().int(),
      // An AxiosHeaders instance, not a plain object.
      headers: z.unknown().optional(),
      data: z.unknown().optional(),
    })
    .optional(),
});

/** Maps what the axios-based client throws to CrmError (same policy as requestJson). */
export function toWooCrmError(err: unknown, where: string): CrmError {
  if (err instanceof CrmError) return err;
  const e = axiosLike.safeParse(err);
  if (e.success && e.data.response) {
    const { status, headers, data } = e.data.response;
    const retryable = status === 408 || status === 429 || status >= 500;
    const retryHeader = readHeader(headers, 'retry-after');
    const retryAfter = retryable ? parseRetryAfter(retryHeader) : undefined;
    const wp = wpError.safeParse(data);
    const detail = wp.success ? `: ${wp.data.code}: ${wp.data.message}` : '';
    return new CrmError(`woocommerce: ${where} failed with HTTP ${status}${detail}`, 'woocommerce', retryable, status, retryAfter);
  }
  if (e.success && e.data.code) {
    // No response: timeout (ECONNABORTED/ETIMEDOUT), refused, reset, DNS…
    return new CrmError(`woocommerce: ${where} network error: ${e.data.code}`, 'woocommerce', true);
  }
  const message = err instanceof Error ? err.message : String(err);
  return new CrmError(`woocommerce: ${where}: ${message}`, 'woocommerce', false);
}

type Ops = { calls: number };

function readHeader(headers: unknown, name: string): string | undefined {
  if (typeof headers !== 'object' || headers === null) return undefined;
  const getter = (headers as { get?: unknown }).get;
  const value = typeof getter === 'function' ? (getter as (n: string) => unknown).call(headers, name) : (headers as Record<string, unknown>)[name];
  return typeof value === 'string' ? value : undefined;
}

/**
 * The CoEx connector for WooCommerce. WooCommerce has no contact object and no phone search on
 * customers: the companion plugin's lookup route finds a phone's customer and orders (fallback:
 * `orders?search=` then a libphonenumber check of billing.phone). Messages go to private order
 * notes on the customer's most recent order, one timeline note per batch and order.
 */
export class WooCommerceConnector implements CrmConnector {
  readonly name = 'woocommerce' as const;
  private readonly api: WooClient;
  private readonly siteUrl: string;
  private readonly siteKeyHash: string;
  private readonly defaultCountry: CountryCode;
  private readonly timeoutMs: number;
  private readonly now: () => number;
  /** Epoch ms until which the plugin route is known to be missing. */
  private pluginMissingUntil = 0;

  constructor(private readonly options: WooCommerceConnectorOptions) {
    let parsed: URL;
    try {
      parsed = new URL(options.url);
    } catch {
      throw new Error(`WooCommerceConnector: url is not a URL: ${options.url}`);
    }
    if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') throw new Error('WooCommerceConnector: url must be http(s)');
    if (!options.consumerKey || !options.consumerSecret) throw new Error('WooCommerceConnector: consumerKey and consumerSecret are required');
    if (!options.siteKey && !options.siteKeyHash) throw new Error('WooCommerceConnector: siteKey is required');
    this.siteUrl = options.url.replace(/\/+$/, '');
    this.siteKeyHash = options.siteKeyHash ?? hashWooSiteKey(options.siteKey);
    this.defaultCountry = options.defaultCountry ?? 'MA';
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.now = options.now ?? Date.now;
    const Ctor = resolveWooClientCtor(wooModule);
    this.api = new Ctor({
      url: this.siteUrl,
      consumerKey: options.consumerKey,
      consumerSecret: options.consumerSecret,
      version: 'wc/v3',
      ...(options.queryStringAuth ? { queryStringAuth: true } : {}),
      timeout: this.timeoutMs,
    });
  }

  /** One authenticated read (the newest order): proves the URL, the REST API and the key's read access. */
  async verifyCredentials(): Promise<void> {
    await this.call({ calls: 0 }, 'GET orders', () => this.api.get('orders', { per_page: 1 }));
  }

  // ── lookup ───────────────────────────────────────────────────────────────────────────────

  /**
   * Returns the registered customer for this phone, else a `guest` reference whose id is the E.164
   * number: WooCommerce has nothing to create for a phone-only lead (customers need an email and
   * orders need a checkout), so nothing is created and `created` is always false.
   */
  async findOrCreateContact(phoneE164: string, _name: string | null): Promise<CrmContactRef> {
    const e164 = this.requirePhone(phoneE164);
    const found = await this.lookup(e164, { calls: 0 });
    if (found.customerId) return { id: String(found.customerId), object: 'customer', created: false };
    return { id: e164, object: 'guest', created: false };
  }

  private requirePhone(phone: string): string {
    const e164 = normalizePhone(phone, this.defaultCountry);
    if (e164 === null) throw new CrmError(`woocommerce: not a valid phone number: "${phone}"`, 'woocommerce', false);
    return e164;
  }

  /** Customer id (0 = none) and orders newest first. */
  private async lookup(e164: string, ops: Ops): Promise<{ customerId: number; orders: OrderRef[] }> {
    if (this.now() >= this.pluginMissingUntil) {
      try {
        return await this.lookupViaPlugin(e164, ops);
      } catch (err) {
        // 404 rest_no_route = the companion plugin is not installed (or is disabled): fall back.
        if (!(err instanceof CrmError && err.status === 404)) throw err;
        this.pluginMissingUntil = this.now() + (this.options.pluginRecheckMs ?? 10 * 60_000);
      }
    }
    return this.lookupViaOrderSearch(e164, ops);
  }

  private async lookupViaPlugin(e164: string, ops: Ops): Promise<{ customerId: number; orders: OrderRef[] }> {
    const url = `${this.siteUrl}/wp-json/coex/v1/lookup?phone=${encodeURIComponent(e164)}`;
    const init = {
      method: 'GET',
      headers: { [COEX_SITE_KEY_HEADER]: this.options.siteKey },
      schema: coexLookup,
      timeoutMs: this.timeoutMs,
    };
    ops.calls++;
    const res = this.options.fetch ? await requestJson('woocommerce', url, init, this.options.fetch) : await requestJson('woocommerce', url, init);
    if (res.data === null) return { customerId: 0, orders: [] };
    const orders = res.data.orders
      .map((o) => ({ id: o.id, customerId: o.customer_id, createdAt: parseWooGmt(o.date_created_gmt) }))
      .sort((a, b) => b.createdAt - a.createdAt || b.id - a.id);
    const customerId = res.data.customer?.id ?? orders.find((o) => o.customerId > 0)?.customerId ?? 0;
    return { customerId, orders };
  }

  /**
   * `GET orders?search=` is a substring match over the billing/shipping address index. Searching
   * the national significant number ("612345678") finds every unformatted spelling (06…, +212…,
   * 00212…); its grouped form ("6 12 34 56 78") finds the spaced ones. Hits are then confirmed by
   * normalizing billing.phone, so a number that merely contains those digits never matches.
   */
  private async lookupViaOrderSearch(e164: string, ops: Ops): Promise<{ customerId: number; orders: OrderRef[] }> {
    const byId = new Map<number, OrderRef>();
    for (const term of wooOrderSearchTerms(e164)) {
      const list = wooOrderList.parse(
        await this.call(ops, 'GET orders', () =>
          this.api.get('orders', { search: term, per_page: ORDER_SEARCH_PAGE, orderby: 'date', order: 'desc' }),
        ),
      );
      for (const o of list) {
        if (normalizePhone(o.billing.phone ?? null, this.defaultCountry) !== e164) continue;
        byId.set(o.id, { id: o.id, customerId: o.customer_id, createdAt: parseWooGmt(o.date_created_gmt) });
      }
    }
    const orders = [...byId.values()].sort((a, b) => b.createdAt - a.createdAt || b.id - a.id);
    return { customerId: orders.find((o) => o.customerId > 0)?.customerId ?? 0, orders };
  }

  // ── order lookup for the agent ─────────────────────────────────────────────────────────

  /**
   * The customer's most recent orders (newest first) for the agent's `lookup_order` tool: status,
   * total and date only — what a customer may be told about their own orders. With `orderId`, that
   * order, but only when its billing phone is this customer's (never someone else's order).
   */
  async customerOrders(phoneE164: string, options: { orderId?: string; limit?: number } = {}): Promise<Array<{ id: number; number: string; status: string; total: string | null; currency: string | null; createdAt: string | null }>> {
    const e164 = this.requirePhone(phoneE164);
    const ops: Ops = { calls: 0 };
    const found = await this.lookup(e164, ops);
    let ids = found.orders.map((o) => o.id);
    if (options.orderId !== undefined) ids = ids.filter((id) => String(id) === String(options.orderId).replace(/^#/, ''));
    const out = [];
    for (const id of ids.slice(0, options.limit ?? 3)) {
      const order = wooOrder.parse(await this.call(ops, 'GET order', () => this.api.get(`orders/${id}`)));
      if (normalizePhone(order.billing.phone ?? null, this.defaultCountry) !== e164) continue;
      out.push({ id: order.id, number: order.number ?? String(order.id), status: order.status, total: order.total ?? null, currency: order.currency ?? null, createdAt: order.date_created_gmt ? new Date(parseWooGmt(order.date_created_gmt)).toISOString() : null });
    }
    return out;
  }

  // ── writing notes ────────────────────────────────────────────────────────────────────────

  /**
   * One private note per batch and order, on the customer's most recent order, formatted as a
   * small timeline. Before writing, the order's notes are read and messages already carried by a
   * `[coex:…]` marker are skipped (and reported with that note's id). A customer with no order gets
   * nothing written: those messages are absent from `written`.
   */
  async archive(messages: ArchivedMessage[]): Promise<ArchiveResult> {
    const ops: Ops = { calls: 0 };
    const written: Record<string, string> = {};
    for (const [e164, group] of this.groupByCustomer(messages)) {
      const { orders } = await this.lookup(e164, ops);
      const order = orders[0];
      if (!order) continue;
      const existing = await this.existingMarkers(order.id, ops);
      const fresh: ArchivedMessage[] = [];
      for (const m of group) {
        const noteId = existing.get(m.id);
        if (noteId !== undefined) written[m.id] = String(noteId);
        else fresh.push(m);
      }
      for (let i = 0; i < fresh.length; i += WOO_MESSAGES_PER_NOTE) {
        const chunk = fresh.slice(i, i + WOO_MESSAGES_PER_NOTE);
        const noteId = await this.addNote(order.id, timelineNote(chunk), ops);
        for (const m of chunk) written[m.id] = String(noteId);
      }
    }
    return { written, apiCalls: ops.calls };
  }

  async attachTranscript(note: TranscriptNote): Promise<void> {
    await this.noteOnce(note.customerPhone, transcriptKey(note.messageId), transcriptNote(note), 'transcript');
  }

  async showBotState(change: BotStateChange): Promise<void> {
    await this.noteOnce(change.customerPhone, botStateKey(change), botStateNote(change), 'bot state');
  }

  /** Writes a single-marker note on the latest order unless it is there already. No order: nothing. */
  private async noteOnce(phone: string | null, key: string, text: string, what: string): Promise<void> {
    if (phone === null) throw new CrmError(`woocommerce: cannot attach ${what} without a customer phone number`, 'woocommerce', false);
    const ops: Ops = { calls: 0 };
    const { orders } = await this.lookup(this.requirePhone(phone), ops);
    const order = orders[0];
    if (!order) return;
    if ((await this.existingMarkers(order.id, ops)).has(key)) return;
    await this.addNote(order.id, text, ops);
  }

  // ── marketing consent ──────────────────────────────────────────────────────────────────

  /**
   * WooCommerce has no consent field of its own: a registered customer (found through the plugin or
   * their orders' billing phone) gets customer meta `coex_whatsapp_marketing_opt_out` = yes/no with
   * the date, how, and the event id; and the most recent order gets a private note with a
   * `[coex:consent:<eventId>]` marker, so shop staff see it on the order screen. The note is written
   * last and the meta carries the event id, so a retry writes nothing twice. A phone with neither an
   * account nor an order has nothing to mark: nothing is written (no error).
   */
  async recordMarketingConsent(change: MarketingConsentChange): Promise<void> {
    const ops: Ops = { calls: 0 };
    const e164 = this.requirePhone(change.customerPhone);
    const { customerId, orders } = await this.lookup(e164, ops);
    const order = orders[0];
    const key = consentKey(change);
    if (order && (await this.existingMarkers(order.id, ops)).has(key)) return;
    let customerMarked = false;
    if (customerId > 0) customerMarked = await this.markCustomer(customerId, change, ops);
    if (order) await this.addNote(order.id, consentNote(change, customerMarked), ops);
  }

  /** Writes the consent meta on the customer unless this event is already there. False if the account is gone. */
  private async markCustomer(customerId: number, change: MarketingConsentChange, ops: Ops): Promise<boolean> {
    let customer: z.infer<typeof wooCustomer>;
    try {
      customer = wooCustomer.parse(await this.call(ops, 'GET customer', () => this.api.get(`customers/${customerId}`)));
    } catch (err) {
      // Deleted account (orders keep their customer_id): the order note still records the change.
      if (err instanceof CrmError && err.status === 404) return false;
      throw err;
    }
    if (customer.meta_data.some((m) => m.key === WOO_CONSENT_META.eventId && m.value === change.eventId)) return true;
    const t = Date.parse(change.at);
    const meta_data = [
      { key: WOO_CONSENT_META.optOut, value: change.action === 'opt_out' ? 'yes' : 'no' },
      { key: WOO_CONSENT_META.changedAt, value: new Date(Number.isNaN(t) ? this.now() : t).toISOString() },
      { key: WOO_CONSENT_META.detail, value: consentSummary(change) },
      { key: WOO_CONSENT_META.eventId, value: change.eventId },
    ];
    // Without meta ids WooCommerce updates each key in place (update_meta_data), so keys never pile up.
    await this.call(ops, 'PUT customer', () => this.api.put(`customers/${customerId}`, { meta_data }));
    return true;
  }

  /** Marker key → id of the note carrying it, over all private notes of the order. */
  private async existingMarkers(orderId: number, ops: Ops): Promise<Map<string, number>> {
    const notes = wooOrderNoteList.parse(
      await this.call(ops, 'GET order notes', () => this.api.get(`orders/${orderId}/notes`, { type: 'internal' })),
    );
    const keys = new Map<string, number>();
    for (const n of notes) for (const k of markedKeys(n.note)) if (!keys.has(k)) keys.set(k, n.id);
    return keys;
  }

  private async addNote(orderId: number, note: string, ops: Ops): Promise<number> {
    const created = wooOrderNote.parse(
      await this.call(ops, 'POST order note', () => this.api.post(`orders/${orderId}/notes`, { note, customer_note: false })),
    );
    return created.id;
  }

  /** Messages by customer E.164, de-duplicated by id, oldest first. */
  private groupByCustomer(messages: ArchivedMessage[]): Map<string, ArchivedMessage[]> {
    const groups = new Map<string, ArchivedMessage[]>();
    const seen = new Set<string>();
    for (const m of messages) {
      if (seen.has(m.id)) continue;
      seen.add(m.id);
      const e164 = normalizePhone(m.customerPhone, this.defaultCountry);
      if (e164 === null) continue;
      const list = groups.get(e164) ?? [];
      list.push(m);
      groups.set(e164, list);
    }
    for (const list of groups.values()) list.sort((a, b) => Date.parse(a.timestamp) - Date.parse(b.timestamp));
    return groups;
  }

  // ── extension requests ───────────────────────────────────────────────────────────────────

  /** The plugin's meta box calls CoEx with the site key issued at install; account = the site URL. */
  async verifyExtensionRequest(req: ExtensionRequest): Promise<VerifyResult> {
    const wanted = COEX_SITE_KEY_HEADER.toLowerCase();
    const raw = Object.entries(req.headers).find(([k]) => k.toLowerCase() === wanted)?.[1];
    const presented = Array.isArray(raw) ? raw[0] : raw;
    if (!presented) return { ok: false, status: 401, reason: `missing ${COEX_SITE_KEY_HEADER} header` };
    if (!wooSiteKeyMatches(presented, this.siteKeyHash)) return { ok: false, status: 401, reason: `invalid ${COEX_SITE_KEY_HEADER}` };
    return { ok: true, account: this.siteUrl };
  }

  // ── plumbing ─────────────────────────────────────────────────────────────────────────────

  /** One client call = one HTTP request (axios does not retry); counts it and maps failures. */
  private async call(ops: Ops, where: string, fn: () => Promise<WooAxiosResponse>): Promise<unknown> {
    ops.calls++;
    try {
      const res = await fn();
      return res.data;
    } catch (err) {
      // Messages name the operation, never the URL: over HTTP the query string carries OAuth params.
      throw toWooCrmError(err, where);
    }
  }
}

/**
 * WooCommerce's `*_gmt` dates are UTC without a zone ("2026-03-01T10:00:00"), which Date.parse
 * would read as local time. Returns epoch ms, 0 when absent or unreadable.
 */
export function parseWooGmt(value: string | null | undefined): number {
  if (!value) return 0;
  const zoned = /(?:Z|[+-]\d\d:?\d\d)$/i.test(value) ? value : `${value}Z`;
  return Date.parse(zoned) || 0;
}

/** The minimal set of `orders?search=` terms covering a number's common spellings (see above). */
export function wooOrderSearchTerms(e164: string): string[] {
  const parsed = parsePhoneNumberFromString(e164);
  if (!parsed) return [e164];
  const nsn = String(parsed.nationalNumber);
  const grouped = parsed.formatInternational().replace(new RegExp(`^\\+${parsed.countryCallingCode}\\s*`), '');
  const candidates = [nsn, grouped, ...phoneSearchVariants(e164)].sort((a, b) => a.length - b.length);
  const terms: string[] = [];
  for (const c of candidates) if (!terms.some((t) => c.includes(t))) terms.push(c);
  return terms;
}
