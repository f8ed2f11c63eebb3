import { z } from 'zod';
import type { CountryCode } from 'libphonenumber-js';
import type { FetchLike } from '../http.js';
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
import {
  blacklistMessage,
  botStateMarker,
  consentMarker,
  findMarkers,
  messageMarker,
  renderBotStateHtml,
  renderConsentHtml,
  renderTimelineHtml,
  type BlacklistOutcome,
  renderTranscriptHtml,
  transcriptMarker,
} from './format.js';
import { createOdooTransport } from './create-transport.js';
import { storedSecretHash, verifyInstallSecret } from '../extension-secret.js';
import { configuredCountry, parseConnectorConfig } from '../connector-config.js';
import { isMissingModelError, type OdooDomain, type OdooTransport } from './transport.js';

/** Header the CoEx Odoo addon sends with every call to our server. */
export const ODOO_EXTENSION_HEADER = 'X-Coex-Odoo-Key';
/** Messages per chatter note: keeps one note readable and its body well under any size limit. */
export const ODOO_MESSAGES_PER_NOTE = 50;
/** Markers per mail.message lookup (one ilike leaf each). */
const MARKERS_PER_LOOKUP = 100;

const configSchema = z
  .object({
    /** Base URL of the Odoo server, e.g. https://mycompany.odoo.com */
    url: z.string().refine((u) => URL.canParse(u) && /^https?:$/.test(new URL(u).protocol), 'must be an http(s) URL'),
    db: z.string().min(1),
    /** Login of the integration user: XML-RPC authenticates with login + API key; JSON-2 needs only the key. */
    login: z.string().min(1).optional(),
    apiKey: z.string().min(1),
    /** 'xmlrpc' for Odoo ≤ 18 (removed in Odoo 22), 'json2' for Odoo 19+. */
    protocol: z.enum(['xmlrpc', 'json2']),
    /** The key the CoEx Odoo addon sends (X-Coex-Odoo-Key): plain, or better its `sha256:<hex>` hash. */
    extensionKey: z.string().min(1).optional(),
    /** Country used to read national numbers ("06…") typed in Odoo. */
    defaultCountry: z.string().length(2).optional(),
    /** Also post the timeline on the partner's open crm.lead, when the CRM app is installed. Default true. */
    postOnOpenLead: z.boolean().optional(),
    timeoutMs: z.number().int().positive().optional(),
  })
  .refine((c) => c.protocol !== 'xmlrpc' || c.login !== undefined, {
    message: "login is required when protocol is 'xmlrpc'",
    path: ['login'],
  });

export type OdooConnectorConfig = z.input<typeof configSchema>;

export interface OdooConnectorOptions {
  /** fetch for JSON-2 (tests, proxies). */
  fetch?: FetchLike;
  /** A ready transport (unit tests). */
  transport?: OdooTransport;
}

// Odoo returns False, not null, for empty fields.
const odooText = z.union([z.string(), z.literal(false)]);
const odooId = z.number().int().positive();
const partnerRows = z.array(
  z.object({
    id: odooId,
    name: odooText.optional(),
    phone: odooText.optional(),
    mobile: odooText.optional(),
    phone_sanitized: odooText.optional(),
  }),
);
const leadRows = z.array(z.object({ id: odooId, probability: z.number().optional() }));
const messageRows = z.array(z.object({ id: odooId, body: odooText }));
/** XML-RPC gives one id (api.returns / single dict), JSON-2 gives the recordset's id list. */
const idResult = z.union([odooId, z.array(odooId).min(1)]).transform((v) => (Array.isArray(v) ? (v[0] as number) : v));
const fieldsGetResult = z.record(z.string(), z.unknown());

interface Target {
  model: 'res.partner' | 'crm.lead';
  id: number;
}

/**
 * CoEx → Odoo: customers are res.partner records matched on `phone_sanitized` (E.164); WhatsApp
 * timelines, transcripts and bot-state changes are internal notes (`message_post`, subtype
 * mail.mt_note) in the partner's chatter, and in its open crm.lead's chatter when there is one.
 */
export class OdooConnector implements CrmConnector {
  readonly name = 'odoo' as const;
  private readonly config: z.output<typeof configSchema>;
  private readonly transport: OdooTransport;
  private readonly extensionKeyHash: string | null;
  private readonly defaultCountry: CountryCode;
  private partnerPhoneFields: Promise<string[]> | null = null;
  private crmLeadAvailable = true;
  /** False once Odoo said phone.blacklist does not exist (phone_validation not installed). */
  private blacklistAvailable = true;
  private readonly contactsInFlight = new Map<string, Promise<CrmContactRef>>();

