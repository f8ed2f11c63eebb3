import { Client } from '@hubspot/api-client';
import { AssociationSpecAssociationCategoryEnum } from '@hubspot/api-client/lib/codegen/crm/associations/v4/index.js';
import { FilterOperatorEnum } from '@hubspot/api-client/lib/codegen/crm/contacts/index.js';
import { PropertyCreateFieldTypeEnum, PropertyCreateTypeEnum } from '@hubspot/api-client/lib/codegen/crm/properties/index.js';
import type { CountryCode } from 'libphonenumber-js';
import { z } from 'zod';
import { DEFAULT_TIMEOUT_MS, parseRetryAfter } from '../http.js';
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
import { botStateNoteBody, communicationBody, consentNoteBody, consentSummary, splitName, transcriptNoteBody } from './format.js';
import { verifyHubSpotRequest } from './signature.js';
import { HubSpotCustomChannelClient, type HubSpotInboxChannelRef } from './custom-channel.js';

export interface HubSpotConnectorOptions {
  /** A fixed token (private app / tests). Give this or tokenProvider. */
  accessToken?: string;
  /** Called before every request, e.g. `tokenManager.getAccessToken.bind(tokenManager)`. */
  tokenProvider?: () => Promise<string>;
  /** Defaults to https://api.hubapi.com; tests point it at the fake. */
  basePath?: string;
  /** The portal (hub id) this connector writes to; extension requests from other portals get 403. */
  portalId: string;
  /** App client secret: the key of request signature v3. */
  clientSecret: string;
  appId?: string;
  /** Country for reading national-format numbers found in HubSpot. Default MA. */
  defaultCountry?: CountryCode;
  /** Per HTTP call. Default 15 s. */
  timeoutMs?: number;
  searchLimits?: Partial<HubSpotSearchLimits>;
  /** How long a contact's open deal (or its absence) is reused by archive(). Default 10 minutes. */
  openDealTtlMs?: number;
  /** The portal's Conversations custom channel account, when the inbox is connected (custom-channel.ts). */
  inboxChannel?: HubSpotInboxChannelRef;
}

export interface HubSpotSearchLimits {
  maxFilterGroups: number;
  maxFiltersPerGroup: number;
  maxFiltersTotal: number;
  /** Values in one IN filter. */
  maxValuesPerFilter: number;
}

/**
 * HubSpot's CRM search limits: 5 OR-ed filterGroups, 6 AND-ed filters in a group, 18 filters in all,
 * 100 values in an IN filter, 200 results a page.
 */
export const HUBSPOT_SEARCH_LIMITS: HubSpotSearchLimits = { maxFilterGroups: 5, maxFiltersPerGroup: 6, maxFiltersTotal: 18, maxValuesPerFilter: 100 };
const SEARCH_PAGE_SIZE = 200;
/** HubSpot batch endpoints take at most 100 inputs. */
export const HUBSPOT_BATCH_LIMIT = 100;
/** v4 association batch reads take at most 1000 inputs (since 2025-02-10). */
export const HUBSPOT_ASSOCIATION_READ_LIMIT = 1000;
export const HUBSPOT_OPEN_DEAL_TTL_MS = 10 * 60_000;
/** The custom unique property holding CoEx's id on communications and notes (see docs/decisions/hubspot-idempotency.md). */
export const HUBSPOT_COEX_ID_PROPERTY = 'coex_message_id';
export const HUBSPOT_PHONE_PROPERTIES = ['phone', 'mobilephone', 'hs_whatsapp_phone_number'] as const;

/**
 * Contact properties holding a customer's WhatsApp marketing consent (see
 * docs/decisions/crm-marketing-opt-out.md), created by `ensureConsentProperties()` in the "CoEx" group.
 */
export const HUBSPOT_CONSENT_PROPERTIES = {
  /** Checkbox: true = do not send WhatsApp marketing. Lists and workflows filter on it. */
  optOut: 'coex_whatsapp_marketing_opt_out',
  /** When the consent last changed. */
  changedAt: 'coex_whatsapp_marketing_consent_changed_at',
  /** How it changed, one line ("Opted out · the customer wrote "baraka" · …"). */
  detail: 'coex_whatsapp_marketing_consent_detail',
} as const;

/** HubSpot-defined association type ids (v4). */
export const HUBSPOT_ASSOCIATION_TYPES = {
  communicationToContact: 81,
  communicationToDeal: 85,
  noteToContact: 202,
} as const;

const CLOSED_STAGES = new Set(['closedwon', 'closedlost']);

export interface HubSpotSearchFilter {
  propertyName: string;
  operator: FilterOperatorEnum;
  value?: string;
  values?: string[];
}
export interface HubSpotSearchFilterGroup {
  filters: HubSpotSearchFilter[];
}

/**
 * Packs OR-ed filter groups into as few search requests as HubSpot's limits allow. Results of the
 * requests are unioned by the caller (OR across requests = OR across groups).
 */
export function planHubSpotSearches(groups: HubSpotSearchFilterGroup[], limits: HubSpotSearchLimits = HUBSPOT_SEARCH_LIMITS): HubSpotSearchFilterGroup[][] {
  const requests: HubSpotSearchFilterGroup[][] = [];
  let current: HubSpotSearchFilterGroup[] = [];
  let filters = 0;
  for (const group of groups) {
    const n = group.filters.length;
    if (n === 0) continue;
    if (n > limits.maxFiltersPerGroup || n > limits.maxFiltersTotal) {
      throw new Error(`a filter group with ${n} filters exceeds HubSpot's search limits`);
    }
    if (current.length + 1 > limits.maxFilterGroups || filters + n > limits.maxFiltersTotal) {
      requests.push(current);
      current = [];
      filters = 0;
    }
    current.push(group);
    filters += n;
  }
  if (current.length > 0) requests.push(current);
  return requests;
}

