import { checkZohoOrigin, normalizePhone, requestJson, ZOHO_API_DOMAINS, type FetchLike, type OdooDomain, type OdooTransport } from '@coex/connectors';
import { z } from 'zod';
import type { RecipientInput } from './recipients.js';

/**
 * CRM segments as campaign recipients. A SegmentSource lists the members of a segment once, when
 * the campaign is created (a snapshot: the campaign's audience does not move while it runs).
 */
export interface SegmentSource {
  /** e.g. "hubspot contact search (2 filter groups)": shown in the campaign's import report. */
  readonly description: string;
  /** Members as recipient inputs (phone in any spelling; normalized like CSV rows). */
  members(): Promise<RecipientInput[]>;
}

// HubSpot CRM search (POST /crm/v3/objects/contacts/search) -------------------------------------

export const hubspotFilterSchema = z.object({
  propertyName: z.string().min(1).max(100),
  operator: z.enum(['EQ', 'NEQ', 'LT', 'LTE', 'GT', 'GTE', 'BETWEEN', 'IN', 'NOT_IN', 'HAS_PROPERTY', 'NOT_HAS_PROPERTY', 'CONTAINS_TOKEN', 'NOT_CONTAINS_TOKEN']),
  value: z.string().max(500).optional(),
  highValue: z.string().max(500).optional(),
  values: z.array(z.string().max(500)).max(100).optional(),
});
/** HubSpot allows 5 OR-ed groups of at most 6 AND-ed filters (18 in all); it answers 400 beyond. */
export const hubspotFilterGroupsSchema = z
  .array(z.object({ filters: z.array(hubspotFilterSchema).min(1).max(6) }))
  .min(1)
  .max(5)
  .refine((groups) => groups.reduce((n, g) => n + g.filters.length, 0) <= 18, { message: 'HubSpot allows at most 18 filters in all' });
export type HubSpotFilterGroups = z.infer<typeof hubspotFilterGroupsSchema>;

const searchPageSchema = z.looseObject({
  total: z.number().optional(),
  results: z.array(z.looseObject({ id: z.string(), properties: z.record(z.string(), z.string().nullable().optional()) })),
  paging: z.looseObject({ next: z.looseObject({ after: z.string() }).optional() }).optional(),
});

export interface HubSpotSegmentOptions {
  accessToken?: string;
  tokenProvider?: () => Promise<string>;
  /** Default https://api.hubapi.com; tests point it at the emulator. */
  basePath?: string;
  filterGroups: HubSpotFilterGroups;
  /** Contact properties that become var1..varN, in order (e.g. ["city", "coupon_code"]). */
  variableProperties?: string[];
  /** Phone properties tried in order. */
  phoneProperties?: string[];
  /** Stop after this many contacts. HubSpot's search returns at most 10 000 results per query. */
  maxContacts?: number;
  fetch?: FetchLike;
}

const PAGE_SIZE = 100;
const HUBSPOT_SEARCH_CAP = 10_000;

/** Contacts matching a HubSpot CRM search (e.g. lifecyclestage = customer, or a custom "segment" property). */
export class HubSpotSegmentSource implements SegmentSource {
  readonly description: string;
  constructor(private readonly options: HubSpotSegmentOptions) {
    if (!options.accessToken && !options.tokenProvider) throw new Error('HubSpotSegmentSource needs accessToken or tokenProvider');
    hubspotFilterGroupsSchema.parse(options.filterGroups);
    this.description = `hubspot contact search (${options.filterGroups.length} filter group${options.filterGroups.length === 1 ? '' : 's'})`;
  }

