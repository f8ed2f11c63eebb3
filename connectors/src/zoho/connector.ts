import { z } from 'zod';
import type { CountryCode } from 'libphonenumber-js';
import { requestJson, type FetchLike, type JsonResponse } from '../http.js';
import { normalizePhone, phoneSearchVariants, samePhone } from '../phone.js';
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
import { botStateMarker, botStateNote, consentMarker, consentNote, findMarkers, messageMarker, timelineNote, transcriptMarker, transcriptNote, type NoteDraft } from './format.js';
import { checkZohoOrigin, ZohoOAuth } from './oauth.js';
import { storedSecretHash, verifyInstallSecret } from '../extension-secret.js';
import { configuredCountry, parseConnectorConfig } from '../connector-config.js';

/** Header the CoEx Zoho widget sends with every call to our server. */
export const ZOHO_EXTENSION_HEADER = 'X-Coex-Zoho-Token';
/** Notes per POST /Notes (Zoho's limit). */
export const ZOHO_NOTES_PER_CALL = 100;
/** Messages per note. */
export const ZOHO_MESSAGES_PER_NOTE = 50;
/** Zoho allows at most 10 conditions in one search criteria. */
const MAX_CRITERIA = 10;
/** Pages of related notes read for the idempotency check (200 each, Zoho's page/per_page ceiling is 2000 records). */
const MAX_NOTE_PAGES = 10;
/** A note about a message is written after the message was sent; the margin absorbs clock skew. */
const NOTES_SINCE_MARGIN_MS = 2 * 24 * 3600 * 1000;
/** Zoho's search index lags record creation: remember what we created for a while. */
const RECENTLY_CREATED_TTL_MS = 15 * 60 * 1000;
/** Refresh a little before Zoho's 1-hour expiry. */
const TOKEN_SKEW_MS = 60_000;
const API_VERSION = 'v8';
/** Default tag marking a record opted out of WhatsApp marketing (Zoho creates a tag on first use). */
export const ZOHO_OPT_OUT_TAG = 'WhatsApp opt-out';

const configSchema = z.object({
  /** From the token response's api_domain, e.g. https://www.zohoapis.eu */
  apiDomain: z.string().min(1),
  /** From the OAuth callback's accounts-server, e.g. https://accounts.zoho.eu */
  accountsServer: z.string().min(1),
  clientId: z.string().min(1),
  clientSecret: z.string().min(1),
  refreshToken: z.string().min(1),
  module: z.enum(['Contacts', 'Leads']),
  orgId: z.string().min(1),
  /** The widget's install token: plain, or better its `sha256:<hex>` hash (see hashExtensionSecret). */
  installToken: z.string().min(1).optional(),
  /** Replace Zoho's known hosts (tests pointing at a fake). */
  allowedAccountsServers: z.array(z.string()).optional(),
  allowedApiDomains: z.array(z.string()).optional(),
  /** Country used to read national numbers typed in Zoho. Default MA. */
  defaultCountry: z.string().length(2).optional(),
  timeoutMs: z.number().int().positive().optional(),
  /** Tag for "no WhatsApp marketing" (≤ 50 characters, no commas). Default "WhatsApp opt-out". */
  optOutTag: z.string().min(1).max(50).regex(/^[^,]+$/).optional(),
  /** A still-valid access token from storage, to skip the first refresh. */
  accessToken: z.string().min(1).optional(),
  accessTokenExpiresAt: z.number().optional(),
});

export type ZohoConnectorConfig = z.input<typeof configSchema>;

export interface ZohoConnectorOptions {
  fetch?: FetchLike;
  now?: () => number;
  /** Persist refreshed access tokens (optional; they live 1 hour). */
  onAccessToken?: (token: { accessToken: string; expiresAt: number }) => void;
}

const zohoText = z.string().nullable().optional();
const recordRows = z.looseObject({
  data: z.array(z.looseObject({ id: z.string().min(1), Phone: zohoText, Mobile: zohoText })),
  info: z.looseObject({ more_records: z.boolean().optional() }).optional(),
});
const actionResult = z.looseObject({
  code: z.string(),
  status: z.string(),
  message: z.string().optional(),
  details: z.looseObject({ id: z.string().optional() }).optional(),
});
const actionResponse = z.looseObject({ data: z.array(actionResult) });
const noteRows = z.looseObject({
  data: z.array(z.looseObject({ id: z.string().min(1), Note_Title: zohoText, Note_Content: zohoText })),
  info: z.looseObject({ more_records: z.boolean().optional() }).optional(),
});