// ── what we read back from the SDK (it deserializes, we still check what we rely on) ───────────

const simpleObject = z.looseObject({
  id: z.coerce.string(),
  properties: z.record(z.string(), z.string().nullable().optional()),
  createdAt: z.unknown().optional(),
});
const searchPage = z.looseObject({
  total: z.number().optional(),
  results: z.array(simpleObject),
  paging: z.looseObject({ next: z.looseObject({ after: z.string() }).optional() }).optional(),
});
const batchError = z.looseObject({ message: z.string().optional(), category: z.string().optional() });
const batchErrors = z.looseObject({ errors: z.array(batchError).optional() });
/** v4 association batch read as the SDK deserializes it (`from` becomes `_from`). */
const associationBatchRead = z.looseObject({
  results: z.array(
    z.looseObject({
      _from: z.looseObject({ id: z.coerce.string() }),
      to: z.array(z.looseObject({ toObjectId: z.coerce.string() })),
      paging: z.looseObject({ next: z.looseObject({ after: z.string() }).optional() }).optional(),
    }),
  ),
  errors: z.array(batchError).optional(),
});
const batchObjects = z.looseObject({
  results: z.array(simpleObject.extend({ objectWriteTraceId: z.string().optional().nullable() })),
  errors: z.array(batchError).optional(),
});
const upsertResults = z.looseObject({
  results: z.array(simpleObject.extend({ objectWriteTraceId: z.string().optional().nullable(), new: z.boolean().optional() })),
  errors: z.array(z.looseObject({ message: z.string().optional(), category: z.string().optional() })).optional(),
});
const propertyInfo = z.looseObject({ name: z.string(), hasUniqueValue: z.boolean().optional() });
const singleObject = z.looseObject({ id: z.coerce.string() });

type Ops = { calls: number };

/** An HTTP error as the SDK throws it (ApiException): status in `code`, lower-cased response headers. */
const sdkHttpError = z.looseObject({
  code: z.number().int(),
  headers: z.record(z.string(), z.string()).optional(),
  body: z.unknown().optional(),
});

export class HubSpotConnector implements CrmConnector {
  readonly name = 'hubspot' as const;
  private readonly client: Client;
  private readonly limits: HubSpotSearchLimits;
  private readonly timeoutMs: number;
  private readonly defaultCountry: CountryCode;
  /** E.164 → contact id. HubSpot search lags creation by seconds; this prevents duplicates meanwhile. */
  private readonly contactCache = new Map<string, string>();
  private readonly contactInFlight = new Map<string, Promise<CrmContactRef>>();
  /** Contact id → its open deal (or null) and until when that answer is reused. */
  private readonly openDealCache = new Map<string, { dealId: string | null; expiresAt: number }>();
  private readonly openDealTtlMs: number;
  /** Set once the consent properties are known to exist on contacts (per instance). */
  private consentProperties: Promise<void> | null = null;
  /** Total HTTP calls this instance made (diagnostics; results report their own counts). */
  requestCount = 0;

  constructor(private readonly options: HubSpotConnectorOptions) {
    if (!options.accessToken && !options.tokenProvider) throw new Error('HubSpotConnector: accessToken or tokenProvider is required');
    if (!/^\d+$/.test(options.portalId)) throw new Error('HubSpotConnector: portalId must be the numeric hub id');
    if (!options.clientSecret) throw new Error('HubSpotConnector: clientSecret is required');
    this.limits = { ...HUBSPOT_SEARCH_LIMITS, ...options.searchLimits };
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.defaultCountry = options.defaultCountry ?? 'MA';
    this.openDealTtlMs = options.openDealTtlMs ?? HUBSPOT_OPEN_DEAL_TTL_MS;
    const provider = options.tokenProvider;
    this.client = new Client({
      ...(options.accessToken && !provider ? { accessToken: options.accessToken } : {}),
      ...(options.basePath ? { basePath: options.basePath.replace(/\/$/, '') } : {}),
      // The outbox owns retries (and apiCalls must count real calls): no SDK retries or limiter.
      numberOfApiCallRetries: 0,
      middleware: [
        {
          pre: async (ctx: unknown) => {
            this.requestCount++;
            if (provider && hasSetHeader(ctx)) ctx.setHeaderParam('Authorization', `Bearer ${await provider()}`);
            return ctx;
          },
          post: (ctx: unknown) => ctx,
        },
      ],
    });
  }

  // ── inbox (Conversations custom channel) ────────────────────────────────────────────────

  /** The connected inbox channel account, or null when this portal has none. */
  get inboxChannel(): HubSpotInboxChannelRef | null {
    return this.options.inboxChannel ?? null;
  }

  /** Custom-channel calls with this connector's SDK client, token and timeout (counted in requestCount). */
  customChannel(): HubSpotCustomChannelClient {
    const provider = this.options.tokenProvider;
    return new HubSpotCustomChannelClient({
      client: this.client,
      ...(provider ? { tokenProvider: provider } : {}),
      timeoutMs: this.timeoutMs,
      onRequest: () => {
        this.requestCount++;
      },
    });
  }