  async members(): Promise<RecipientInput[]> {
    const o = this.options;
    const phoneProps = o.phoneProperties ?? ['hs_whatsapp_phone_number', 'mobilephone', 'phone'];
    const varProps = o.variableProperties ?? [];
    const properties = [...new Set(['firstname', 'lastname', ...phoneProps, ...varProps])];
    const max = Math.min(o.maxContacts ?? HUBSPOT_SEARCH_CAP, HUBSPOT_SEARCH_CAP);
    const out: RecipientInput[] = [];
    let after: string | undefined;
    do {
      const token = o.accessToken ?? (await o.tokenProvider!());
      const page = await requestJson(
        'hubspot',
        `${(o.basePath ?? 'https://api.hubapi.com').replace(/\/$/, '')}/crm/v3/objects/contacts/search`,
        {
          method: 'POST',
          headers: { authorization: `Bearer ${token}` },
          body: { filterGroups: o.filterGroups, properties, limit: PAGE_SIZE, ...(after ? { after } : {}) },
          schema: searchPageSchema,
        },
        o.fetch,
      );
      for (const c of page.data?.results ?? []) {
        const phone = phoneProps.map((p) => c.properties[p]).find((v): v is string => typeof v === 'string' && v.trim() !== '');
        // Contacts without a phone are kept so the import report lists them as invalid.
        out.push({
          phone: phone ?? '',
          name: c.properties.firstname ?? c.properties.lastname ?? null,
          variables: varProps.map((p) => c.properties[p] ?? ''),
        });
        if (out.length >= max) return out;
      }
      after = page.data?.paging?.next?.after;
    } while (after);
    return out;
  }
}

// Shared by the sources below ----------------------------------------------------------------------

/** ISO country used to read national numbers stored in the CRM ("06…"). */
type SegmentCountry = NonNullable<Parameters<typeof normalizePhone>[1]>;

/** What the last `members()` call saw: for the import report and for tests. */
export interface SegmentRunStats {
  /** CRM records read (orders for WooCommerce, partners for Odoo, records for Zoho). */
  records: number;
  /** HTTP pages requested. */
  pages: number;
  /** Records whose phone normalized to a number already listed (kept: the first one). */
  duplicates: number;
  /** The CRM had more than the source may read (maxRecords or the CRM's own cap). */
  truncated: boolean;
}

/**
 * Collects members deduplicated on the normalized phone. Valid phones go out in E.164; invalid or
 * missing ones go out raw (or '') so the campaign's import report lists them, as HubSpot's does.
 */
class MemberCollector {
  readonly members: RecipientInput[] = [];
  readonly stats: SegmentRunStats = { records: 0, pages: 0, duplicates: 0, truncated: false };
  private readonly seen = new Set<string>();
  constructor(private readonly country: SegmentCountry) {}

  add(phones: ReadonlyArray<string | null | undefined>, name: string | null, variables: string[]): void {
    this.stats.records += 1;
    const raw = phones.find((p): p is string => typeof p === 'string' && p.trim() !== '');
    // The first field that normalizes wins; a record whose fields are all unreadable is reported with its first one.
    const e164 = phones.map((p) => normalizePhone(p ?? null, this.country)).find((p): p is string => p !== null) ?? null;
    if (e164 === null) {
      this.members.push({ phone: raw ?? '', name, variables });
      return;
    }
    if (this.seen.has(e164)) {
      this.stats.duplicates += 1;
      return;
    }
    this.seen.add(e164);
    this.members.push({ phone: e164, name, variables });
  }
}

/** A value read by a dotted path ("billing.city") as template text: strings and numbers, else ''. */
function textAt(value: unknown, path: string): string {
  let v: unknown = value;
  for (const key of path.split('.')) {
    if (v === null || typeof v !== 'object') return '';
    v = (v as Record<string, unknown>)[key];
  }
  return typeof v === 'string' ? v : typeof v === 'number' ? String(v) : '';
}

function cleanName(...parts: Array<string | null | undefined | false>): string | null {
  const name = parts.filter((p): p is string => typeof p === 'string' && p.trim() !== '').join(' ').trim();
  return name === '' ? null : name;
}

// WooCommerce: customers who ordered a product (GET /wp-json/wc/v3/orders?product=) -------------

/** wc/v3 lists take at most 100 per page (400 rest_invalid_param beyond). */
const WOO_PAGE_SIZE = 100;

const wooOrderPage = z.array(
  z.looseObject({
    id: z.number().int(),
    billing: z.looseObject({ first_name: z.string().nullable().optional(), last_name: z.string().nullable().optional(), phone: z.string().nullable().optional() }),
    shipping: z.looseObject({ phone: z.string().nullable().optional() }).nullable().optional(),
  }),
);

