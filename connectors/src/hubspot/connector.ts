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
  type TranscriptNote,
  type VerifyResult,
} from '../types.js';
import { botStateNoteBody, communicationBody, splitName, transcriptNoteBody } from './format.js';
import { verifyHubSpotRequest } from './signature.js';

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
}

export interface HubSpotSearchLimits {
  maxFilterGroups: number;
  maxFiltersPerGroup: number;
  maxFiltersTotal: number;
}

/** HubSpot's CRM search limits: 5 OR-ed filterGroups, 6 AND-ed filters in a group, 18 filters in all. */
export const HUBSPOT_SEARCH_LIMITS: HubSpotSearchLimits = { maxFilterGroups: 5, maxFiltersPerGroup: 6, maxFiltersTotal: 18 };
/** HubSpot batch endpoints take at most 100 inputs. */
export const HUBSPOT_BATCH_LIMIT = 100;
/** The custom unique property holding CoEx's id on communications and notes (see docs/decisions/hubspot-idempotency.md). */
export const HUBSPOT_COEX_ID_PROPERTY = 'coex_message_id';
export const HUBSPOT_PHONE_PROPERTIES = ['phone', 'mobilephone', 'hs_whatsapp_phone_number'] as const;

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
const associationsPage = z.looseObject({
  results: z.array(z.looseObject({ toObjectId: z.coerce.string() })),
});
const batchObjects = z.looseObject({
  results: z.array(simpleObject),
  errors: z.array(z.looseObject({ message: z.string().optional(), category: z.string().optional() })).optional(),
});
const upsertResults = z.looseObject({
  results: z.array(simpleObject.extend({ objectWriteTraceId: z.string().optional().nullable(), new: z.boolean().optional() })),
  errors: z.array(z.looseObject({ message: z.string().optional(), category: z.string().optional() })).optional(),
});
const propertyInfo = z.looseObject({ name: z.string(), hasUniqueValue: z.boolean().optional() });

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
  /** Total HTTP calls this instance made (diagnostics; results report their own counts). */
  requestCount = 0;

  constructor(private readonly options: HubSpotConnectorOptions) {
    if (!options.accessToken && !options.tokenProvider) throw new Error('HubSpotConnector: accessToken or tokenProvider is required');
    if (!/^\d+$/.test(options.portalId)) throw new Error('HubSpotConnector: portalId must be the numeric hub id');
    if (!options.clientSecret) throw new Error('HubSpotConnector: clientSecret is required');
    this.limits = { ...HUBSPOT_SEARCH_LIMITS, ...options.searchLimits };
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.defaultCountry = options.defaultCountry ?? 'MA';
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

  // ── install ──────────────────────────────────────────────────────────────────────────────

  /**
   * Install step: creates the `coex_message_id` unique-value property on communications and notes
   * (and a "CoEx" property group for it). Safe to run again. Needs property-write scopes for these
   * objects (to confirm when registering the app: HubSpot documents them per object).
   */
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
      created.push(`${objectType}.${HUBSPOT_COEX_ID_PROPERTY}`);
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
    const cached = this.contactCache.get(e164);
    if (cached) return { id: cached, object: 'contacts', created: false };
    // Two archives for the same new customer at once must not create two contacts.
    const running = this.contactInFlight.get(e164);
    if (running) return { ...(await running), created: false };
    const job = this.lookupOrCreate(e164, name, ops).finally(() => this.contactInFlight.delete(e164));
    this.contactInFlight.set(e164, job);
    return job;
  }

  private async lookupOrCreate(e164: string, name: string | null, ops: Ops): Promise<CrmContactRef> {
    const found = await this.searchContactByPhone(e164, ops);
    if (found) {
      this.contactCache.set(e164, found);
      return { id: found, object: 'contacts', created: false };
    }
    const created = simpleObject.parse(
      await this.call(ops, () =>
        this.client.crm.contacts.basicApi.create({
          properties: { ...splitName(name), phone: e164, hs_whatsapp_phone_number: e164 },
          associations: [],
        }),
      ),
    );
    this.contactCache.set(e164, created.id);
    return { id: created.id, object: 'contacts', created: true };
  }

  /**
   * One filter group per phone property with an IN over the usual spellings (OR across groups),
   * split into several searches if the limits require it. HubSpot matches strings exactly, so the
   * hits are confirmed with libphonenumber: "0612345678" on a French contact is not our Moroccan one.
   */
  private async searchContactByPhone(e164: string, ops: Ops): Promise<string | null> {
    const variants = phoneSearchVariants(e164);
    const groups: HubSpotSearchFilterGroup[] = HUBSPOT_PHONE_PROPERTIES.map((propertyName) => ({
      filters: [{ propertyName, operator: FilterOperatorEnum.In, values: variants }],
    }));
    const matches: { id: string; createdAt: number }[] = [];
    for (const filterGroups of planHubSpotSearches(groups, this.limits)) {
      const page = searchPage.parse(
        await this.call(ops, () =>
          this.client.crm.contacts.searchApi.doSearch({
            filterGroups,
            properties: [...HUBSPOT_PHONE_PROPERTIES, 'createdate'],
            limit: 100,
          }),
        ),
      );
      for (const row of page.results) {
        const hit = HUBSPOT_PHONE_PROPERTIES.some((p) => normalizePhone(row.properties[p] ?? null, this.defaultCountry) === e164);
        if (hit) matches.push({ id: row.id, createdAt: Date.parse(row.properties.createdate ?? '') || Number(row.id) });
      }
    }
    // Several contacts share the number (duplicates made by hand): use the oldest, deterministically.
    matches.sort((a, b) => a.createdAt - b.createdAt || Number(a.id) - Number(b.id));
    return matches[0]?.id ?? null;
  }

  /** The most recently touched open deal of the contact, or null. */
  private async findOpenDeal(contactId: string, ops: Ops): Promise<string | null> {
    const page = associationsPage.parse(
      await this.call(ops, () => this.client.crm.associations.v4.basicApi.getPage('contacts', contactId, 'deals', undefined, 100)),
    );
    const ids = [...new Set(page.results.map((r) => r.toObjectId))].slice(0, HUBSPOT_BATCH_LIMIT);
    if (ids.length === 0) return null;
    const deals = batchObjects.parse(
      await this.call(ops, () =>
        this.client.crm.deals.batchApi.read({
          inputs: ids.map((id) => ({ id })),
          properties: ['dealstage', 'hs_is_closed', 'hs_lastmodifieddate'],
          propertiesWithHistory: [],
        }),
      ),
    );
    const open = deals.results.filter(
      (d) => d.properties.hs_is_closed !== 'true' && !CLOSED_STAGES.has(d.properties.dealstage ?? ''),
    );
    open.sort((a, b) => (Date.parse(b.properties.hs_lastmodifieddate ?? '') || 0) - (Date.parse(a.properties.hs_lastmodifieddate ?? '') || 0));
    return open[0]?.id ?? null;
  }

  // ── archive ──────────────────────────────────────────────────────────────────────────────

  /**
   * Writes one Communication (channel WHATS_APP) per message, in batch upserts keyed by the unique
   * `coex_message_id`, then associates them to the contact (81) and its open deal (85). Re-running a
   * batch updates the same records: nothing is duplicated. Messages without a usable customer phone
   * cannot be placed on a contact and are left out of `written`.
   */
  async archive(messages: ArchivedMessage[]): Promise<ArchiveResult> {
    const ops: Ops = { calls: 0 };
    const written: Record<string, string> = {};
    for (const [e164, group] of this.groupByCustomer(messages)) {
      const name = group.find((m) => m.customerName)?.customerName ?? null;
      const contact = await this.resolveContact(e164, name, ops);
      const dealId = await this.findOpenDeal(contact.id, ops);
      for (let i = 0; i < group.length; i += HUBSPOT_BATCH_LIMIT) {
        const chunk = group.slice(i, i + HUBSPOT_BATCH_LIMIT);
        const ids = await this.upsertByCoexId(
          'communications',
          chunk.map((m) => ({
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
        const objectIds = chunk.map((m) => ids.get(m.id)).filter((id): id is string => id !== undefined);
        await this.associateToContact('communications', objectIds, e164, contact.id, HUBSPOT_ASSOCIATION_TYPES.communicationToContact, ops);
        if (dealId) await this.associate('communications', objectIds, 'deals', dealId, HUBSPOT_ASSOCIATION_TYPES.communicationToDeal, ops);
        for (const m of chunk) {
          const id = ids.get(m.id);
          if (id) written[m.id] = id;
        }
      }
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
   * fails. Forget it and make the error retryable, so the next attempt looks the phone up again.
   */
  private async associateToContact(
    fromType: 'communications' | 'notes',
    fromIds: string[],
    e164: string,
    contactId: string,
    typeId: number,
    ops: Ops,
  ): Promise<void> {
    try {
      await this.associate(fromType, fromIds, 'contacts', contactId, typeId, ops);
    } catch (err) {
      if (err instanceof CrmError && (err.status === 400 || err.status === 404) && this.contactCache.get(e164) === contactId) {
        this.contactCache.delete(e164);
        throw new CrmError(`${err.message} (contact ${contactId} forgotten; will look it up again)`, 'hubspot', true, err.status);
      }
      throw err;
    }
  }

  /** Associating twice is a no-op in HubSpot, so a retried batch simply re-asserts the links. */
  private async associate(
    fromType: 'communications' | 'notes',
    fromIds: string[],
    toType: 'contacts' | 'deals',
    toId: string,
    typeId: number,
    ops: Ops,
  ): Promise<void> {
    if (fromIds.length === 0) return;
    await this.call(ops, () =>
      this.client.crm.associations.v4.batchApi.create(fromType, toType, {
        inputs: fromIds.map((id) => ({
          _from: { id },
          to: { id: toId },
          types: [{ associationCategory: AssociationSpecAssociationCategoryEnum.HubspotDefined, associationTypeId: typeId }],
        })),
      }),
    );
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
    await this.associateToContact('notes', [noteId], e164, contact.id, HUBSPOT_ASSOCIATION_TYPES.noteToContact, ops);
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

  private async findProperty(objectType: string, ops: Ops): Promise<z.infer<typeof propertyInfo> | null> {
    try {
      return propertyInfo.parse(await this.call(ops, () => this.client.crm.properties.coreApi.getByName(objectType, HUBSPOT_COEX_ID_PROPERTY)));
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