  // ── install ──────────────────────────────────────────────────────────────────────────────

  /**
   * Install step: creates the `coex_message_id` unique-value property on communications and notes
   * (and a "CoEx" property group for it). Safe to run again. Needs property-write scopes for these
   * objects (to confirm when registering the app: HubSpot documents them per object).
   */
  /** One read of a contact property definition: proves the token (an absent property is fine). */
  async verifyCredentials(): Promise<void> {
    await this.findProperty('contacts', { calls: 0 });
  }

  async ensureProperties(): Promise<{ created: string[] }> {
    const ops: Ops = { calls: 0 };
    const created: string[] = [];
    for (const objectType of ['communications', 'notes']) {
      const existing = await this.findProperty(objectType, ops);
      if (existing) {
        if (existing.hasUniqueValue !== true) {
          throw new CrmError(
            `hubspot: ${objectType}.${HUBSPOT_COEX_ID_PROPERTY} exists without unique values; it cannot be made unique afterwards — rename or delete it`,
            'hubspot',
            false,
          );
        }
        continue;
      }
      await this.ignoreConflict(() =>
        this.call(ops, () => this.client.crm.properties.groupsApi.create(objectType, { name: 'coex', label: 'CoEx' })),
      );
      try {
        await this.call(ops, () =>
          this.client.crm.properties.coreApi.create(objectType, {
            name: HUBSPOT_COEX_ID_PROPERTY,
            label: 'CoEx message id',
            description: 'Set by CoEx: makes WhatsApp archiving idempotent. Do not edit.',
            groupName: 'coex',
            type: PropertyCreateTypeEnum.String,
            fieldType: PropertyCreateFieldTypeEnum.Text,
            hasUniqueValue: true,
            formField: false,
          }),
        );
      } catch (err) {
        // Created meanwhile by a concurrent connect (two installs at once): fine if it is the unique one.
        if (!(err instanceof CrmError && err.status === 409)) throw err;
        if ((await this.findProperty(objectType, ops))?.hasUniqueValue !== true) throw err;
        continue;
      }
      created.push(`${objectType}.${HUBSPOT_COEX_ID_PROPERTY}`);
    }
    return { created };
  }

  /**
   * Creates the contact properties holding WhatsApp marketing consent (`HUBSPOT_CONSENT_PROPERTIES`)
   * in the "CoEx" contact property group, when missing. Safe to run again (409 "already exists" is
   * fine); `recordMarketingConsent` runs it once per connector instance.
   */
  async ensureConsentProperties(): Promise<{ created: string[] }> {
    const ops: Ops = { calls: 0 };
    const created: string[] = [];
    const definitions = [
      {
        name: HUBSPOT_CONSENT_PROPERTIES.optOut,
        label: 'WhatsApp marketing opt-out',
        description: 'Set by CoEx when the customer opts out of WhatsApp marketing (STOP keyword, "Stop promotions" in WhatsApp, WhatsApp error 131050, API). Exclude these contacts from WhatsApp marketing.',
        type: PropertyCreateTypeEnum.Bool,
        fieldType: PropertyCreateFieldTypeEnum.Booleancheckbox,
        options: [
          { label: 'Yes', value: 'true', displayOrder: 0, hidden: false },
          { label: 'No', value: 'false', displayOrder: 1, hidden: false },
        ],
      },
      {
        name: HUBSPOT_CONSENT_PROPERTIES.changedAt,
        label: 'WhatsApp marketing consent changed at',
        description: 'Set by CoEx: when the WhatsApp marketing opt-out was last set or cleared.',
        type: PropertyCreateTypeEnum.Datetime,
        fieldType: PropertyCreateFieldTypeEnum.Date,
      },
      {
        name: HUBSPOT_CONSENT_PROPERTIES.detail,
        label: 'WhatsApp marketing consent detail',
        description: 'Set by CoEx: how the WhatsApp marketing consent last changed.',
        type: PropertyCreateTypeEnum.String,
        fieldType: PropertyCreateFieldTypeEnum.Text,
      },
    ];
    let groupReady = false;
    for (const def of definitions) {
      if (await this.findProperty('contacts', ops, def.name)) continue;
      if (!groupReady) {
        await this.ignoreConflict(() => this.call(ops, () => this.client.crm.properties.groupsApi.create('contacts', { name: 'coex', label: 'CoEx' })));
        groupReady = true;
      }
      await this.ignoreConflict(() =>
        this.call(ops, () => this.client.crm.properties.coreApi.create('contacts', { ...def, groupName: 'coex', formField: false })),
      );
      created.push(`contacts.${def.name}`);
    }
    return { created };
  }

  // ── contacts ─────────────────────────────────────────────────────────────────────────────

  async findOrCreateContact(phoneE164: string, name: string | null): Promise<CrmContactRef> {
    return this.resolveContact(phoneE164, name, { calls: 0 });
  }

  private async resolveContact(phone: string, name: string | null, ops: Ops): Promise<CrmContactRef> {
    const e164 = normalizePhone(phone, this.defaultCountry);
    if (e164 === null) throw new CrmError(`hubspot: not a valid phone number: "${phone}"`, 'hubspot', false);
    const ref = (await this.resolveContacts([{ e164, name }], ops)).get(e164);
    if (!ref) throw new CrmError(`hubspot: no contact resolved for ${e164}`, 'hubspot', true);
    return ref;
  }