export interface WooCommerceSegmentOptions {
  /** Store URL, e.g. https://shop.example (the REST API lives under /wp-json/). */
  url: string;
  consumerKey: string;
  consumerSecret: string;
  /** Orders containing this product (WooCommerce's `product` filter: a product or variation parent id). */
  productId?: number;
  /** Order statuses, e.g. ["completed", "processing"]. Default: any. */
  statuses?: string[];
  /**
   * Order fields that become var1..varN, as dotted paths into the wc/v3 order JSON, e.g.
   * ["billing.first_name", "number", "billing.city"]. Read from the customer's most recent order.
   */
  variableFields?: string[];
  /** Stop after this many orders. Default 10 000. */
  maxOrders?: number;
  /**
   * Basic auth is only accepted by WooCommerce over HTTPS (plain HTTP needs OAuth 1.0a signatures,
   * which the connector's client does). Set for a store behind a TLS-terminating proxy, or tests.
   */
  allowPlainHttp?: boolean;
  defaultCountry?: SegmentCountry;
  fetch?: FetchLike;
}

/**
 * Customers who ordered a product: orders listed newest first (so a customer's details come from
 * their latest order), the billing phone (else the shipping one) as the recipient.
 */
export class WooCommerceSegmentSource implements SegmentSource {
  readonly description: string;
  lastRun: SegmentRunStats | null = null;
  private readonly base: string;

  constructor(private readonly options: WooCommerceSegmentOptions) {
    if (!URL.canParse(options.url)) throw new Error(`WooCommerceSegmentSource: url is not a URL: ${options.url}`);
    const protocol = new URL(options.url).protocol;
    if (protocol !== 'https:' && !(protocol === 'http:' && options.allowPlainHttp)) {
      throw new Error('WooCommerceSegmentSource: the store URL must be https (Basic auth over plain HTTP is refused by WooCommerce)');
    }
    if (!options.consumerKey || !options.consumerSecret) throw new Error('WooCommerceSegmentSource: consumerKey and consumerSecret are required');
    if (options.productId !== undefined && (!Number.isInteger(options.productId) || options.productId <= 0)) {
      throw new Error('WooCommerceSegmentSource: productId must be a positive integer');
    }
    this.base = options.url.replace(/\/+$/, '');
    const what = options.productId !== undefined ? `who ordered product ${options.productId}` : 'with an order';
    this.description = `woocommerce customers ${what}${options.statuses?.length ? ` (${options.statuses.join(', ')})` : ''}`;
  }

  async members(): Promise<RecipientInput[]> {
    const o = this.options;
    const out = new MemberCollector(o.defaultCountry ?? 'MA');
    const max = o.maxOrders ?? 10_000;
    const auth = `Basic ${Buffer.from(`${o.consumerKey}:${o.consumerSecret}`).toString('base64')}`;
    let totalPages = 1;
    for (let page = 1; page <= totalPages; page++) {
      const query = new URLSearchParams({ per_page: String(WOO_PAGE_SIZE), page: String(page), orderby: 'date', order: 'desc' });
      if (o.productId !== undefined) query.set('product', String(o.productId));
      if (o.statuses?.length) query.set('status', o.statuses.join(','));
      const res = await requestJson('woocommerce', `${this.base}/wp-json/wc/v3/orders?${query}`, { method: 'GET', headers: { authorization: auth }, schema: wooOrderPage }, o.fetch);
      out.stats.pages += 1;
      // A new order arriving meanwhile shifts later pages by one: the repeat is absorbed by the dedupe.
      totalPages = Number(res.headers.get('x-wp-totalpages') ?? page) || page;
      for (const order of res.data ?? []) {
        if (out.stats.records >= max) {
          out.stats.truncated = true;
          break;
        }
        out.add([order.billing.phone, order.shipping?.phone], cleanName(order.billing.first_name, order.billing.last_name), (o.variableFields ?? []).map((f) => textAt(order, f)));
      }
      if (out.stats.truncated) break;
    }
    this.lastRun = out.stats;
    return out.members;
  }
}

// Odoo: res.partner records matching a domain (search_read, id-keyset pages) ---------------------

const ODOO_PAGE_SIZE = 200;
const odooPartnerPage = z.array(z.looseObject({ id: z.number().int().positive(), name: z.union([z.string(), z.literal(false)]).optional() }));
const odooFieldsGet = z.record(z.string(), z.unknown());

