/**
 * A local emulator of a WooCommerce store's REST API (wc/v3) plus the CoEx companion plugin's
 * lookup route, for running the real `@woocommerce/woocommerce-rest-api` client (and our raw fetch
 * calls) against real HTTP on 127.0.0.1.
 *
 * Modelled:
 * - Authentication as WC_REST_Authentication does it. Over plain HTTP the client library signs
 *   with OAuth 1.0a in the query string: the fake recomputes the signature exactly like WooCommerce
 *   (METHOD & rawurlencode(URL without query) & sorted, RFC 3986-encoded parameters; key =
 *   consumer secret + "&"; HMAC-SHA1 or HMAC-SHA256), rejects timestamps older than 15 minutes and
 *   reused nonces. Basic auth and `consumer_key`/`consumer_secret` query parameters (what the
 *   library sends over HTTPS) get 401 woocommerce_rest_cannot_view over http, as from a real store,
 *   unless `behindTlsProxy` says TLS ends at a proxy in front. Failures are 401 in
 *   WordPress's shape `{ code, message, data: { status } }` with WooCommerce's codes
 *   (woocommerce_rest_authentication_error, woocommerce_rest_cannot_view / _cannot_create).
 * - `GET /wc/v3/orders`: `search` is a case-insensitive substring match over the billing and
 *   shipping address indexes (all address fields joined by spaces, as WooCommerce stores
 *   `_billing_address_index`), the line items' names, and the order id for numeric terms (phones
 *   match as substrings of the stored text: "612345678" finds "+212612345678", "0612345678" does not); `customer`, `status`, `page`,
 *   `per_page` (1–100, else 400 rest_invalid_param), `orderby` date|id|modified, `order`;
 *   `product` (absint: orders with a line item whose `_product_id` is that id — the parent
 *   product, as WooCommerce's order-item-meta subquery does; 0 or junk = no filter);
 *   `X-WP-Total`, `X-WP-TotalPages` and `Link` headers. `GET /wc/v3/orders/{id}`. Orders carry
 *   `line_items` ({ id, name, product_id, variation_id, quantity }) when given to addOrder.
 * - Order notes: `GET /wc/v3/orders/{id}/notes?type=any|customer|internal` (newest first) and
 *   `POST` `{ note, customer_note }` → 201 (an empty note too; a missing one → 400
 *   rest_missing_callback_param); unknown order → 404 woocommerce_rest_shop_order_invalid_id (GET)
 *   or woocommerce_rest_order_invalid_id (POST). Notes carry author "WooCommerce", `date_created`
 *   in site time (`utcOffsetMinutes`, default +60 as Africa/Casablanca), `date_created_gmt`, `_links`.
 *   A real store returns notes of the same second in no fixed order: don't rely on it.
 * - 400 errors carry `data.params` and `data.details` as WordPress 5+ does.
 * - Customers: `GET /wc/v3/customers` (`search` over email/names/username — never phones, as in
 *   WooCommerce), `GET /wc/v3/customers/{id}` with `meta_data` [{ id, key, value }], and
 *   `POST|PUT|PATCH /wc/v3/customers/{id}` (unknown id → 404 wc_user_invalid_id) applying `meta_data` the way WooCommerce does (by meta
 *   id, else update-by-key in place, else add); other customer fields are not editable here.
 * - The companion plugin (when `plugin` is configured): `GET /coex/v1/lookup?phone=<E.164>` with
 *   `X-Coex-Site-Key` → `{ phone, customer, orders }`, orders matched on the normalized billing
 *   phone, newest first. Without the plugin the route answers WordPress's 404 rest_no_route.
 * - Scripted failures with `failNext`: 429 (with Retry-After, as a host or WAF would send) and 5xx
 *   with WordPress's critical-error body.
 * - Every request is recorded (method, path, query, headers, parsed body) before it is handled.
 *
 * Held to a real WooCommerce 10.0.2 by test/real-crm-woocommerce-parity.test.ts (same requests to
 * both, status codes and response shapes compared).
 *
 * NOT modelled: HPOS vs posts storage differences (one search behaviour), full-text search
 * indexes, order creation/updates over REST, refunds, products (line items are static data; `product`
 * does not match a variation id),
 * webhooks delivery (see connectors' webhook tests), WordPress nonces/cookie auth, permissions per
 * key (read vs write), real rate limiting.
 */