interface PendingNote {
  parentId: string;
  draft: NoteDraft;
  messageIds: string[];
}

/**
 * CoEx → Zoho CRM over the v8 REST API with plain fetch (not the SDK: its process-global user
 * context mixes tenants, see docs/decisions/zoho-sdk-vs-rest.md). Customers are Contacts or Leads
 * matched by phone; WhatsApp timelines, transcripts and bot-state changes are Notes on them.
 */
export class ZohoConnector implements CrmConnector {
  readonly name = 'zoho' as const;
  private readonly config: z.output<typeof configSchema>;
  private readonly oauth: ZohoOAuth;
  private apiDomain: string;
  private readonly accountsServer: string;
  private readonly installTokenHash: string | null;
  private readonly defaultCountry: CountryCode;
  private readonly now: () => number;
  private token: { value: string; expiresAt: number } | null;
  private refreshing: Promise<string> | null = null;
  private calls = 0;
  private readonly contactsInFlight = new Map<string, Promise<CrmContactRef>>();
  private readonly recentlyCreated = new Map<string, { id: string; at: number }>();

  constructor(
    config: ZohoConnectorConfig,
    private readonly options: ZohoConnectorOptions = {},
  ) {
    this.config = parseConnectorConfig(configSchema, config, 'ZohoConnector');
    this.now = options.now ?? Date.now;
    this.oauth = new ZohoOAuth({
      clientId: this.config.clientId,
      clientSecret: this.config.clientSecret,
      ...(this.config.allowedAccountsServers ? { allowedAccountsServers: this.config.allowedAccountsServers } : {}),
      ...(this.config.allowedApiDomains ? { allowedApiDomains: this.config.allowedApiDomains } : {}),
      ...(this.config.timeoutMs !== undefined ? { timeoutMs: this.config.timeoutMs } : {}),
      ...(options.fetch ? { fetch: options.fetch } : {}),
      now: this.now,
      onRequest: () => {
        this.calls += 1;
      },
    });
    // Stored values are re-checked: a tampered row must not redirect our secret or tokens.
    this.accountsServer = checkZohoOrigin(this.config.accountsServer, this.oauth.allowedAccountsServers, 'accounts server');
    this.apiDomain = checkZohoOrigin(this.config.apiDomain, this.oauth.allowedApiDomains, 'API domain');
    this.defaultCountry = configuredCountry(this.config.defaultCountry);
    this.installTokenHash = storedSecretHash(this.config.installToken);
    this.token =
      this.config.accessToken !== undefined && this.config.accessTokenExpiresAt !== undefined
        ? { value: this.config.accessToken, expiresAt: this.config.accessTokenExpiresAt }
        : null;
  }

  get module(): 'Contacts' | 'Leads' {
    return this.config.module;
  }

  /**
   * A token refresh at the accounts server: proves the client id, client secret and refresh token.
   * Credentials that arrive with a fresh access token (an OAuth install that just exchanged its
   * code) were proven by that exchange: no call then.
   */
  async verifyCredentials(): Promise<void> {
    await this.accessToken();
  }

  async findOrCreateContact(phoneE164: string, name: string | null): Promise<CrmContactRef> {
    const e164 = normalizePhone(phoneE164, this.defaultCountry);
    if (e164 === null) throw new CrmError(`zoho: not a valid phone number: "${phoneE164}"`, 'zoho', false);
    const pending = this.contactsInFlight.get(e164);
    if (pending) return pending;
    // A record created minutes ago may not be searchable yet: searching again would duplicate it.
    const recent = this.recentlyCreated.get(e164);
    if (recent && this.now() - recent.at < RECENTLY_CREATED_TTL_MS) return { id: recent.id, object: this.config.module, created: false };
    const work = this.lookupOrCreate(e164, name)
      .then((ref) => {
        if (ref.created) this.recentlyCreated.set(e164, { id: ref.id, at: this.now() });
        return ref;
      })
      .finally(() => this.contactsInFlight.delete(e164));
    this.contactsInFlight.set(e164, work);
    return work;
  }