export interface OdooSegmentOptions {
  /** An Odoo transport of @coex/connectors (OdooXmlRpcTransport / OdooJson2Transport). */
  transport: OdooTransport;
  /** e.g. [['category_id', 'in', [5]]] (partners tagged 5) or [['country_code', '=', 'MA'], ['customer_rank', '>', 0]]. */
  domain: OdooDomain;
  /** Partner fields that become var1..varN (many2one fields give their display name). */
  variableFields?: string[];
  /** Phone fields tried in order; the ones missing on this Odoo (mobile on 19+) are skipped. */
  phoneFields?: string[];
  /** Stop after this many partners. Default 10 000. */
  maxPartners?: number;
  pageSize?: number;
  defaultCountry?: SegmentCountry;
}

/**
 * Partners matching a domain. Pages are read by id (`id > last`, `order: id`) rather than by
 * offset: the shared OdooTransport has no offset, and keyset pages neither skip nor repeat a
 * partner when others are created or archived while the list is read. Archived partners are
 * excluded by Odoo unless the domain mentions `active`.
 */
export class OdooSegmentSource implements SegmentSource {
  readonly description: string;
  lastRun: SegmentRunStats | null = null;

  constructor(private readonly options: OdooSegmentOptions) {
    if (!Array.isArray(options.domain)) throw new Error('OdooSegmentSource: domain must be a list (Odoo prefix notation)');
    const size = options.pageSize ?? ODOO_PAGE_SIZE;
    if (!Number.isInteger(size) || size < 1 || size > 1000) throw new Error('OdooSegmentSource: pageSize must be 1..1000');
    this.description = `odoo partners matching ${JSON.stringify(options.domain)}`.slice(0, 200);
  }

  async members(): Promise<RecipientInput[]> {
    const o = this.options;
    const t = o.transport;
    const out = new MemberCollector(o.defaultCountry ?? 'MA');
    const wantedPhones = o.phoneFields ?? ['phone_sanitized', 'mobile', 'phone'];
    const varFields = o.variableFields ?? [];
    const existing = odooFieldsGet.parse(await t.fieldsGet('res.partner', [...new Set([...wantedPhones, ...varFields])]));
    const phoneFields = wantedPhones.filter((f) => f in existing);
    const missingVars = varFields.filter((f) => !(f in existing));
    if (missingVars.length > 0) throw new Error(`OdooSegmentSource: res.partner has no field ${missingVars.join(', ')}`);
    if (phoneFields.length === 0) throw new Error(`OdooSegmentSource: res.partner has none of the phone fields ${wantedPhones.join(', ')}`);
    const fields = [...new Set(['name', ...phoneFields, ...varFields])];
    const size = o.pageSize ?? ODOO_PAGE_SIZE;
    const max = o.maxPartners ?? 10_000;
    let lastId = 0;
    for (;;) {
      // Top-level terms are AND-ed: the id bound applies to the whole of the caller's domain.
      const domain: OdooDomain = [['id', '>', lastId], ...o.domain];
      const rows = odooPartnerPage.parse(await t.searchRead('res.partner', domain, { fields, limit: size, order: 'id asc' }));
      out.stats.pages += 1;
      for (const row of rows) {
        if (out.stats.records >= max) {
          out.stats.truncated = true;
          break;
        }
        const r = row as Record<string, unknown>;
        out.add(phoneFields.map((f) => odooText(r[f])), cleanName(row.name), varFields.map((f) => odooText(r[f])));
        lastId = Math.max(lastId, row.id);
      }
      if (out.stats.truncated || rows.length < size) break;
    }
    this.lastRun = out.stats;
    return out.members;
  }
}

/** Odoo sends False for empty fields and [id, "name"] for many2one. */
function odooText(v: unknown): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return String(v);
  if (Array.isArray(v) && v.length === 2 && typeof v[1] === 'string') return v[1];
  return '';
}

// Zoho CRM: records matching criteria (GET /crm/v8/{module}/search?criteria=) ------------------

/** Zoho's per_page ceiling. */
const ZOHO_PAGE_SIZE = 200;
/** Search pages with `page` reach 2000 records; Zoho wants page_token beyond, which search does not take. */
const ZOHO_SEARCH_CAP = 2000;
const zohoSearchPage = z.looseObject({
  data: z.array(z.looseObject({ id: z.string().min(1) })),
  info: z.looseObject({ more_records: z.boolean().optional() }).optional(),
});