  /**
   * Contacts for several customers at once: cached ones cost nothing, the others share one search
   * (and one batch create for those not found). Two archives for the same new customer at once must
   * not create two contacts, so a lookup in flight is awaited rather than repeated.
   */
  private async resolveContacts(wanted: { e164: string; name: string | null }[], ops: Ops): Promise<Map<string, CrmContactRef>> {
    const refs = new Map<string, CrmContactRef>();
    const waiting: Promise<void>[] = [];
    const lookup: { e164: string; name: string | null }[] = [];
    for (const w of wanted) {
      if (refs.has(w.e164) || lookup.some((l) => l.e164 === w.e164)) continue;
      const cached = this.contactCache.get(w.e164);
      if (cached) {
        refs.set(w.e164, { id: cached, object: 'contacts', created: false });
        continue;
      }
      const running = this.contactInFlight.get(w.e164);
      if (running) waiting.push(running.then((ref) => void refs.set(w.e164, { ...ref, created: false })));
      else lookup.push(w);
    }
    if (lookup.length > 0) {
      const job = this.lookupOrCreateMany(lookup, ops);
      for (const { e164 } of lookup) {
        const one = job.then((found) => {
          const ref = found.get(e164);
          if (!ref) throw new CrmError(`hubspot: no contact resolved for ${e164}`, 'hubspot', true);
          return ref;
        });
        const settled = one.finally(() => {
          if (this.contactInFlight.get(e164) === settled) this.contactInFlight.delete(e164);
        });
        this.contactInFlight.set(e164, settled);
        waiting.push(settled.then((ref) => void refs.set(e164, ref)));
      }
    }
    await Promise.all(waiting);
    return refs;
  }

  private async lookupOrCreateMany(wanted: { e164: string; name: string | null }[], ops: Ops): Promise<Map<string, CrmContactRef>> {
    const refs = new Map<string, CrmContactRef>();
    const found = await this.searchContactsByPhone(wanted.map((w) => w.e164), ops);
    for (const [e164, id] of found) {
      this.contactCache.set(e164, id);
      refs.set(e164, { id, object: 'contacts', created: false });
    }
    const missing = wanted.filter((w) => !found.has(w.e164));
    for (let i = 0; i < missing.length; i += HUBSPOT_BATCH_LIMIT) {
      const chunk = missing.slice(i, i + HUBSPOT_BATCH_LIMIT);
      const res = batchObjects.parse(
        await this.call(ops, () =>
          this.client.crm.contacts.batchApi.create({
            inputs: chunk.map((w) => ({
              properties: { ...splitName(w.name), phone: w.e164, hs_whatsapp_phone_number: w.e164 },
              associations: [],
              // Echoed back per result: batch results are not guaranteed to come back in input order.
              objectWriteTraceId: w.e164,
            })),
          }),
        ),
      );
      for (const row of res.results) {
        const e164 = row.objectWriteTraceId ?? normalizePhone(row.properties.hs_whatsapp_phone_number ?? null, this.defaultCountry);
        if (!e164) continue;
        this.contactCache.set(e164, row.id);
        refs.set(e164, { id: row.id, object: 'contacts', created: true });
      }
      const lost = chunk.filter((w) => !refs.has(w.e164));
      if (lost.length > 0) {
        const first = res.errors?.[0];
        throw new CrmError(
          `hubspot: contact batch create returned no record for ${lost.length} of ${chunk.length} phones${first ? `: ${first.message ?? first.category}` : ''}`,
          'hubspot',
          true,
        );
      }
    }
    return refs;
  }

  /**
   * For each phone property, one filter group with an IN over the usual spellings of several
   * customers (OR across groups), split into several searches when HubSpot's limits require it.
   * HubSpot matches strings exactly, so every hit is confirmed with libphonenumber: "0612345678" on a
   * French contact is not our Moroccan one. Returns E.164 → the oldest matching contact id.
   */
  private async searchContactsByPhone(phones: string[], ops: Ops): Promise<Map<string, string>> {
    const wanted = new Set(phones);
    const packs: string[][] = [];
    let pack = new Set<string>();
    for (const e164 of wanted) {
      for (const v of phoneSearchVariants(e164)) {
        if (pack.has(v)) continue;
        if (pack.size >= this.limits.maxValuesPerFilter) {
          packs.push([...pack]);
          pack = new Set();
        }
        pack.add(v);
      }
    }
    if (pack.size > 0) packs.push([...pack]);
    const groups: HubSpotSearchFilterGroup[] = packs.flatMap((values) =>
      HUBSPOT_PHONE_PROPERTIES.map((propertyName) => ({ filters: [{ propertyName, operator: FilterOperatorEnum.In, values }] })),
    );
    const matches = new Map<string, Map<string, number>>();
    for (const filterGroups of planHubSpotSearches(groups, this.limits)) {
      let after: string | undefined;
      do {
        const page = searchPage.parse(
          await this.call(ops, () =>
            this.client.crm.contacts.searchApi.doSearch({
              filterGroups,
              properties: [...HUBSPOT_PHONE_PROPERTIES, 'createdate'],
              limit: SEARCH_PAGE_SIZE,
              ...(after !== undefined ? { after } : {}),
            }),
          ),
        );
        for (const row of page.results) {
          const createdAt = Date.parse(row.properties.createdate ?? '') || Number(row.id);
          for (const p of HUBSPOT_PHONE_PROPERTIES) {
            const e164 = normalizePhone(row.properties[p] ?? null, this.defaultCountry);
            if (e164 === null || !wanted.has(e164)) continue;
            const byId = matches.get(e164) ?? new Map<string, number>();
            byId.set(row.id, createdAt);
            matches.set(e164, byId);
          }
        }
        after = page.paging?.next?.after;
      } while (after !== undefined);
    }
    // Several contacts share the number (duplicates made by hand): use the oldest, deterministically.
    const oldest = new Map<string, string>();
    for (const [e164, byId] of matches) {
      const [first] = [...byId].sort(([a, ta], [b, tb]) => ta - tb || Number(a) - Number(b));
      if (first) oldest.set(e164, first[0]);
    }
    return oldest;
  }