  async archive(messages: ArchivedMessage[]): Promise<ArchiveResult> {
    const before = this.calls;
    const written: Record<string, string> = {};
    const pending: PendingNote[] = [];
    for (const [phone, group] of this.groupByCustomer(messages)) {
      const name = group.find((m) => m.customerName)?.customerName ?? null;
      const record = await this.findOrCreateContact(phone, name);
      const ordered = [...group].sort((a, b) => a.timestamp.localeCompare(b.timestamp));
      const existing = await this.existingMarkers(record.id, earliest(ordered.map((m) => m.timestamp)));
      const missing: ArchivedMessage[] = [];
      for (const m of ordered) {
        const noteId = existing.get(messageMarker(m.id));
        if (noteId === undefined) missing.push(m);
        else written[m.id] = noteId;
      }
      for (let i = 0; i < missing.length; i += ZOHO_MESSAGES_PER_NOTE) {
        const chunk = missing.slice(i, i + ZOHO_MESSAGES_PER_NOTE);
        pending.push({ parentId: record.id, draft: timelineNote(chunk), messageIds: chunk.map((m) => m.id) });
      }
    }
    const noteIds = await this.createNotes(pending);
    pending.forEach((note, i) => {
      for (const id of note.messageIds) written[id] = noteIds[i] as string;
    });
    return { written, apiCalls: this.calls - before };
  }

  async attachTranscript(note: TranscriptNote): Promise<void> {
    const record = await this.recordFor(note.customerPhone, note.customerName, 'transcript');
    const existing = await this.existingMarkers(record, note.at);
    if (!existing.has(transcriptMarker(note.messageId))) {
      await this.createNotes([{ parentId: record, draft: transcriptNote(note), messageIds: [] }]);
    }
  }

  async showBotState(change: BotStateChange): Promise<void> {
    const record = await this.recordFor(change.customerPhone, change.customerName, 'bot state');
    const existing = await this.existingMarkers(record, change.at);
    if (!existing.has(botStateMarker(change))) {
      await this.createNotes([{ parentId: record, draft: botStateNote(change), messageIds: [] }]);
    }
  }

  /**
   * Zoho CRM's own way to single records out for campaigns and views is a tag: opt-out adds the
   * "WhatsApp opt-out" tag to the Contact/Lead (found by phone or created, as archive() does), opt-in
   * removes it (v8 `actions/add_tags` / `actions/remove_tags`, both idempotent); then a note with a
   * `coex-consent-…` marker. The note is written last: when its marker is there the change is
   * complete and a retry does nothing.
   */
  async recordMarketingConsent(change: MarketingConsentChange): Promise<void> {
    const record = await this.recordFor(change.customerPhone, change.customerName, 'marketing consent');
    const existing = await this.existingMarkers(record, change.at);
    if (existing.has(consentMarker(change.eventId))) return;
    const tag = this.config.optOutTag ?? ZOHO_OPT_OUT_TAG;
    const action = change.action === 'opt_out' ? 'add_tags' : 'remove_tags';
    const res = await this.api('POST', `/${this.config.module}/${encodeURIComponent(record)}/actions/${action}`, undefined, { tags: [{ name: tag }] }, actionResponse);
    const result = res.data?.data[0];
    if (!result || result.code !== 'SUCCESS') {
      throw new CrmError(`zoho: ${action} on ${this.config.module} ${record} failed: ${result?.code ?? 'no result'}${result?.message ? ` (${result.message})` : ''}`, 'zoho', false, res.status);
    }
    await this.createNotes([{ parentId: record, draft: consentNote(change, tag), messageIds: [] }]);
  }

  async verifyExtensionRequest(req: ExtensionRequest): Promise<VerifyResult> {
    return verifyInstallSecret(req.headers, ZOHO_EXTENSION_HEADER, this.installTokenHash, this.config.orgId, 'no Zoho widget install token is configured for this org');
  }

  // ── records ───────────────────────────────────────────────────────────────────────────────