  constructor(config: OdooConnectorConfig, options: OdooConnectorOptions = {}) {
    this.config = parseConnectorConfig(configSchema, config, 'OdooConnector');
    this.defaultCountry = configuredCountry(this.config.defaultCountry);
    this.extensionKeyHash = storedSecretHash(this.config.extensionKey);
    this.transport =
      options.transport ??
      createOdooTransport({ url: this.config.url, db: this.config.db, login: this.config.login, apiKey: this.config.apiKey, protocol: this.config.protocol, timeoutMs: this.config.timeoutMs, fetch: options.fetch });
  }

  get protocol(): 'xmlrpc' | 'json2' {
    return this.transport.protocol;
  }

  /**
   * `fields_get` on res.partner (authenticating first on XML-RPC): proves the URL, the database, the
   * login and API key, and read access to the model every write goes to.
   */
  async verifyCredentials(): Promise<void> {
    await this.transport.fieldsGet('res.partner', ['phone']);
  }

  async findOrCreateContact(phoneE164: string, name: string | null): Promise<CrmContactRef> {
    const e164 = normalizePhone(phoneE164, this.defaultCountry);
    if (e164 === null) throw new CrmError(`odoo: not a valid phone number: "${phoneE164}"`, 'odoo', false);
    // Single-flight per number: two batches of one new customer must not create two partners.
    const pending = this.contactsInFlight.get(e164);
    if (pending) return pending;
    const work = this.lookupOrCreatePartner(e164, name).finally(() => this.contactsInFlight.delete(e164));
    this.contactsInFlight.set(e164, work);
    return work;
  }

  async archive(messages: ArchivedMessage[]): Promise<ArchiveResult> {
    const before = this.transport.requestCount;
    const written: Record<string, string> = {};
    for (const [phone, group] of this.groupByCustomer(messages)) {
      const name = group.find((m) => m.customerName)?.customerName ?? null;
      const partner = await this.findOrCreateContact(phone, name);
      const targets: Target[] = [{ model: 'res.partner', id: Number(partner.id) }];
      const leadId = await this.findOpenLead(Number(partner.id));
      if (leadId !== null) targets.push({ model: 'crm.lead', id: leadId });
      const ordered = [...group].sort((a, b) => a.timestamp.localeCompare(b.timestamp));
      for (let i = 0; i < ordered.length; i += ODOO_MESSAGES_PER_NOTE) {
        const chunk = ordered.slice(i, i + ODOO_MESSAGES_PER_NOTE);
        for (const target of targets) {
          const ids = await this.postMissing(target, chunk);
          if (target.model === 'res.partner') Object.assign(written, ids);
        }
      }
    }
    return { written, apiCalls: this.transport.requestCount - before };
  }

  async attachTranscript(note: TranscriptNote): Promise<void> {
    const partner = await this.partnerFor(note.customerPhone, note.customerName, 'transcript');
    await this.postOnce(partner, transcriptMarker(note.messageId), renderTranscriptHtml(note));
  }

  async showBotState(change: BotStateChange): Promise<void> {
    const partner = await this.partnerFor(change.customerPhone, change.customerName, 'bot state');
    await this.postOnce(partner, botStateMarker(change), renderBotStateHtml(change));
  }

  /**
   * Odoo's own "do not message this number": the phone blacklist (`phone.blacklist`, module
   * phone_validation), which SMS, WhatsApp and marketing mailings all respect. Opt-out calls its
   * public `add(number, message)`, opt-in `remove(number, message)` (archives the entry); then an
   * internal note with a `coex-consent-…` marker goes to the partner's chatter (partner found or
   * created by phone, as archive() does). The note is written last: when its marker is there the
   * change is complete and a retry does nothing. Without phone_validation only the note is written,
   * and it says so.
   */
  async recordMarketingConsent(change: MarketingConsentChange): Promise<void> {
    const e164 = normalizePhone(change.customerPhone, this.defaultCountry);
    if (e164 === null) throw new CrmError('odoo: cannot record a marketing consent change without a valid customer phone number', 'odoo', false);
    const partner = await this.partnerFor(e164, change.customerName, 'marketing consent');
    const marker = consentMarker(change.eventId);
    if ((await this.existingMarkers(partner, [marker])).has(marker)) return;
    const outcome = await this.applyBlacklist(change, e164);
    await this.postNote(partner, renderConsentHtml(change, e164, outcome));
  }