import { createHmac, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { hashWooSiteKey, normalizePhone } from '@coex/connectors';

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  headers: IncomingMessage['headers'];
  body: unknown;
}

export interface WooAddressFields {
  first_name?: string;
  last_name?: string;
  company?: string;
  address_1?: string;
  address_2?: string;
  city?: string;
  state?: string;
  postcode?: string;
  country?: string;
  email?: string;
  phone?: string;
}

export interface FakeOrder {
  id: number;
  status: string;
  customer_id: number;
  created: number;
  modified: number;
  total: string;
  currency: string;
  billing: Required<WooAddressFields>;
  shipping: Required<Omit<WooAddressFields, 'email'>>;
  line_items: FakeLineItem[];
}

export interface FakeLineItem {
  id: number;
  name: string;
  product_id: number;
  variation_id: number;
  quantity: number;
}

export interface FakeNote {
  id: number;
  orderId: number;
  note: string;
  customer_note: boolean;
  created: number;
  author: string;
}

export interface FakeCustomer {
  id: number;
  email: string;
  first_name: string;
  last_name: string;
  username: string;
  billing: Required<WooAddressFields>;
  meta_data: FakeMeta[];
}

export interface FakeMeta {
  id: number;
  key: string;
  value: unknown;
}

export interface ScriptedFailure {
  status: number;
  times?: number;
  retryAfter?: number;
  match?: (req: RecordedRequest) => boolean;
}

export interface FakeWooCommerceOptions {
  consumerKey?: string;
  consumerSecret?: string;
  /** Enables the CoEx companion plugin route with this site key. */
  plugin?: { siteKey: string };
  /** Country the plugin uses to read national billing phones. Default MA. */
  defaultCountry?: 'MA' | 'FR';
  /**
   * Basic auth and query-string keys are what the client sends over HTTPS. Over plain http a real
   * WooCommerce accepts only OAuth 1.0a and answers 401 woocommerce_rest_cannot_view to the others
   * (measured on 10.0.2). True models a store whose TLS ends at a proxy in front of this http fake.
   */
  behindTlsProxy?: boolean;
  /** The site's UTC offset: `date_created` is site time, `date_created_gmt` UTC. Default +60 (Africa/Casablanca, the real stack's). */
  utcOffsetMinutes?: number;
}

const EMPTY_ADDRESS: Required<WooAddressFields> = {
  first_name: '',
  last_name: '',
  company: '',
  address_1: '',
  address_2: '',
  city: '',
  state: '',
  postcode: '',
  country: '',
  email: '',
  phone: '',
};

class HttpError extends Error {
  readonly status: number;
  readonly code: string;
  readonly extra: Record<string, unknown>;
  readonly headers: Record<string, string>;
  constructor(status: number, code: string, message: string, extra: Record<string, unknown> = {}, headers: Record<string, string> = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.extra = extra;
    this.headers = headers;
  }
}

/** RFC 3986 encoding as PHP's rawurlencode (what WooCommerce's wc_rest_urlencode_rfc3986 uses). */
function rfc3986(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** WooCommerce `*_gmt` format: no zone designator. */
function wooDate(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19);
}

/** WordPress's REST error `details` (since 5.x): one entry per invalid parameter. */
function paramDetails(params: Record<string, string>, code = 'rest_out_of_bounds'): Record<string, unknown> {
  return { params, details: Object.fromEntries(Object.entries(params).map(([k, message]) => [k, { code, message, data: null }])) };
}

export class FakeWooCommerce {
  readonly requests: RecordedRequest[] = [];
  url = '';
  readonly consumerKey: string;
  readonly consumerSecret: string;
  private server: Server | null = null;
  private nextOrderId = 1001;
  private nextNoteId = 501;
  private nextCustomerId = 11;
  private nextLineItemId = 1;
  private nextMetaId = 9001;
  private readonly orders = new Map<number, FakeOrder>();
  private readonly notes: FakeNote[] = [];
  private readonly customers = new Map<number, FakeCustomer>();
  private readonly usedNonces = new Set<string>();
  private failures: (ScriptedFailure & { left: number })[] = [];
  plugin: { siteKey: string } | null;