  /** Forgets contacts (e.g. deleted or merged away in HubSpot) so the next attempt looks them up again. */
  private forgetContacts(contacts: { e164: string; contactId: string }[]): string[] {
    const forgotten: string[] = [];
    for (const { e164, contactId } of contacts) {
      if (this.contactCache.get(e164) !== contactId) continue;
      this.contactCache.delete(e164);
      this.openDealCache.delete(contactId);
      forgotten.push(contactId);
    }
    return forgotten;
  }

  // ── deals ────────────────────────────────────────────────────────────────────────────────

  /**
   * Each contact's most recently touched open deal (or null), cached for `openDealTtlMs`: one v4
   * batch association read for all uncached contacts, then one deals batch read to drop closed ones.
   */
  private async openDeals(contactIds: string[], ops: Ops): Promise<Map<string, string | null>> {
    const now = Date.now();
    const out = new Map<string, string | null>();
    const need: string[] = [];
    for (const id of new Set(contactIds)) {
      const hit = this.openDealCache.get(id);
      if (hit && hit.expiresAt > now) out.set(id, hit.dealId);
      else need.push(id);
    }
    if (need.length === 0) return out;
    const dealsOf = await this.associatedIds('contacts', 'deals', need, ops);
    const allDeals = [...new Set([...dealsOf.values()].flat())];
    const deals: z.infer<typeof simpleObject>[] = [];
    for (let i = 0; i < allDeals.length; i += HUBSPOT_BATCH_LIMIT) {
      const ids = allDeals.slice(i, i + HUBSPOT_BATCH_LIMIT);
      // A 207 lists deals deleted since: they are simply not open.
      const res = batchObjects.parse(
        await this.call(ops, () =>
          this.client.crm.deals.batchApi.read({
            inputs: ids.map((id) => ({ id })),
            properties: ['dealstage', 'hs_is_closed', 'hs_lastmodifieddate'],
            propertiesWithHistory: [],
          }),
        ),
      );
      deals.push(...res.results);
    }
    const open = new Map(
      deals
        .filter((d) => d.properties.hs_is_closed !== 'true' && !CLOSED_STAGES.has(d.properties.dealstage ?? ''))
        .map((d) => [d.id, Date.parse(d.properties.hs_lastmodifieddate ?? '') || 0] as const),
    );
    const expiresAt = Date.now() + this.openDealTtlMs;
    for (const contactId of need) {
      const candidates = (dealsOf.get(contactId) ?? []).filter((id) => open.has(id));
      candidates.sort((a, b) => open.get(b)! - open.get(a)! || Number(b) - Number(a));
      const dealId = candidates[0] ?? null;
      this.openDealCache.set(contactId, { dealId, expiresAt });
      out.set(contactId, dealId);
    }
    return out;
  }

  /** v4 batch read of associations, following each input's paging. Records without any are absent. */
  private async associatedIds(fromType: string, toType: string, fromIds: string[], ops: Ops): Promise<Map<string, string[]>> {
    const out = new Map<string, string[]>();
    let pending: { id: string; after?: string }[] = fromIds.map((id) => ({ id }));
    while (pending.length > 0) {
      const next: { id: string; after?: string }[] = [];
      for (let i = 0; i < pending.length; i += HUBSPOT_ASSOCIATION_READ_LIMIT) {
        const inputs = pending.slice(i, i + HUBSPOT_ASSOCIATION_READ_LIMIT);
        const res = associationBatchRead.parse(
          await this.call(ops, () => this.client.crm.associations.v4.batchApi.getPage(fromType, toType, { inputs })),
        );
        // HubSpot reports "no associations" per input as an OBJECT_NOT_FOUND error in a 207.
        const failed = (res.errors ?? []).filter((e) => e.category !== 'OBJECT_NOT_FOUND');
        if (failed.length > 0) {
          throw new CrmError(`hubspot: reading ${fromType}→${toType} associations failed: ${failed[0]?.message ?? failed[0]?.category}`, 'hubspot', true);
        }
        for (const r of res.results) {
          const list = out.get(r._from.id) ?? [];
          for (const t of r.to) if (!list.includes(t.toObjectId)) list.push(t.toObjectId);
          out.set(r._from.id, list);
          const after = r.paging?.next?.after;
          if (after !== undefined) next.push({ id: r._from.id, after });
        }
      }
      pending = next;
    }
    return out;
  }

  // ── archive ──────────────────────────────────────────────────────────────────────────────