  /** add/remove are idempotent in Odoo (an existing entry is re-activated or archived, never duplicated). */
  private async applyBlacklist(change: MarketingConsentChange, e164: string): Promise<BlacklistOutcome> {
    if (!this.blacklistAvailable) return 'unavailable';
    try {
      // Neither method is @api.model: they run on an empty recordset (ids = []).
      await this.transport.callOnRecords('phone.blacklist', change.action === 'opt_out' ? 'add' : 'remove', [], {
        number: e164,
        message: blacklistMessage(change),
      });
      return change.action === 'opt_out' ? 'added' : 'removed';
    } catch (err) {
      if (isMissingModelError(err, 'phone.blacklist')) {
        this.blacklistAvailable = false;
        return 'unavailable';
      }
      throw err;
    }
  }

  async verifyExtensionRequest(req: ExtensionRequest): Promise<VerifyResult> {
    return verifyInstallSecret(req.headers, ODOO_EXTENSION_HEADER, this.extensionKeyHash, this.config.db, 'no Odoo addon key is configured for this database');
  }

  // ── contacts ──────────────────────────────────────────────────────────────────────────────

  private async lookupOrCreatePartner(e164: string, name: string | null): Promise<CrmContactRef> {
    const fields = ['id', 'name', 'phone', 'phone_sanitized'];
    // 1. phone_sanitized is Odoo's own E.164 form of the partner's numbers (indexed, exact).
    const exact = parse(
      partnerRows,
      await this.transport.searchRead('res.partner', [['phone_sanitized', '=', e164]], { fields, limit: 1, order: 'id asc' }),
      'res.partner search_read',
    );
    if (exact[0]) return { id: String(exact[0].id), object: 'res.partner', created: false };

    // 2. Partners whose number Odoo could not sanitize (no country, odd spelling): search the raw
    //    fields with common spellings, then confirm with libphonenumber so "…612345678" in another
    //    country never matches.
    const phoneFields = await this.phoneFields();
    const leaves = phoneSearchVariants(e164).flatMap((v) => phoneFields.map((f) => [f, 'ilike', v] as const));
    const rows = parse(
      partnerRows,
      await this.transport.searchRead('res.partner', orDomain(leaves), {
        fields: [...fields, ...phoneFields.filter((f) => !fields.includes(f))],
        limit: 20,
        order: 'id asc',
      }),
      'res.partner search_read',
    );
    const match = rows.find((row) =>
      phoneFields.some((f) => {
        const value = (row as Record<string, unknown>)[f];
        return typeof value === 'string' && samePhone(value, e164, this.defaultCountry);
      }),
    );
    if (match) return { id: String(match.id), object: 'res.partner', created: false };

    // 3. New customer: Odoo computes phone_sanitized from the E.164 phone we store.
    const id = parse(
      idResult,
      await this.transport.create('res.partner', { name: name?.trim() || e164, phone: e164 }),
      'res.partner create',
    );
    return { id: String(id), object: 'res.partner', created: true };
  }

  /** Phone fields res.partner has here: Odoo 19 (and 18.2+ online) dropped `mobile`. Asked once. */
  private phoneFields(): Promise<string[]> {
    this.partnerPhoneFields ??= this.transport.fieldsGet('res.partner', ['phone', 'mobile']).then(
      (raw) => {
        const present = Object.keys(parse(fieldsGetResult, raw, 'res.partner fields_get'));
        const fields = ['phone', 'mobile'].filter((f) => present.includes(f));
        return fields.length > 0 ? fields : ['phone'];
      },
      (err: unknown) => {
        this.partnerPhoneFields = null;
        throw err;
      },
    );
    return this.partnerPhoneFields;
  }

  private async partnerFor(phone: string | null, name: string | null, what: string): Promise<Target> {
    if (phone === null) {
      throw new CrmError(`odoo: cannot attach ${what} without a customer phone number`, 'odoo', false);
    }
    const ref = await this.findOrCreateContact(phone, name);
    return { model: 'res.partner', id: Number(ref.id) };
  }