export interface ZohoSegmentOptions {
  /** The org's API domain (token response `api_domain`), e.g. https://www.zohoapis.eu. */
  apiDomain: string;
  accessToken?: string;
  tokenProvider?: () => Promise<string>;
  module?: 'Contacts' | 'Leads';
  /** Zoho search criteria, e.g. "(Lead_Source:equals:Salon 2026)" — at most 10 conditions. */
  criteria: string;
  /** Record fields that become var1..varN (API names, e.g. ["First_Name", "Mailing_City"]). */
  variableFields?: string[];
  /** Phone fields tried in order. Default Mobile, Phone. */
  phoneFields?: string[];
  /** Default 2000 (Zoho's search cap). */
  maxRecords?: number;
  /** Replace Zoho's known API hosts (tests pointing at the emulator). */
  allowedApiDomains?: readonly string[];
  defaultCountry?: SegmentCountry;
  fetch?: FetchLike;
}

/** Contacts (or Leads) matching a Zoho search criteria. No match is Zoho's 204. */
export class ZohoSegmentSource implements SegmentSource {
  readonly description: string;
  lastRun: SegmentRunStats | null = null;
  private readonly apiDomain: string;

  constructor(private readonly options: ZohoSegmentOptions) {
    if (!options.accessToken && !options.tokenProvider) throw new Error('ZohoSegmentSource needs accessToken or tokenProvider');
    const criteria = options.criteria.trim();
    if (!criteria.startsWith('(') || !criteria.endsWith(')')) throw new Error('ZohoSegmentSource: criteria must look like (Field:equals:value)');
    const conditions = criteria.match(/:(?:equals|starts_with|not_equal|in|between|greater_than|greater_equal|less_than|less_equal):/g)?.length ?? 0;
    if (conditions > 10) throw new Error('ZohoSegmentSource: Zoho allows at most 10 conditions in one criteria');
    // The token goes only to a Zoho host: a tampered connection row must not redirect it.
    this.apiDomain = checkZohoOrigin(options.apiDomain, options.allowedApiDomains ?? ZOHO_API_DOMAINS, 'API domain');
    this.description = `zoho ${options.module ?? 'Contacts'} matching ${criteria}`.slice(0, 200);
  }

  async members(): Promise<RecipientInput[]> {
    const o = this.options;
    const module = o.module ?? 'Contacts';
    const phoneFields = o.phoneFields ?? ['Mobile', 'Phone'];
    const varFields = o.variableFields ?? [];
    const fields = [...new Set(['First_Name', 'Last_Name', ...phoneFields, ...varFields])].join(',');
    const max = Math.min(o.maxRecords ?? ZOHO_SEARCH_CAP, ZOHO_SEARCH_CAP);
    const out = new MemberCollector(o.defaultCountry ?? 'MA');
    for (let page = 1; ; page++) {
      const url = new URL(`/crm/v8/${module}/search`, this.apiDomain);
      url.search = new URLSearchParams({ criteria: o.criteria.trim(), fields, page: String(page), per_page: String(ZOHO_PAGE_SIZE) }).toString();
      const token = o.accessToken ?? (await o.tokenProvider!());
      const res = await requestJson('zoho', url.toString(), { method: 'GET', headers: { authorization: `Zoho-oauthtoken ${token}` }, schema: zohoSearchPage }, o.fetch);
      out.stats.pages += 1;
      for (const rec of res.data?.data ?? []) {
        if (out.stats.records >= max) {
          out.stats.truncated = true;
          break;
        }
        const r = rec as Record<string, unknown>;
        out.add(phoneFields.map((f) => zohoText(r[f])), cleanName(zohoText(r['First_Name']), zohoText(r['Last_Name'])), varFields.map((f) => zohoText(r[f])));
      }
      if (out.stats.truncated || !res.data?.info?.more_records) break;
      if (out.stats.records >= max) {
        out.stats.truncated = true;
        break;
      }
    }
    this.lastRun = out.stats;
    return out.members;
  }
}

/** Zoho text fields, lookups ({ name, id }) and picklists as template text. */
function zohoText(v: unknown): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return String(v);
  if (v !== null && typeof v === 'object' && typeof (v as { name?: unknown }).name === 'string') return (v as { name: string }).name;
  return '';
}