  /**
   * Writes one Communication (channel WHATS_APP) per message, in batch upserts of up to 100 keyed by
   * the unique `coex_message_id` whatever the customers, then associates each chunk to its contacts
   * (81) and their open deals (85) with one v4 batch create each. Re-running a batch updates the same
   * records: nothing is duplicated. Messages without a usable customer phone cannot be placed on a
   * contact and are left out of `written`.
   */
  async archive(messages: ArchivedMessage[]): Promise<ArchiveResult> {
    const ops: Ops = { calls: 0 };
    const written: Record<string, string> = {};
    const groups = this.groupByCustomer(messages);
    if (groups.size === 0) return { written, apiCalls: ops.calls };
    const contacts = await this.resolveContacts(
      [...groups].map(([e164, group]) => ({ e164, name: group.find((m) => m.customerName)?.customerName ?? null })),
      ops,
    );
    // A contact created just now has no deals yet: skip the lookup (and do not cache the absence,
    // so a deal added by a HubSpot workflow is found on the next batch).
    const known = [...contacts.values()].filter((c) => !c.created).map((c) => c.id);
    const deals = await this.openDeals(known, ops);

    const items = [...groups].flatMap(([e164, group]) => {
      const contactId = contacts.get(e164)!.id;
      return group.map((m) => ({ m, e164, contactId, dealId: deals.get(contactId) ?? null }));
    });
    for (let i = 0; i < items.length; i += HUBSPOT_BATCH_LIMIT) {
      const chunk = items.slice(i, i + HUBSPOT_BATCH_LIMIT);
      const ids = await this.upsertByCoexId(
        'communications',
        chunk.map(({ m }) => ({
          key: m.id,
          properties: {
            hs_communication_channel_type: 'WHATS_APP',
            hs_communication_logged_from: 'CRM',
            hs_communication_body: communicationBody(m),
            hs_timestamp: new Date(Date.parse(m.timestamp)).toISOString(),
          },
        })),
        ops,
      );
      const placed = chunk.flatMap((it) => {
        const commId = ids.get(it.m.id);
        return commId === undefined ? [] : [{ ...it, commId }];
      });
      await this.associateToContacts(
        'communications',
        placed.map((p) => ({ fromId: p.commId, e164: p.e164, contactId: p.contactId })),
        HUBSPOT_ASSOCIATION_TYPES.communicationToContact,
        ops,
      );
      const toDeals = placed.filter((p) => p.dealId !== null);
      if (toDeals.length > 0) await this.associateToDeals(toDeals.map((p) => ({ fromId: p.commId, contactId: p.contactId, dealId: p.dealId! })), ops);
      for (const p of placed) written[p.m.id] = p.commId;
    }
    return { written, apiCalls: ops.calls };
  }

  /** Messages by customer E.164, de-duplicated by id, oldest first. */
  private groupByCustomer(messages: ArchivedMessage[]): Map<string, ArchivedMessage[]> {
    const groups = new Map<string, ArchivedMessage[]>();
    const seen = new Set<string>();
    for (const m of messages) {
      if (seen.has(m.id)) continue;
      seen.add(m.id);
      const e164 = normalizePhone(m.customerPhone, this.defaultCountry);
      if (e164 === null || Number.isNaN(Date.parse(m.timestamp))) continue;
      const list = groups.get(e164) ?? [];
      list.push(m);
      groups.set(e164, list);
    }
    for (const list of groups.values()) list.sort((a, b) => Date.parse(a.timestamp) - Date.parse(b.timestamp));
    return groups;
  }

  private async upsertByCoexId(
    objectType: 'communications' | 'notes',
    inputs: { key: string; properties: Record<string, string> }[],
    ops: Ops,
  ): Promise<Map<string, string>> {
    const body = {
      inputs: inputs.map((input) => ({
        id: input.key,
        idProperty: HUBSPOT_COEX_ID_PROPERTY,
        // Echoed back per result: batch results are not guaranteed to come back in input order.
        objectWriteTraceId: input.key,
        properties: { ...input.properties, [HUBSPOT_COEX_ID_PROPERTY]: input.key },
      })),
    };
    const api = objectType === 'communications' ? this.client.crm.objects.communications.batchApi : this.client.crm.objects.notes.batchApi;
    const res = upsertResults.parse(await this.call(ops, () => api.upsert(body)));
    const ids = new Map<string, string>();
    for (const r of res.results) {
      const key = r.objectWriteTraceId ?? r.properties[HUBSPOT_COEX_ID_PROPERTY];
      if (key) ids.set(key, r.id);
    }
    if (res.errors && res.errors.length > 0) {
      const first = res.errors[0];
      throw new CrmError(
        `hubspot: ${objectType} upsert failed for ${res.errors.length} of ${inputs.length} records: ${first?.message ?? first?.category ?? 'unknown error'}`,
        'hubspot',
        false,
      );
    }
    return ids;
  }

  /**
   * A cached contact may have been deleted or merged away in HubSpot since: then the association
   * fails. Forget the chunk's contacts and make the error retryable, so the next attempt looks the
   * phones up again (one search for all of them).
   */
  private async associateToContacts(
    fromType: 'communications' | 'notes',
    links: { fromId: string; e164: string; contactId: string }[],
    typeId: number,
    ops: Ops,
  ): Promise<void> {
    try {
      await this.associate(fromType, 'contacts', links.map((l) => ({ from: l.fromId, to: l.contactId })), typeId, ops);
    } catch (err) {
      if (err instanceof CrmError && isRejectedAssociation(err)) {
        const forgotten = this.forgetContacts(links);
        if (forgotten.length > 0) {
          throw new CrmError(`${err.message} (contacts ${forgotten.join(', ')} forgotten; will look them up again)`, 'hubspot', true, err.status);
        }
      }
      throw err;
    }
  }