  private async findOpenLead(partnerId: number): Promise<number | null> {
    if (this.config.postOnOpenLead === false || !this.crmLeadAvailable) return null;
    try {
      // Default search hides archived (lost) leads; won ones have probability 100.
      const rows = parse(
        leadRows,
        await this.transport.searchRead('crm.lead', [['partner_id', '=', partnerId]], {
          fields: ['id', 'probability'],
          limit: 10,
          order: 'id desc',
        }),
        'crm.lead search_read',
      );
      return rows.find((r) => (r.probability ?? 0) < 100)?.id ?? null;
    } catch (err) {
      if (isMissingModelError(err, 'crm.lead')) {
        this.crmLeadAvailable = false;
        return null;
      }
      throw err;
    }
  }

  // ── notes ─────────────────────────────────────────────────────────────────────────────────

  /** Posts one note with the messages not yet in the record's chatter; returns CoEx id → mail.message id. */
  private async postMissing(target: Target, chunk: ArchivedMessage[]): Promise<Record<string, string>> {
    const existing = await this.existingMarkers(target, chunk.map((m) => messageMarker(m.id)));
    const result: Record<string, string> = {};
    const missing: ArchivedMessage[] = [];
    for (const m of chunk) {
      const found = existing.get(messageMarker(m.id));
      if (found === undefined) missing.push(m);
      else result[m.id] = String(found);
    }
    if (missing.length > 0) {
      const messageId = await this.postNote(target, renderTimelineHtml(missing));
      for (const m of missing) result[m.id] = String(messageId);
    }
    return result;
  }

  private async postOnce(target: Target, marker: string, html: string): Promise<void> {
    const existing = await this.existingMarkers(target, [marker]);
    if (!existing.has(marker)) await this.postNote(target, html);
  }

  /** marker → id of the mail.message on `target` that already carries it. */
  private async existingMarkers(target: Target, markers: string[]): Promise<Map<string, number>> {
    const found = new Map<string, number>();
    const wanted = new Set(markers);
    for (let i = 0; i < markers.length; i += MARKERS_PER_LOOKUP) {
      const slice = markers.slice(i, i + MARKERS_PER_LOOKUP);
      const domain: OdooDomain = [
        '&',
        '&',
        ['model', '=', target.model],
        ['res_id', '=', target.id],
        ...orDomain(slice.map((mk) => ['body', 'ilike', mk] as const)),
      ];
      const rows = parse(
        messageRows,
        await this.transport.searchRead('mail.message', domain, { fields: ['id', 'body'], order: 'id asc' }),
        'mail.message search_read',
      );
      // ilike only narrows the search: the exact marker is confirmed in the body.
      for (const row of rows) {
        if (row.body === false) continue;
        for (const mk of findMarkers(row.body)) {
          if (wanted.has(mk) && !found.has(mk)) found.set(mk, row.id);
        }
      }
    }
    return found;
  }

  private async postNote(target: Target, html: string): Promise<number> {
    const raw = await this.transport.callOnRecords(target.model, 'message_post', [target.id], {
      body: html,
      body_is_html: true,
      message_type: 'comment',
      subtype_xmlid: 'mail.mt_note',
    });
    return parse(idResult, raw, `${target.model} message_post`);
  }

  private groupByCustomer(messages: ArchivedMessage[]): Map<string, ArchivedMessage[]> {
    const groups = new Map<string, ArchivedMessage[]>();
    for (const m of messages) {
      // Without a phone (BSUID-only users) there is no partner to attach to: skipped, not written.
      const phone = normalizePhone(m.customerPhone, this.defaultCountry);
      if (phone === null) continue;
      const group = groups.get(phone);
      if (group) group.push(m);
      else groups.set(phone, [m]);
    }
    return groups;
  }
}

/** `leaves` OR-ed in prefix notation: n leaves need n-1 leading '|'. */
export function orDomain(leaves: ReadonlyArray<readonly [string, string, unknown]>): OdooDomain {
  if (leaves.length === 0) throw new Error('orDomain: no leaves');
  return [...Array.from({ length: leaves.length - 1 }, () => '|' as const), ...leaves];
}

function parse<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const result = schema.safeParse(value);
  if (!result.success) {
    throw new CrmError(`odoo: ${what} returned an unexpected value: ${z.prettifyError(result.error)}`, 'odoo', false);
  }
  return result.data;
}
