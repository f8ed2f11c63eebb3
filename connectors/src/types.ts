/**
 * The one small interface every CRM connector implements. Core hands connectors plain data
 * (never database rows) so a connector stays a thin translation into its CRM's API.
 */

/** A CRM a tenant can connect. */
export type CrmName = 'hubspot' | 'woocommerce' | 'odoo' | 'zoho';

/** Where a message came from, as CoEx records it. */
export type MessageOrigin = 'customer' | 'app' | 'api' | 'agent' | 'history';

/** One WhatsApp message to archive, already normalized by core. */
export interface ArchivedMessage {
  /** CoEx message id (stable; use it to build idempotency keys). */
  id: string;
  wamid: string;
  threadId: string;
  direction: 'inbound' | 'outbound';
  origin: MessageOrigin;
  /** text, image, audio, … as WhatsApp names it. */
  type: string;
  /** Text or caption; a short description such as "[voice note 0:12]" for media without text. */
  text: string | null;
  /** Provider timestamp (when it was sent), ISO 8601. */
  timestamp: string;
  status: string | null;
  /** Customer's phone in E.164 (e.g. +212612345678) when known. */
  customerPhone: string | null;
  /** Best display name: name saved on the business phone, else WhatsApp profile name. */
  customerName: string | null;
  /** The business number in E.164. */
  businessPhone: string | null;
  transcript?: { text: string; language: string | null } | null;
}

export interface CrmContactRef {
  /** The CRM's own id of the record (HubSpot contact id, Woo customer id, Odoo partner id, Zoho contact id). */
  id: string;
  /** The CRM module/object the id belongs to: 'contacts', 'customer', 'res.partner', 'Contacts', 'Leads'… */
  object: string;
  created: boolean;
}

export interface ArchiveResult {
  /** CoEx message id → id of the record written in the CRM (communication, note, …). */
  written: Record<string, string>;
  /** Number of HTTP calls made to the CRM for this batch (the backfill benchmark reads it). */
  apiCalls: number;
}

export type BotState = 'active' | 'paused' | 'handoff_requested' | 'off';

export interface BotStateChange {
  threadId: string;
  customerPhone: string | null;
  customerName: string | null;
  from: BotState;
  to: BotState;
  cause: string;
  pausedUntil: string | null;
  at: string;
}

export interface TranscriptNote {
  messageId: string;
  wamid: string;
  threadId: string;
  customerPhone: string | null;
  customerName: string | null;
  text: string;
  language: string | null;
  provider: string;
  at: string;
}

/** An HTTP request coming from a CRM UI extension, as the server received it. */
export interface ExtensionRequest {
  method: string;
  /** Full URL as the CRM called it (scheme, host, path and query). */
  url: string;
  headers: Record<string, string | string[] | undefined>;
  rawBody: Buffer;
  /** Epoch milliseconds "now", injectable for tests. */
  now?: number;
}

export type VerifyResult =
  | { ok: true; account: string }
  | { ok: false; status: 401 | 403; reason: string };

/** Errors a connector raises so the outbox can decide: retry later or dead-letter now. */
export class CrmError extends Error {
  constructor(
    message: string,
    readonly crm: CrmName,
    readonly retryable: boolean,
    readonly status?: number,
    /** Seconds, from Retry-After or the CRM's own rate-limit headers. */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
    this.name = 'CrmError';
  }
}

/**
 * A customer's marketing consent changed on a WhatsApp business number: they opted out (keyword
 * such as STOP / baraka / توقف, Meta's 131050, an API call) or back in. Connectors mark the CRM's
 * own record so marketing run from the CRM excludes them too, and leave an audit note.
 */
export interface MarketingConsentChange {
  /** Unique per change (CoEx's opt_out_events id): connectors use it to stay idempotent. */
  eventId: string;
  customerPhone: string;
  customerName: string | null;
  /** The business number the consent is about (E.164), if known. */
  businessPhone: string | null;
  action: 'opt_out' | 'opt_in';
  /** keyword | api | crm | 131050 | whatsapp (the customer's own choice in WhatsApp: `user_preferences`) */
  source: string;
  /** e.g. the customer's word ("baraka"), or who opted them back in. */
  detail: string | null;
  at: string;
}

export interface CrmConnector {
  readonly name: CrmName;
  findOrCreateContact(phoneE164: string, name: string | null): Promise<CrmContactRef>;
  /** Archive a batch (same thread or not). Must be idempotent per ArchivedMessage.id. */
  archive(messages: ArchivedMessage[]): Promise<ArchiveResult>;
  attachTranscript(note: TranscriptNote): Promise<void>;
  showBotState(change: BotStateChange): Promise<void>;
  /** Marks the customer's CRM record as opted out of (or back into) WhatsApp marketing. Idempotent per eventId. */
  recordMarketingConsent(change: MarketingConsentChange): Promise<void>;
  /** Verifies a request from this CRM's UI extension; returns the CRM account (portal, site, db, org). */
  verifyExtensionRequest(req: ExtensionRequest): Promise<VerifyResult>;
  /**
   * Checks the credentials with one cheap read call, at connect time, so bad keys or an unreachable
   * host are refused at once rather than discovered hours later as dead letters. Throws CrmError:
   * `retryable` = the CRM could not be reached (network, timeout, 5xx); otherwise the CRM refused.
   */
  verifyCredentials(): Promise<void>;
}