  /** The open deal is cached: if it was deleted meanwhile, forget it and let the outbox retry. */
  private async associateToDeals(links: { fromId: string; contactId: string; dealId: string }[], ops: Ops): Promise<void> {
    try {
      await this.associate('communications', 'deals', links.map((l) => ({ from: l.fromId, to: l.dealId })), HUBSPOT_ASSOCIATION_TYPES.communicationToDeal, ops);
    } catch (err) {
      if (err instanceof CrmError && isRejectedAssociation(err)) {
        for (const l of links) this.openDealCache.delete(l.contactId);
        throw new CrmError(`${err.message} (open deals forgotten; will look them up again)`, 'hubspot', true, err.status);
      }
      throw err;
    }
  }

  /** Associating twice is a no-op in HubSpot, so a retried batch simply re-asserts the links. */
  private async associate(
    fromType: 'communications' | 'notes',
    toType: 'contacts' | 'deals',
    pairs: { from: string; to: string }[],
    typeId: number,
    ops: Ops,
  ): Promise<void> {
    for (let i = 0; i < pairs.length; i += HUBSPOT_BATCH_LIMIT) {
      const chunk = pairs.slice(i, i + HUBSPOT_BATCH_LIMIT);
      const res = batchErrors.parse(
        await this.call(ops, () =>
          this.client.crm.associations.v4.batchApi.create(fromType, toType, {
            inputs: chunk.map((p) => ({
              _from: { id: p.from },
              to: { id: p.to },
              types: [{ associationCategory: AssociationSpecAssociationCategoryEnum.HubspotDefined, associationTypeId: typeId }],
            })),
          }),
        ),
      );
      if (res.errors && res.errors.length > 0) {
        const first = res.errors[0];
        throw new CrmError(
          `hubspot: ${res.errors.length} of ${chunk.length} ${fromType}→${toType} associations failed: ${first?.message ?? first?.category ?? 'unknown error'}`,
          'hubspot',
          false,
          207,
        );
      }
    }
  }

  // ── notes ────────────────────────────────────────────────────────────────────────────────

  async attachTranscript(note: TranscriptNote): Promise<void> {
    await this.writeNote(note.customerPhone, note.customerName, `transcript:${note.messageId}`, transcriptNoteBody(note), note.at, 'transcript');
  }

  async showBotState(change: BotStateChange): Promise<void> {
    await this.writeNote(
      change.customerPhone,
      change.customerName,
      `bot:${change.threadId}:${change.to}:${change.at}`,
      botStateNoteBody(change),
      change.at,
      'bot state',
    );
  }

  private async writeNote(phone: string | null, name: string | null, key: string, html: string, at: string, what: string): Promise<void> {
    const e164 = normalizePhone(phone, this.defaultCountry);
    if (e164 === null) throw new CrmError(`hubspot: cannot attach ${what} without a valid customer phone number`, 'hubspot', false);
    const ops: Ops = { calls: 0 };
    const contact = await this.resolveContact(e164, name, ops);
    const t = Date.parse(at);
    const ids = await this.upsertByCoexId(
      'notes',
      [{ key, properties: { hs_note_body: html, hs_timestamp: new Date(Number.isNaN(t) ? Date.now() : t).toISOString() } }],
      ops,
    );
    const noteId = ids.get(key);
    if (!noteId) throw new CrmError(`hubspot: note upsert returned no id for ${key}`, 'hubspot', true);
    await this.associateToContacts('notes', [{ fromId: noteId, e164, contactId: contact.id }], HUBSPOT_ASSOCIATION_TYPES.noteToContact, ops);
  }

  // ── marketing consent ────────────────────────────────────────────────────────────────────

  /**
   * Sets the contact's `coex_whatsapp_marketing_opt_out` checkbox (true on opt-out, false on opt-in)
   * with when and how, then leaves a note (association 202). The note is keyed `consent:<eventId>`
   * on the unique `coex_message_id`, and is written last: when it already exists, an earlier attempt
   * finished, so a retry only re-asserts the note's association and changes nothing on the contact
   * (a late replay cannot undo a newer change). The contact is found by phone or created, as archive() does.
   */
  async recordMarketingConsent(change: MarketingConsentChange): Promise<void> {
    const e164 = normalizePhone(change.customerPhone, this.defaultCountry);
    if (e164 === null) throw new CrmError('hubspot: cannot record a marketing consent change without a valid customer phone number', 'hubspot', false);
    const ops: Ops = { calls: 0 };
    const key = `consent:${change.eventId}`;
    const existingNote = await this.findNoteByCoexId(key, ops);
    const contact = await this.resolveContact(e164, change.customerName, ops);
    if (existingNote !== null) {
      await this.associateToContacts('notes', [{ fromId: existingNote, e164, contactId: contact.id }], HUBSPOT_ASSOCIATION_TYPES.noteToContact, ops);
      return;
    }
    this.consentProperties ??= this.ensureConsentProperties().then(
      () => undefined,
      (err: unknown) => {
        this.consentProperties = null;
        throw err;
      },
    );
    await this.consentProperties;
    const t = Date.parse(change.at);
    const at = new Date(Number.isNaN(t) ? Date.now() : t).toISOString();
    try {
      await this.call(ops, () =>
        this.client.crm.contacts.basicApi.update(contact.id, {
          properties: {
            [HUBSPOT_CONSENT_PROPERTIES.optOut]: change.action === 'opt_out' ? 'true' : 'false',
            [HUBSPOT_CONSENT_PROPERTIES.changedAt]: at,
            [HUBSPOT_CONSENT_PROPERTIES.detail]: consentSummary(change).slice(0, 1000),
          },
        }),
      );
    } catch (err) {
      // The cached contact was deleted or merged away: look the phone up again on the retry.
      if (err instanceof CrmError && err.status === 404 && this.forgetContacts([{ e164, contactId: contact.id }]).length > 0) {
        throw new CrmError(`${err.message} (contact ${contact.id} forgotten; will look it up again)`, 'hubspot', true, err.status);
      }
      throw err;
    }
    await this.writeNote(e164, change.customerName, key, consentNoteBody(change), change.at, 'marketing consent');
  }