  private readonly options: FakeWooCommerceOptions;

  private constructor(options: FakeWooCommerceOptions) {
    this.options = options;
    this.consumerKey = options.consumerKey ?? 'ck_test_0123456789abcdef';
    this.consumerSecret = options.consumerSecret ?? 'cs_test_fedcba9876543210';
    this.plugin = options.plugin ?? null;
  }

  static async start(options: FakeWooCommerceOptions = {}): Promise<FakeWooCommerce> {
    const fake = new FakeWooCommerce(options);
    fake.server = createServer((req, res) => void fake.handle(req, res));
    await new Promise<void>((resolve) => fake.server!.listen(0, '127.0.0.1', resolve));
    fake.url = `http://127.0.0.1:${(fake.server.address() as AddressInfo).port}`;
    return fake;
  }

  async close(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server!.close(() => resolve()));
    this.server = null;
  }

  // ── test helpers ───────────────────────────────────────────────────────────────────────

  failNext(failure: ScriptedFailure): void {
    this.failures.push({ ...failure, left: failure.times ?? 1 });
  }

  addCustomer(c: { email: string; first_name?: string; last_name?: string; billing?: WooAddressFields }): FakeCustomer {
    const customer: FakeCustomer = {
      id: this.nextCustomerId++,
      email: c.email,
      first_name: c.first_name ?? '',
      last_name: c.last_name ?? '',
      username: c.email.split('@')[0] ?? c.email,
      billing: { ...EMPTY_ADDRESS, ...c.billing },
      meta_data: [],
    };
    this.customers.set(customer.id, customer);
    return customer;
  }

  addOrder(o: {
    billing: WooAddressFields;
    customer_id?: number;
    status?: string;
    created?: number | string;
    total?: string;
    line_items?: Array<{ product_id: number; name?: string; variation_id?: number; quantity?: number }>;
  }): FakeOrder {
    const created = typeof o.created === 'string' ? Date.parse(o.created) : (o.created ?? Date.now());
    const billing = { ...EMPTY_ADDRESS, ...o.billing };
    const { email: _email, ...shipping } = billing;
    const order: FakeOrder = {
      id: this.nextOrderId++,
      status: o.status ?? 'processing',
      customer_id: o.customer_id ?? 0,
      created,
      modified: created,
      total: o.total ?? '120.00',
      currency: 'MAD',
      billing,
      shipping,
      line_items: (o.line_items ?? []).map((li) => ({
        id: this.nextLineItemId++,
        name: li.name ?? `Product ${li.product_id}`,
        product_id: li.product_id,
        variation_id: li.variation_id ?? 0,
        quantity: li.quantity ?? 1,
      })),
    };
    this.orders.set(order.id, order);
    return order;
  }

  customer(id: number): FakeCustomer | undefined {
    return this.customers.get(id);
  }

  /** Deletes a customer account (its orders keep their customer_id, as in WooCommerce). */
  deleteCustomer(id: number): void {
    this.customers.delete(id);
  }

  /** The value of a customer's meta key, as `get_meta($key)` reads it (first entry), or undefined. */
  customerMeta(id: number, key: string): unknown {
    return this.customers.get(id)?.meta_data.find((m) => m.key === key)?.value;
  }

  notesOf(orderId: number): FakeNote[] {
    return this.notes.filter((n) => n.orderId === orderId).sort((a, b) => b.created - a.created || b.id - a.id);
  }

  allNotes(): FakeNote[] {
    return [...this.notes];
  }

  // ── HTTP plumbing ──────────────────────────────────────────────────────────────────────

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url ?? '/', 'http://fake');
    let body: unknown = undefined;
    if (raw !== '') {
      try {
        body = JSON.parse(raw);
      } catch {
        body = raw;
      }
    }
    const recorded: RecordedRequest = {
      method: req.method ?? 'GET',
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      headers: req.headers,
      body,
    };
    this.requests.push(recorded);
    try {
      this.maybeFail(recorded);
      const { status, payload, headers } = this.route(recorded);
      send(res, status, payload, headers);
    } catch (err) {
      if (err instanceof HttpError) {
        send(res, err.status, { code: err.code, message: err.message, data: { status: err.status, ...err.extra } }, err.headers);
      } else {
        send(res, 500, { code: 'internal_server_error', message: String(err), data: { status: 500 } });
      }
    }
  }

  private maybeFail(req: RecordedRequest): void {
    const i = this.failures.findIndex((f) => !f.match || f.match(req));
    if (i === -1) return;
    const f = this.failures[i]!;
    f.left--;
    if (f.left <= 0) this.failures.splice(i, 1);
    const headers: Record<string, string> = f.retryAfter !== undefined ? { 'retry-after': String(f.retryAfter) } : {};
    if (f.status === 429) throw new HttpError(429, 'too_many_requests', 'Too many requests, slow down.', {}, headers);
    throw new HttpError(
      f.status,
      'internal_server_error',
      '<p>There has been a critical error on this website.</p>',
      { error: { type: 1, message: 'scripted failure' } },
      headers,
    );
  }

  private route(req: RecordedRequest): { status: number; payload: unknown; headers?: Record<string, string> } {
    const { method, path } = req;
    let m: RegExpMatchArray | null;
    if (path === '/wp-json/coex/v1/lookup' && method === 'GET') return { status: 200, payload: this.lookup(req) };
    if (!path.startsWith('/wp-json/wc/v3/')) throw new HttpError(404, 'rest_no_route', 'No route was found matching the URL and request method.');

    this.authenticate(req);
    if (path === '/wp-json/wc/v3/orders' && method === 'GET') return this.listOrders(req.query);
    if ((m = path.match(/^\/wp-json\/wc\/v3\/orders\/(\d+)$/)) && method === 'GET') {
      const order = this.orders.get(Number(m[1]));
      if (!order) throw new HttpError(404, 'woocommerce_rest_shop_order_invalid_id', 'Invalid ID.');
      return { status: 200, payload: this.orderView(order) };
    }
    if ((m = path.match(/^\/wp-json\/wc\/v3\/orders\/(\d+)\/notes$/))) {
      const order = this.orders.get(Number(m[1]));
      // WooCommerce 10 answers the list with the shop_order post-type code, the create with the generic one.
      if (!order && method === 'GET') throw new HttpError(404, 'woocommerce_rest_shop_order_invalid_id', 'Invalid order ID.');
      if (!order) throw new HttpError(404, 'woocommerce_rest_order_invalid_id', 'Invalid order ID.');
      if (method === 'GET') return { status: 200, payload: this.listNotes(order.id, req.query.type ?? 'any') };
      if (method === 'POST') return { status: 201, payload: this.createNote(order, req.body) };
    }
    if (path === '/wp-json/wc/v3/customers' && method === 'GET') return this.listCustomers(req.query);
    if ((m = path.match(/^\/wp-json\/wc\/v3\/customers\/(\d+)$/)) && ['GET', 'POST', 'PUT', 'PATCH'].includes(method)) {
      const c = this.customers.get(Number(m[1]));
      if (!c) throw new HttpError(404, 'wc_user_invalid_id', 'Invalid user ID.');
      if (method !== 'GET') this.updateCustomer(c, req.body);
      return { status: 200, payload: this.customerView(c) };
    }
    throw new HttpError(404, 'rest_no_route', 'No route was found matching the URL and request method.');
  }

  // ── authentication ─────────────────────────────────────────────────────────────────────

  private authenticate(req: RecordedRequest): void {
    const denied = () =>
      req.method === 'GET'
        ? new HttpError(401, 'woocommerce_rest_cannot_view', 'Sorry, you cannot list resources.')
        : new HttpError(401, 'woocommerce_rest_cannot_create', 'Sorry, you are not allowed to create resources.');
    const authError = (message: string) => new HttpError(401, 'woocommerce_rest_authentication_error', message);

    const auth = req.headers.authorization;
    const keysInClear = (typeof auth === 'string' && auth.startsWith('Basic ')) || req.query.consumer_key !== undefined;
    // WC_REST_Authentication: over http (is_ssl() false) only OAuth 1.0a is tried; the rest is "not logged in".
    if (keysInClear && this.options.behindTlsProxy !== true) throw denied();
    if (typeof auth === 'string' && auth.startsWith('Basic ')) {
      const [key, secret] = Buffer.from(auth.slice(6), 'base64').toString('utf8').split(':');
      if (key !== this.consumerKey) throw authError('Consumer key is invalid.');
      if (secret !== this.consumerSecret) throw authError('Consumer secret is invalid.');
      return;
    }
    const q = req.query;
    if (q.consumer_key !== undefined) {
      if (q.consumer_key !== this.consumerKey) throw authError('Consumer key is invalid.');
      if (q.consumer_secret !== this.consumerSecret) throw authError('Consumer secret is invalid.');
      return;
    }
    if (q.oauth_consumer_key === undefined) throw denied();
    for (const p of ['oauth_consumer_key', 'oauth_timestamp', 'oauth_nonce', 'oauth_signature', 'oauth_signature_method']) {
      if (!q[p]) throw authError(`Missing OAuth parameter ${p}`);
    }
    if (q.oauth_consumer_key !== this.consumerKey) throw authError('Consumer key is invalid.');

    const method = q.oauth_signature_method;
    if (method !== 'HMAC-SHA1' && method !== 'HMAC-SHA256') throw authError('Invalid signature - signature method is invalid.');
    const params = Object.entries(q)
      .filter(([k]) => k !== 'oauth_signature')
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const paramString = params.map(([k, v]) => `${rfc3986(k)}=${rfc3986(v)}`).join('&');
    const base = `${req.method.toUpperCase()}&${rfc3986(`http://${String(req.headers.host)}${req.path}`)}&${rfc3986(paramString)}`;
    const expected = createHmac(method === 'HMAC-SHA1' ? 'sha1' : 'sha256', `${this.consumerSecret}&`)
      .update(base)
      .digest('base64');
    if (expected !== q.oauth_signature!.replace(/ /g, '+')) throw authError('Invalid signature - provided signature does not match.');

    const ts = Number(q.oauth_timestamp);
    if (!Number.isFinite(ts) || ts < Date.now() / 1000 - 15 * 60) throw authError('Invalid timestamp.');
    const nonceKey = `${q.oauth_consumer_key}:${q.oauth_nonce}`;
    if (this.usedNonces.has(nonceKey)) throw authError('Invalid nonce - nonce has already been used.');
    this.usedNonces.add(nonceKey);
  }

  // ── orders ─────────────────────────────────────────────────────────────────────────────

  private orderView(o: FakeOrder): Record<string, unknown> {
    return {
      id: o.id,
      parent_id: 0,
      number: String(o.id),
      order_key: `wc_order_${o.id}`,
      created_via: 'checkout',
      status: o.status,
      currency: o.currency,
      date_created: this.siteDate(o.created),
      date_created_gmt: wooDate(o.created),
      date_modified: this.siteDate(o.modified),
      date_modified_gmt: wooDate(o.modified),
      total: o.total,
      customer_id: o.customer_id,
      customer_note: '',
      billing: o.billing,
      shipping: o.shipping,
      payment_method: 'cod',
      payment_method_title: 'Cash on delivery',
      line_items: o.line_items.map((li) => ({ ...li })),
      meta_data: [],
    };
  }

  private listOrders(q: Record<string, string>): { status: number; payload: unknown; headers: Record<string, string> } {
    const perPage = q.per_page === undefined ? 10 : Number(q.per_page);
    if (!Number.isInteger(perPage) || perPage < 1 || perPage > 100) {
      throw new HttpError(400, 'rest_invalid_param', 'Invalid parameter(s): per_page', {
        ...paramDetails({ per_page: 'per_page must be between 1 (inclusive) and 100 (inclusive)' }),
      });
    }
    const page = q.page === undefined ? 1 : Number(q.page);
    if (!Number.isInteger(page) || page < 1) throw new HttpError(400, 'rest_invalid_param', 'Invalid parameter(s): page', paramDetails({ page: 'page must be greater than or equal to 1' }));
    const orderby = q.orderby ?? 'date';
    if (!['date', 'id', 'modified'].includes(orderby)) throw new HttpError(400, 'rest_invalid_param', 'Invalid parameter(s): orderby', paramDetails({ orderby: 'orderby is not one of date, id, modified' }, 'rest_not_in_enum'));
    const dir = (q.order ?? 'desc') === 'asc' ? 1 : -1;

    let list = [...this.orders.values()];
    if (q.search) {
      const term = q.search.toLowerCase();
      list = list.filter((o) => {
        // HPOS search covers the address indexes and the order items' names (WooCommerce 10 "all" search).
        const index = [Object.values(o.billing).join(' '), Object.values(o.shipping).join(' '), ...o.line_items.map((li) => li.name)].join(' ').toLowerCase();
        return index.includes(term) || (/^\d+$/.test(term) && o.id === Number(term));
      });
    }
    if (q.customer !== undefined) list = list.filter((o) => o.customer_id === Number(q.customer));
    // absint(): "12abc" → 12, junk → 0; 0 means no product filter.
    const product = Math.abs(Number.parseInt(q.product ?? '0', 10) || 0);
    if (product > 0) list = list.filter((o) => o.line_items.some((li) => li.product_id === product));
    if (q.status !== undefined && q.status !== 'any') list = list.filter((o) => q.status!.split(',').includes(o.status));
    const key = (o: FakeOrder) => (orderby === 'id' ? o.id : orderby === 'modified' ? o.modified : o.created);
    list.sort((a, b) => dir * (key(a) - key(b)) || dir * (a.id - b.id));

    const total = list.length;
    const totalPages = Math.ceil(total / perPage);
    const slice = list.slice((page - 1) * perPage, page * perPage);
    const headers: Record<string, string> = { 'x-wp-total': String(total), 'x-wp-totalpages': String(totalPages) };
    if (page < totalPages) headers.link = `<${this.url}/wp-json/wc/v3/orders?page=${page + 1}>; rel="next"`;
    return { status: 200, payload: slice.map((o) => this.orderView(o)), headers };
  }

  /** Site-local time, as WooCommerce prints `date_*` fields (the `_gmt` twins are UTC). */
  private siteDate(ms: number): string {
    return wooDate(ms + (this.options.utcOffsetMinutes ?? 60) * 60_000);
  }

  private noteView(n: FakeNote): Record<string, unknown> {
    const self = `${this.url}/wp-json/wc/v3/orders/${n.orderId}/notes/${n.id}`;
    return {
      id: n.id,
      author: n.author,
      date_created: this.siteDate(n.created),
      date_created_gmt: wooDate(n.created),
      note: n.note,
      customer_note: n.customer_note,
      _links: {
        self: [{ href: self, targetHints: { allow: ['GET', 'DELETE'] } }],
        collection: [{ href: `${this.url}/wp-json/wc/v3/orders/${n.orderId}/notes` }],
        up: [{ href: `${this.url}/wp-json/wc/v3/orders/${n.orderId}` }],
      },
    };
  }

  private listNotes(orderId: number, type: string): unknown[] {
    if (!['any', 'customer', 'internal'].includes(type)) {
      throw new HttpError(400, 'rest_invalid_param', 'Invalid parameter(s): type', paramDetails({ type: 'type is not one of any, customer, and internal.' }, 'rest_not_in_enum'));
    }
    return this.notesOf(orderId)
      .filter((n) => type === 'any' || (type === 'customer') === n.customer_note)
      .map((n) => this.noteView(n));
  }

  private createNote(order: FakeOrder, body: unknown): unknown {
    const b = (typeof body === 'object' && body !== null ? body : {}) as { note?: unknown; customer_note?: unknown };
    // Only a missing note is refused; an empty string is a valid (empty) note, as in WooCommerce.
    if (typeof b.note !== 'string') {
      throw new HttpError(400, 'rest_missing_callback_param', 'Missing parameter(s): note', { params: ['note'] });
    }
    const note: FakeNote = {
      id: this.nextNoteId++,
      orderId: order.id,
      note: b.note,
      customer_note: b.customer_note === true,
      created: Date.now(),
      // Notes added over REST by an API key are "system" notes, shown with WooCommerce's name.
      author: 'WooCommerce',
    };
    this.notes.push(note);
    return this.noteView(note);
  }

  // ── customers ──────────────────────────────────────────────────────────────────────────

  private customerView(c: FakeCustomer): Record<string, unknown> {
    return {
      id: c.id,
      email: c.email,
      first_name: c.first_name,
      last_name: c.last_name,
      username: c.username,
      role: 'customer',
      billing: c.billing,
      meta_data: c.meta_data.map((m) => ({ ...m })),
    };
  }

  /**
   * Edit (POST/PUT/PATCH are one WP_REST_Server::EDITABLE route). Only `meta_data` is applied, as
   * WC_REST_Customers_Controller does it: with an `id` that meta row is updated; without, the key is
   * updated in place (update_meta_data: first row kept, duplicates of the key dropped) or added.
   */
  private updateCustomer(c: FakeCustomer, body: unknown): void {
    const b = (typeof body === 'object' && body !== null ? body : {}) as { meta_data?: unknown };
    if (b.meta_data === undefined) return;
    if (!Array.isArray(b.meta_data)) throw new HttpError(400, 'rest_invalid_param', 'Invalid parameter(s): meta_data', { params: { meta_data: 'meta_data is not of type array.' } });
    for (const raw of b.meta_data) {
      const meta = (typeof raw === 'object' && raw !== null ? raw : {}) as { id?: unknown; key?: unknown; value?: unknown };
      if (typeof meta.key !== 'string' || meta.key === '') {
        throw new HttpError(400, 'rest_invalid_param', 'Invalid parameter(s): meta_data', { params: { meta_data: 'meta_data[key] is a required property.' } });
      }
      const byId = typeof meta.id === 'number' ? c.meta_data.find((m) => m.id === meta.id) : undefined;
      if (byId) {
        byId.key = meta.key;
        byId.value = meta.value;
        continue;
      }
      const same = c.meta_data.filter((m) => m.key === meta.key);
      if (same[0]) {
        same[0].value = meta.value;
        c.meta_data = c.meta_data.filter((m) => m.key !== meta.key || m === same[0]);
      } else {
        c.meta_data.push({ id: this.nextMetaId++, key: meta.key, value: meta.value });
      }
    }
  }

  private listCustomers(q: Record<string, string>): { status: number; payload: unknown; headers: Record<string, string> } {
    let list = [...this.customers.values()];
    if (q.search) {
      const term = q.search.toLowerCase();
      list = list.filter((c) => [c.email, c.first_name, c.last_name, c.username].some((f) => f.toLowerCase().includes(term)));
    }
    if (q.email) list = list.filter((c) => c.email.toLowerCase() === q.email!.toLowerCase());
    return { status: 200, payload: list.map((c) => this.customerView(c)), headers: { 'x-wp-total': String(list.length), 'x-wp-totalpages': String(list.length ? 1 : 0) } };
  }

  // ── companion plugin ───────────────────────────────────────────────────────────────────

  private lookup(req: RecordedRequest): unknown {
    if (!this.plugin) throw new HttpError(404, 'rest_no_route', 'No route was found matching the URL and request method.');
    const key = req.headers['x-coex-site-key'];
    if (typeof key !== 'string' || hashWooSiteKey(key) !== hashWooSiteKey(this.plugin.siteKey)) {
      throw new HttpError(401, 'coex_invalid_site_key', 'Missing or invalid X-Coex-Site-Key.');
    }
    const phone = normalizePhone(req.query.phone ?? null, this.options.defaultCountry ?? 'MA');
    if (phone === null) throw new HttpError(400, 'rest_invalid_param', 'Invalid parameter(s): phone', { params: { phone: 'phone must be E.164' } });
    const country = this.options.defaultCountry ?? 'MA';
    const orders = [...this.orders.values()]
      .filter((o) => normalizePhone(o.billing.phone, country) === phone)
      .sort((a, b) => b.created - a.created || b.id - a.id);
    const customerId =
      [...this.customers.values()].find((c) => normalizePhone(c.billing.phone, country) === phone)?.id ??
      orders.find((o) => o.customer_id > 0)?.customer_id;
    const customer = customerId !== undefined ? this.customers.get(customerId) : undefined;
    return {
      phone,
      customer: customer ? { id: customer.id, first_name: customer.first_name, last_name: customer.last_name, email: customer.email } : null,
      orders: orders.map((o) => ({
        id: o.id,
        number: String(o.id),
        status: o.status,
        customer_id: o.customer_id,
        date_created_gmt: wooDate(o.created),
        total: o.total,
        currency: o.currency,
      })),
    };
  }
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8', ...headers });
  res.end(JSON.stringify(body));
}