  private async lookupOrCreate(e164: string, name: string | null): Promise<CrmContactRef> {
    const module = this.config.module;
    const fields = 'Phone,Mobile,First_Name,Last_Name';
    const isOurs = (row: { Phone?: string | null | undefined; Mobile?: string | null | undefined }) =>
      samePhone(row.Phone, e164, this.defaultCountry) || samePhone(row.Mobile, e164, this.defaultCountry);

    // 1. Zoho's phone search (all phone fields, formatting ignored). No match is a 204 with no body.
    const byPhone = await this.api('GET', `/${module}/search`, { phone: e164, fields }, undefined, recordRows);
    const hit = byPhone.data?.data.find(isOurs);
    if (hit) return { id: hit.id, object: module, created: false };

    // 2. Stored spellings the phone search misses (0612…, 00212…): criteria equals on Phone/Mobile,
    //    ten conditions per call; results confirmed with libphonenumber.
    const conditions = phoneSearchVariants(e164).flatMap((v) => [`(Phone:equals:${escapeCriteria(v)})`, `(Mobile:equals:${escapeCriteria(v)})`]);
    for (let i = 0; i < conditions.length; i += MAX_CRITERIA) {
      const criteria = `(${conditions.slice(i, i + MAX_CRITERIA).join('or')})`;
      const res = await this.api('GET', `/${module}/search`, { criteria, fields }, undefined, recordRows);
      const match = res.data?.data.find(isOurs);
      if (match) return { id: match.id, object: module, created: false };
    }

    // 3. Create. Last_Name is mandatory in Zoho; Leads also need Company in the standard layout.
    const { first, last } = splitName(name, e164);
    const row: Record<string, string> = { Last_Name: last, Phone: e164, Mobile: e164 };
    if (first !== null) row['First_Name'] = first;
    if (module === 'Leads') row['Company'] = name?.trim() || e164;
    const created = await this.api('POST', `/${module}`, undefined, { data: [row] }, actionResponse);
    const result = created.data?.data[0];
    if (!result || result.code !== 'SUCCESS' || !result.details?.id) {
      throw new CrmError(`zoho: creating a ${module} record failed: ${result?.code ?? 'no result'}`, 'zoho', false, created.status);
    }
    return { id: result.details.id, object: module, created: true };
  }

  private async recordFor(phone: string | null, name: string | null, what: string): Promise<string> {
    if (phone === null) throw new CrmError(`zoho: cannot attach ${what} without a customer phone number`, 'zoho', false);
    return (await this.findOrCreateContact(phone, name)).id;
  }

  // ── notes ─────────────────────────────────────────────────────────────────────────────────

  /**
   * marker → note id, from the record's notes modified since `since` (minus a margin): a note about
   * an event is always written after the event, so older notes cannot hold its marker.
   */
  private async existingMarkers(recordId: string, since: string | null): Promise<Map<string, string>> {
    const found = new Map<string, string>();
    const sinceMs = since === null ? Number.NaN : new Date(since).getTime();
    const headers: Record<string, string> = Number.isNaN(sinceMs)
      ? {}
      : { 'if-modified-since': new Date(sinceMs - NOTES_SINCE_MARGIN_MS).toISOString().replace(/\.\d{3}Z$/, '+00:00') };
    for (let page = 1; page <= MAX_NOTE_PAGES; page += 1) {
      const query = { fields: 'Note_Title,Note_Content', page: String(page), per_page: '200' };
      let res: JsonResponse<z.output<typeof noteRows>>;
      try {
        res = await this.api('GET', `/${this.config.module}/${encodeURIComponent(recordId)}/Notes`, query, undefined, noteRows, headers);
      } catch (err) {
        // 304: nothing modified since If-Modified-Since.
        if (err instanceof CrmError && err.status === 304) break;
        throw err;
      }
      for (const note of res.data?.data ?? []) {
        for (const mk of findMarkers(note.Note_Content ?? '')) if (!found.has(mk)) found.set(mk, note.id);
      }
      if (!res.data?.info?.more_records) break;
    }
    return found;
  }

  /** POST /Notes in batches of 100; returns the new note ids in order. */
  private async createNotes(notes: PendingNote[]): Promise<string[]> {
    const ids: string[] = [];
    for (let i = 0; i < notes.length; i += ZOHO_NOTES_PER_CALL) {
      const batch = notes.slice(i, i + ZOHO_NOTES_PER_CALL);
      const body = {
        data: batch.map((n) => ({
          Note_Title: n.draft.title,
          Note_Content: n.draft.content,
          Parent_Id: { module: { api_name: this.config.module }, id: n.parentId },
        })),
      };
      const res = await this.api('POST', '/Notes', undefined, body, actionResponse);
      const results = res.data?.data ?? [];
      const failed = results.filter((r) => r.code !== 'SUCCESS' || !r.details?.id);
      if (results.length !== batch.length || failed.length > 0) {
        // Notes written in this call carry markers: a retry of the batch skips them.
        throw new CrmError(`zoho: ${failed.length || batch.length} of ${batch.length} notes were not created (${[...new Set(failed.map((f) => f.code))].join(', ')})`, 'zoho', false, res.status);
      }
      for (const r of results) ids.push(r.details?.id as string);
    }
    return ids;
  }