  /** The note carrying `key` in `coex_message_id`, read by unique property (no search lag), or null. */
  private async findNoteByCoexId(key: string, ops: Ops): Promise<string | null> {
    try {
      const note = singleObject.parse(
        await this.call(ops, () => this.client.crm.objects.notes.basicApi.getById(key, [HUBSPOT_COEX_ID_PROPERTY], undefined, undefined, false, HUBSPOT_COEX_ID_PROPERTY)),
      );
      return note.id;
    } catch (err) {
      if (err instanceof CrmError && err.status === 404) return null;
      throw err;
    }
  }

  // ── extension requests ───────────────────────────────────────────────────────────────────

  async verifyExtensionRequest(req: ExtensionRequest): Promise<VerifyResult> {
    const result = verifyHubSpotRequest(req, this.options.clientSecret);
    if (result.ok && result.account !== this.options.portalId) {
      return { ok: false, status: 403, reason: 'request signed for another HubSpot portal' };
    }
    if (result.ok && this.options.appId) {
      const appId = new URL(req.url).searchParams.get('appId');
      if (appId !== null && appId !== this.options.appId) return { ok: false, status: 403, reason: 'request from another HubSpot app' };
    }
    return result;
  }

  // ── plumbing ─────────────────────────────────────────────────────────────────────────────

  private async findProperty(objectType: string, ops: Ops, name: string = HUBSPOT_COEX_ID_PROPERTY): Promise<z.infer<typeof propertyInfo> | null> {
    try {
      return propertyInfo.parse(await this.call(ops, () => this.client.crm.properties.coreApi.getByName(objectType, name)));
    } catch (err) {
      if (err instanceof CrmError && err.status === 404) return null;
      throw err;
    }
  }

  private async ignoreConflict(fn: () => Promise<unknown>): Promise<void> {
    try {
      await fn();
    } catch (err) {
      if (!(err instanceof CrmError && err.status === 409)) throw err;
    }
  }

  /** One SDK call = one HTTP request (retries are off); counts it and maps its failure to CrmError. */
  private async call<T>(ops: Ops, fn: () => Promise<T>): Promise<T> {
    ops.calls++;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new CrmError(`hubspot: request timed out after ${this.timeoutMs} ms`, 'hubspot', true)), this.timeoutMs);
    });
    try {
      return await Promise.race([fn(), timeout]);
    } catch (err) {
      throw toHubSpotCrmError(err);
    } finally {
      clearTimeout(timer);
    }
  }
}

/** HubSpot refused some links: a 400/404, or a 207 listing per-input errors. */
function isRejectedAssociation(err: CrmError): boolean {
  return err.status === 400 || err.status === 404 || err.status === 207;
}

function hasSetHeader(ctx: unknown): ctx is { setHeaderParam(key: string, value: string): void } {
  return typeof ctx === 'object' && ctx !== null && typeof (ctx as { setHeaderParam?: unknown }).setHeaderParam === 'function';
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT']);

/** Maps what the SDK throws to CrmError: retryable for 408/429/5xx and network failures. */
export function toHubSpotCrmError(err: unknown): CrmError {
  if (err instanceof CrmError) return err;
  const http = sdkHttpError.safeParse(err);
  if (http.success && http.data.code >= 100) {
    const status = http.data.code;
    const retryable = status === 408 || status === 429 || status >= 500;
    const headers = http.data.headers ?? {};
    let retryAfter = retryable ? parseRetryAfter(headers['retry-after']) : undefined;
    // HubSpot's 429s do not always carry Retry-After; an exhausted secondly window clears within a second.
    if (status === 429 && retryAfter === undefined && headers['x-hubspot-ratelimit-secondly-remaining'] === '0') retryAfter = 1;
    const body = z.looseObject({ message: z.string().optional(), category: z.string().optional() }).safeParse(http.data.body);
    const detail = body.success ? (body.data.message ?? body.data.category ?? '') : '';
    return new CrmError(`hubspot: HTTP ${status}${detail ? `: ${detail.slice(0, 300)}` : ''}`, 'hubspot', retryable, status, retryAfter);
  }
  const cause = (err as { cause?: { code?: unknown } } | null)?.cause;
  const code = typeof cause?.code === 'string' ? cause.code : undefined;
  const message = err instanceof Error ? err.message : String(err);
  if ((err instanceof TypeError && message === 'fetch failed') || (code !== undefined && NETWORK_CODES.has(code))) {
    return new CrmError(`hubspot: network error: ${code ?? message}`, 'hubspot', true);
  }
  return new CrmError(`hubspot: ${message}`, 'hubspot', false);
}