  // ── HTTP ──────────────────────────────────────────────────────────────────────────────────

  private async api<T>(
    method: 'GET' | 'POST',
    path: string,
    query: Record<string, string> | undefined,
    body: unknown,
    schema: z.ZodType<T>,
    extraHeaders: Record<string, string> = {},
  ): Promise<JsonResponse<T>> {
    const url = new URL(`/crm/${API_VERSION}${path}`, this.apiDomain);
    for (const [k, v] of Object.entries(query ?? {})) url.searchParams.set(k, v);
    for (let attempt = 0; ; attempt += 1) {
      const token = await this.accessToken();
      const init = {
        method,
        headers: { authorization: `Zoho-oauthtoken ${token}`, ...extraHeaders },
        ...(body !== undefined ? { body } : {}),
        schema,
        ...(this.config.timeoutMs !== undefined ? { timeoutMs: this.config.timeoutMs } : {}),
      };
      this.calls += 1;
      try {
        return this.options.fetch ? await requestJson('zoho', url.toString(), init, this.options.fetch) : await requestJson('zoho', url.toString(), init);
      } catch (err) {
        // An access token revoked or expired early: refresh once and replay.
        if (err instanceof CrmError && err.status === 401 && attempt === 0) {
          this.invalidate(token);
          continue;
        }
        throw err;
      }
    }
  }

  private async accessToken(): Promise<string> {
    if (this.token && this.token.expiresAt - TOKEN_SKEW_MS > this.now()) return this.token.value;
    // Single-flight: concurrent calls with an expired token share one refresh.
    this.refreshing ??= this.oauth
      .refreshAccessToken({ refreshToken: this.config.refreshToken, accountsServer: this.accountsServer })
      .then((t) => {
        this.token = { value: t.accessToken, expiresAt: t.expiresAt };
        this.apiDomain = t.apiDomain;
        this.options.onAccessToken?.({ accessToken: t.accessToken, expiresAt: t.expiresAt });
        return t.accessToken;
      })
      .finally(() => {
        this.refreshing = null;
      });
    return this.refreshing;
  }

  /** Forget `failed` unless another call already replaced it. */
  private invalidate(failed: string): void {
    if (this.token?.value === failed) this.token = null;
  }

  private groupByCustomer(messages: ArchivedMessage[]): Map<string, ArchivedMessage[]> {
    const groups = new Map<string, ArchivedMessage[]>();
    for (const m of messages) {
      // Without a phone (BSUID-only users) there is no record to attach to: skipped, not written.
      const phone = normalizePhone(m.customerPhone, this.defaultCountry);
      if (phone === null) continue;
      const group = groups.get(phone);
      if (group) group.push(m);
      else groups.set(phone, [m]);
    }
    return groups;
  }
}

/** Zoho criteria values escape parentheses, commas and backslashes with a backslash. */
export function escapeCriteria(value: string): string {
  return value.replace(/[(),\\]/g, (c) => `\\${c}`);
}

/** "Amina El Idrissi" → First_Name "Amina", Last_Name "El Idrissi"; no name → the number as Last_Name. */
export function splitName(name: string | null, fallback: string): { first: string | null; last: string } {
  const parts = (name ?? '').trim().split(/\s+/).filter((p) => p !== '');
  if (parts.length === 0) return { first: null, last: fallback };
  if (parts.length === 1) return { first: null, last: parts[0] as string };
  return { first: parts[0] as string, last: parts.slice(1).join(' ') };
}

function earliest(timestamps: string[]): string | null {
  const times = timestamps.map((t) => new Date(t).getTime()).filter((t) => !Number.isNaN(t));
  return times.length === 0 ? null : new Date(Math.min(...times)).toISOString();
}
