/**
 * A local fake of Meta's Graph API (WhatsApp Cloud API), a real HTTP server on 127.0.0.1.
 *
 * Modelled (wire format as in coex-spec.md §2, §7, §8, §9 and Meta's reference pages):
 * - POST /{ver}/{phone-number-id}/messages: text, template, image/audio/video/document/sticker,
 *   interactive (button, list), reaction; Meta's success shape with fresh wamids and
 *   `message_status` (accepted, or held_for_quality_assessment for templates marked `held`).
 *   Body checks answer like Meta: missing `to`/`messaging_product` → 100, text over 4096 chars → 100,
 *   media without id/link → 100, >3 buttons or >10 rows → 131009, unknown template or language →
 *   132001, wrong body parameter count → 132000, paused template → 132015, disabled → 132016.
 * - Recipients: a phone in `to`, or a business-scoped user id (BSUID) in `recipient` (coex-spec.md
 *   §11). A BSUID put in `to` is accepted with a wamid like Meta does, and silently never delivered
 *   (recorded with `dropped: true`; emitStatuses sends nothing for it). An AUTHENTICATION template to
 *   a BSUID answers 131062. Statuses of BSUID sends carry `recipient_user_id`.
 * - Mark as read (status: "read", optional typing_indicator) on the same endpoint → { success: true }.
 * - Per-number throughput: a sliding 1-second window, `mps` accepted sends (default 20); beyond it
 *   130429 with HTTP 400, counted per number. Simulated inbound messages can take a share of it.
 * - Optional pair rate (131056) per (number, recipient), `limit` sends per `windowMs`.
 * - 24-hour window: recipients the fake is told have no open window get 131047 for anything but a
 *   template, synchronously (default) or as a 200 then a `failed` status webhook ('async').
 * - Scripted errors: a queue of answers (any code, HTTP status, Retry-After) for the next calls.
 * - GET /{ver}/{media-id} → url on this server's /lookaside/…, expiring after `mediaTtlMs` (or on
 *   expireMediaUrls()); GET /lookaside/… requires the Bearer token and answers 404 once expired.
 * - GET /{ver}/oauth/access_token (client_id, client_secret, code; rejects redirect_uri, reused codes).
 * - POST /{ver}/{app-id}/subscriptions (app access token): the app's webhook fields
 * - POST/GET /{ver}/{waba-id}/subscribed_apps (override_callback_uri + verify_token; optionally
 *   verifies the override callback with a hub.challenge GET like Meta does).
 * - GET/POST /{ver}/{app-id}/subscriptions with the app access token `app_id|app_secret`: the app's
 *   webhook fields (`appWebhookFields`, default the five classic WhatsApp fields at
 *   `appCallbackUrl`); a POST replaces the object's fields (Meta verifies the callback when
 *   verifyOverrideCallbacks is set).
 * - GET /{ver}/{waba-id}/phone_numbers (paged with cursors), GET /{ver}/{phone-number-id}?fields=…
 * - GET /{ver}/{waba-id}/message_templates (status filter, cursors; HEADER/BODY/BUTTONS components,
 *   positional or named parameters — sends to NAMED templates must name every body parameter).
 * - POST /{ver}/{phone-number-id}/smb_app_data, each sync_type accepted once per number.
 * - Bearer token check on every Graph call: 190 with HTTP 401 when missing or wrong.
 * - emitStatuses(): signed status webhooks (X-Hub-Signature-256) in Meta's `statuses` shape, with
 *   Meta's JSON escaping (non-ASCII as \uXXXX, "/" as "\/") so signature checks must use raw bytes.
 *
 * Not modelled: media upload, template creation/editing (templates are listed, not managed), business profile, phone registration, flows,
 * calls, groups, marketing-messages API, per-WABA rate limit 80007 and app limit 4 (script them),
 * message delivery itself (statuses only come from emitStatuses or async window failures), real
 * wamid structure (ours are random), Graph field expansion beyond the phone-number fields listed.
 * Uncertain: the exact error Meta returns for a repeated smb_app_data request is undocumented;
 * the fake answers 400 / code 100 with a details string saying so.
 *
 * Contract: every request on an endpoint Meta's OpenAPI describes, and every answer to it, is checked
 * against the spec first (graph-openapi.ts; a refused request gets 400 / code 100, see README.md).
 *
 * Usable from other processes: it is plain HTTP, and `node test/fakes/graph-api.ts [options-json]`
 * starts one standalone and prints `{"url": …}` on stdout (Node ≥ 23 strips the types).
 */
import { createHmac, randomBytes, createHash } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import type { ContractViolation } from './graph-openapi.js';

// ---------------------------------------------------------------------------------------------
// Public types
// ---------------------------------------------------------------------------------------------

export interface FakePhoneNumber {
  id: string;
  wabaId: string;
  displayPhoneNumber: string;
  verifiedName: string;
  isOnBizApp: boolean;
  platformType: string;
  qualityRating: string;
  throughputLevel: string;
  codeVerificationStatus: string;
}

export interface FakeTemplate {
  name: string;
  language: string;
  category?: 'MARKETING' | 'UTILITY' | 'AUTHENTICATION';
  status?: 'APPROVED' | 'PAUSED' | 'DISABLED';
  /** Number of body parameters the template expects (checked when set). */
  bodyParameters?: number;
  /** Template pacing: sends answer `held_for_quality_assessment`. */
  held?: boolean;
  /**
   * Body text as listed by GET message_templates, with {{1}}… (positional) or {{name}} (named)
   * placeholders. Default: "Template <name>" followed by bodyParameters positional placeholders.
   */
  body?: string;
  /** NAMED: sends must give `parameter_name` for each body parameter (checked against `body`). */
  parameterFormat?: 'POSITIONAL' | 'NAMED';
  header?: { format: 'TEXT' | 'IMAGE' | 'VIDEO' | 'DOCUMENT' | 'LOCATION'; text?: string };
  buttons?: Array<{ type: 'QUICK_REPLY' | 'URL' | 'PHONE_NUMBER' | 'OTP' | 'COPY_CODE'; text: string; url?: string }>;
}

export type FakeEndpoint =
  | 'messages'
  | 'mark_read'
  | 'media'
  | 'lookaside'
  | 'oauth'
  | 'subscribed_apps'
  | 'phone_numbers'
  | 'phone_number'
  | 'smb_app_data'
  | 'message_templates'
  | 'any';

export interface ScriptedError {
  code: number;
  /** Default 400 (Meta answers most errors with 400). */
  httpStatus?: number;
  message?: string;
  type?: string;
  subcode?: number;
  details?: string;
  retryAfterSeconds?: number;
  /** Which calls it applies to (default 'messages', i.e. sends, not read receipts). */
  endpoint?: FakeEndpoint;
  /**
   * Only a send whose `text.body` is this one (sends only): the error then waits for that send, and
   * another one in flight meanwhile (an agent's reply) does not take it.
   */
  text?: string;
}

export interface PairRate {
  limit: number;
  windowMs: number;
}

export interface FakeBehaviour {
  mps?: number;
  pairRate?: PairRate | null;
  /** Replaces the set of recipients (wa_id digits) without an open 24-hour window. */
  windowClosedFor?: string[];
  windowErrorMode?: 'sync' | 'async';
  mediaTtlMs?: number;
  /** Appended to the queue of scripted answers. */
  scriptedErrors?: ScriptedError[];
  templates?: FakeTemplate[];
  /** Page size of GET /{waba}/phone_numbers when the caller gives no `limit`. */
  phoneNumbersPageSize?: number;
}

export interface GraphApiFakeOptions extends FakeBehaviour {
  /** Bearer tokens accepted on Graph calls (default ['test-access-token']). */
  accessTokens?: string[];
  phoneNumbers?: FakePhoneNumber[];
  oauth?: { appId: string; appSecret: string };
  /** The app's `whatsapp_business_account` webhook fields (GET /{app-id}/subscriptions); [] = not subscribed. */
  appWebhookFields?: string[];
  /** Callback URL of that subscription. */
  appCallbackUrl?: string;
  /** Verify override callbacks with a hub.challenge GET before accepting them (as Meta does). */
  verifyOverrideCallbacks?: boolean;
  /** Where async 131047 failures are posted, signed with appSecret. */
  statusWebhook?: { callbackUrl: string; appSecret: string };
  /** Injectable clock (ms since epoch) for throughput, pair rate, media expiry and timestamps. */
  now?: () => number;
  host?: string;
  port?: number;
}

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  headers: Record<string, string>;
  rawBody: string;
  /** Parsed JSON (or form fields as an object); undefined when the body is empty or unparseable. */
  json: unknown;
  receivedAt: number;
  responseStatus?: number;
  /** What Meta's OpenAPI says is wrong with this request, or with the fake's answer to it. */
  contractViolations?: ContractViolation[];
}

export interface SentMessageRecord {
  wamid: string;
  phoneNumberId: string;
  /** The address as sent: a phone (`to`) or a BSUID (`recipient`, or wrongly in `to`). */
  to: string;
  /** Which request field carried the address. */
  addressField: 'to' | 'recipient';
  /** A BSUID sent in `to`: Meta accepts the call and never delivers the message. */
  dropped: boolean;
  type: string;
  body: Record<string, unknown>;
  messageStatus: 'accepted' | 'held_for_quality_assessment';
  at: number;
}

export type FakeStatus =
  | 'sent'
  | 'delivered'
  | 'read'
  | 'played'
  | { status: 'failed'; errors: Array<{ code: number; title: string; message?: string; details?: string }> };

export interface WebhookDelivery {
  url: string;
  status: number;
  rawBody: string;
}

export interface GraphApiFakeState {
  sent: SentMessageRecord[];
  readReceipts: Array<{ phoneNumberId: string; wamid: string; typing: boolean; at: number }>;
  rejections: {
    /** 130429 answers per phone number id. */
    throughput: Record<string, number>;
    /** 131056 answers per phone number id. */
    pairRate: Record<string, number>;
    /** 131047 answers (sync or async). */
    window: number;
    scripted: number;
  };
  subscriptions: Array<{ wabaId: string; overrideCallbackUri: string | null; verifyToken: string | null }>;
  /** The app's webhook subscriptions (App Dashboard → Webhooks), per object. */
  appSubscriptions: Array<{ object: string; callbackUrl: string; fields: string[]; verifyToken: string | null }>;
  smbAppDataRequests: Array<{ phoneNumberId: string; syncType: string; requestId: string }>;
  /** Business tokens issued by oauth/access_token. */
  issuedTokens: string[];
  mediaLookups: number;
  mediaDownloads: number;
  webhookDeliveries: WebhookDelivery[];
}

export interface AddMediaInput {
  bytes: Uint8Array;
  mimeType: string;
  id?: string;
  /** Restricts lookups with ?phone_number_id= to this number. */
  phoneNumberId?: string;
  /** What GET /{media-id} claims (default: the real hex SHA-256), to test checksum handling. */
  declaredSha256?: string;
  /** Kept for callers: file_size is always a string now, as Meta's OpenAPI says. */
  fileSizeAsString?: boolean;
}

export interface GraphApiFake {
  /** e.g. http://127.0.0.1:45678 — use as GraphClient's baseUrl. */
  url: string;
  requests: RecordedRequest[];
  state: GraphApiFakeState;
  /** Every request, and every answer of the fake, that Meta's OpenAPI forbids (should stay empty). */
  contractViolations: ContractViolation[];
  setBehaviour(behaviour: FakeBehaviour): void;
  addMedia(input: AddMediaInput): string;
  /** Every download URL issued so far stops working (404), as after Meta's ~5 minutes. */
  expireMediaUrls(): void;
  /** A one-time Embedded Signup code and the business token it exchanges for. */
  createSignupCode(): { code: string; businessToken: string };
  /** Inbound messages count against the same per-number throughput as sends. */
  simulateInbound(phoneNumberId: string, count?: number): void;
  emitStatuses(callbackUrl: string, appSecret: string, wamid: string, statuses: FakeStatus[]): Promise<WebhookDelivery[]>;
  close(): Promise<void>;
}

export const DEFAULT_FAKE_TOKEN = 'test-access-token';
export const DEFAULT_FAKE_PHONE_NUMBER: FakePhoneNumber = {
  id: '106540352242922',
  wabaId: '102290129340398',
  displayPhoneNumber: '212522123456',
  verifiedName: 'CoEx Test Shop',
  isOnBizApp: true,
  platformType: 'CLOUD_API',
  qualityRating: 'GREEN',
  throughputLevel: 'STANDARD',
  codeVerificationStatus: 'VERIFIED',
};
export const DEFAULT_FAKE_TEMPLATES: FakeTemplate[] = [
  { name: 'hello_world', language: 'en_US', category: 'UTILITY', bodyParameters: 0, body: 'Hello World' },
  { name: 'order_shipped', language: 'fr', category: 'UTILITY', bodyParameters: 1, body: 'Bonjour, votre commande {{1}} est en route.' },
];

/** The body text the fake lists for a template (its own, or one with bodyParameters placeholders). */
export function fakeTemplateBody(t: FakeTemplate): string {
  if (t.body !== undefined) return t.body;
  const params = Array.from({ length: t.bodyParameters ?? 0 }, (_, i) => `{{${i + 1}}}`);
  return [`Template ${t.name}`, ...params].join(' ');
}

function placeholderNames(body: string): string[] {
  return [...new Set([...body.matchAll(/\{\{\s*([A-Za-z0-9_]+)\s*\}\}/g)].map((m) => m[1] ?? ''))];
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/** JSON as Meta serialises webhooks: non-ASCII as \uXXXX and "/" as "\/". */
export function metaJson(value: unknown): string {
  return JSON.stringify(value)
    .replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
    .replace(/\//g, '\\/');
}

export function signBody(rawBody: string, appSecret: string): string {
  return `sha256=${createHmac('sha256', appSecret).update(rawBody, 'utf8').digest('hex')}`;
}

function fbtraceId(): string {
  return randomBytes(8).toString('base64url');
}

function newWamid(): string {
  return `wamid.HBgM${randomBytes(24).toString('base64url')}`;
}

function digitsOf(to: string): string {
  return to.replace(/[^\d]/g, '');
}

/** A business-scoped user id: country code, a dot, letters/digits (never a phone number). */
export function isFakeBsuid(value: string): boolean {
  return /^[A-Za-z]{2}\.[A-Za-z0-9.]+$/.test(value.trim());
}

class FakeError {
  readonly httpStatus: number;
  readonly body: Record<string, unknown>;
  readonly retryAfterSeconds: number | undefined;
  constructor(
    httpStatus: number,
    code: number,
    message: string,
    extra: { subcode?: number; details?: string; type?: string; retryAfterSeconds?: number } = {},
  ) {
    this.httpStatus = httpStatus;
    this.retryAfterSeconds = extra.retryAfterSeconds;
    const error: Record<string, unknown> = { message, type: extra.type ?? 'OAuthException', code };
    if (extra.subcode !== undefined) error.error_subcode = extra.subcode;
    if (extra.details !== undefined) error.error_data = { messaging_product: 'whatsapp', details: extra.details };
    error.fbtrace_id = fbtraceId();
    this.body = { error };
  }
}

function param100(message: string, details?: string): FakeError {
  return new FakeError(400, 100, `(#100) ${message}`, details === undefined ? {} : { details });
}

function noSuchObject(id: string, method: string): FakeError {
  return new FakeError(
    400,
    100,
    `Unsupported ${method.toLowerCase()} request. Object with ID '${id}' does not exist, cannot be loaded due to missing permissions, or does not support this operation.`,
    { subcode: 33, type: 'GraphMethodException' },
  );
}

// Lenient shapes of what arrives on /messages; the checks below turn them into Meta-like errors.
const mediaObject = z.looseObject({ id: z.string().optional(), link: z.string().optional() });
const messageBodySchema = z.looseObject({
  messaging_product: z.string().optional(),
  recipient_type: z.string().optional(),
  to: z.string().optional(),
  recipient: z.string().optional(),
  type: z.string().optional(),
  status: z.string().optional(),
  message_id: z.string().optional(),
  typing_indicator: z.looseObject({ type: z.string() }).optional(),
  biz_opaque_callback_data: z.string().optional(),
  text: z.looseObject({ body: z.string().optional(), preview_url: z.boolean().optional() }).optional(),
  template: z
    .looseObject({
      name: z.string().optional(),
      language: z.looseObject({ code: z.string().optional() }).optional(),
      components: z.array(z.looseObject({ type: z.string(), parameters: z.array(z.looseObject({ type: z.string(), parameter_name: z.string().optional() })).optional() })).optional(),
    })
    .optional(),
  image: mediaObject.optional(),
  audio: mediaObject.optional(),
  video: mediaObject.optional(),
  document: mediaObject.optional(),
  sticker: mediaObject.optional(),
  interactive: z
    .looseObject({
      type: z.string().optional(),
      action: z
        .looseObject({
          buttons: z.array(z.unknown()).optional(),
          sections: z.array(z.looseObject({ rows: z.array(z.unknown()).optional() })).optional(),
        })
        .optional(),
    })
    .optional(),
  reaction: z.looseObject({ message_id: z.string().optional(), emoji: z.string().optional() }).optional(),
});
type MessageBody = z.infer<typeof messageBodySchema>;

const MESSAGE_TYPES = ['text', 'template', 'image', 'audio', 'video', 'document', 'sticker', 'interactive', 'reaction'] as const;
const MEDIA_TYPES = new Set(['image', 'audio', 'video', 'document', 'sticker']);
const PHONE_FIELD_NAMES = new Set([
  'id',
  'is_on_biz_app',
  'platform_type',
  'display_phone_number',
  'verified_name',
  'quality_rating',
  'code_verification_status',
  'name_status',
  'throughput',
]);
const DEFAULT_PHONE_FIELDS = ['verified_name', 'code_verification_status', 'display_phone_number', 'quality_rating', 'platform_type', 'throughput', 'id'];

function phoneNumberJson(p: FakePhoneNumber, fields: string[]): Record<string, unknown> {
  const all: Record<string, unknown> = {
    id: p.id,
    is_on_biz_app: p.isOnBizApp,
    platform_type: p.platformType,
    display_phone_number: p.displayPhoneNumber,
    verified_name: p.verifiedName,
    quality_rating: p.qualityRating,
    code_verification_status: p.codeVerificationStatus,
    name_status: 'APPROVED',
    throughput: { level: p.throughputLevel },
  };
  const out: Record<string, unknown> = {};
  for (const f of fields) out[f] = all[f];
  out.id = p.id;
  return out;
}

// ---------------------------------------------------------------------------------------------
// The fake
// ---------------------------------------------------------------------------------------------

interface StoredMedia {
  bytes: Buffer;
  mimeType: string;
  phoneNumberId: string | undefined;
  declaredSha256: string;
  fileSizeAsString: boolean;
}

export async function startGraphApiFake(options: GraphApiFakeOptions = {}): Promise<GraphApiFake> {
  const now = options.now ?? Date.now;
  const acceptedTokens = new Set(options.accessTokens ?? [DEFAULT_FAKE_TOKEN]);
  const phoneNumbers = new Map((options.phoneNumbers ?? [DEFAULT_FAKE_PHONE_NUMBER]).map((p) => [p.id, p]));
  const oauth = options.oauth ?? { appId: 'test-app-id', appSecret: 'test-app-secret' };

  const behaviour = {
    mps: options.mps ?? 20,
    pairRate: options.pairRate ?? null,
    windowClosedFor: new Set((options.windowClosedFor ?? []).map(digitsOf)),
    windowErrorMode: options.windowErrorMode ?? 'sync',
    mediaTtlMs: options.mediaTtlMs ?? 5 * 60 * 1000,
    templates: options.templates ?? DEFAULT_FAKE_TEMPLATES,
    phoneNumbersPageSize: options.phoneNumbersPageSize ?? 25,
  };
  const scripted: ScriptedError[] = [...(options.scriptedErrors ?? [])];

  const requests: RecordedRequest[] = [];
  // Loaded by URL so that `node test/fakes/graph-api.ts` (type stripping, no .js files) finds it too.
  const { graphContract, graphOperationOf, isReadReceipt, metaParameterMessage } = (await import(
    new URL(`./graph-openapi${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url).href
  )) as typeof import('./graph-openapi.js');
  const contract = graphContract();
  const contractViolations: ContractViolation[] = [];
  const state: GraphApiFakeState = {
    sent: [],
    readReceipts: [],
    rejections: { throughput: {}, pairRate: {}, window: 0, scripted: 0 },
    subscriptions: [],
    appSubscriptions: (() => {
      const fields = options.appWebhookFields ?? ['messages', 'smb_message_echoes', 'history', 'smb_app_state_sync', 'account_update'];
      return fields.length === 0 ? [] : [{ object: 'whatsapp_business_account', callbackUrl: options.appCallbackUrl ?? 'https://coex.example.com/webhooks/whatsapp', fields: [...fields], verifyToken: null }];
    })(),
    smbAppDataRequests: [],
    issuedTokens: [],
    mediaLookups: 0,
    mediaDownloads: 0,
    webhookDeliveries: [],
  };

  const sendTimes = new Map<string, number[]>(); // phone number id → accepted send/inbound times
  const pairTimes = new Map<string, number[]>(); // "pnid|to" → accepted send times
  const media = new Map<string, StoredMedia>();
  const mediaUrls = new Map<string, { mediaId: string; expiresAt: number }>();
  const signupCodes = new Map<string, { businessToken: string; used: boolean }>();
  let baseUrl = '';

  function slidingCount(map: Map<string, number[]>, key: string, windowMs: number): number[] {
    const cutoff = now() - windowMs;
    const kept = (map.get(key) ?? []).filter((t) => t > cutoff);
    map.set(key, kept);
    return kept;
  }

  function takeScripted(endpoint: FakeEndpoint, text?: string): FakeError | null {
    const index = scripted.findIndex((s) => ((s.endpoint ?? 'messages') === endpoint || s.endpoint === 'any') && (s.text === undefined || s.text === text));
    if (index === -1) return null;
    const [s] = scripted.splice(index, 1);
    if (s === undefined) return null;
    state.rejections.scripted++;
    const extra: { subcode?: number; details?: string; type?: string; retryAfterSeconds?: number } = {};
    if (s.subcode !== undefined) extra.subcode = s.subcode;
    if (s.details !== undefined) extra.details = s.details;
    if (s.type !== undefined) extra.type = s.type;
    if (s.retryAfterSeconds !== undefined) extra.retryAfterSeconds = s.retryAfterSeconds;
    return new FakeError(s.httpStatus ?? 400, s.code, s.message ?? `(#${s.code}) Scripted error`, extra);
  }

  function checkBearer(req: IncomingMessage, query: Record<string, string>): FakeError | null {
    const header = req.headers.authorization ?? '';
    const token = header.startsWith('Bearer ') ? header.slice('Bearer '.length) : (query.access_token ?? '');
    if (token === '') {
      return new FakeError(401, 190, 'An active access token must be used to query information about the current user.');
    }
    if (!acceptedTokens.has(token)) return new FakeError(401, 190, 'Invalid OAuth access token - Cannot parse access token');
    return null;
  }

  // --- /messages -----------------------------------------------------------------------------

  function validateMessage(m: MessageBody): FakeError | null {
    if (m.messaging_product !== 'whatsapp') return param100('The parameter messaging_product is required.');
    const hasTo = m.to !== undefined && m.to.trim() !== '';
    const hasRecipient = m.recipient !== undefined && m.recipient.trim() !== '';
    if (!hasTo && !hasRecipient) return param100('The parameter to is required.');
    if (hasRecipient && !hasTo && !isFakeBsuid(m.recipient ?? '')) return param100('Invalid parameter', 'recipient must be a business-scoped user ID');
    const type = m.type ?? 'text';
    if (!(MESSAGE_TYPES as readonly string[]).includes(type)) {
      return param100(`Param type must be one of {${MESSAGE_TYPES.join(', ')}} - got "${type}".`);
    }
    if (type === 'text') {
      const body = m.text?.body;
      if (body === undefined || body === '') return param100("The parameter text['body'] is required.");
      if (body.length > 4096) return param100("Param text['body'] must be at most 4096 characters long.");
    }
    if (MEDIA_TYPES.has(type)) {
      const obj = m[type as 'image' | 'audio' | 'video' | 'document' | 'sticker'];
      if (obj === undefined || (obj.id === undefined && obj.link === undefined)) {
        return param100(`Param ${type} must contain either id or link.`);
      }
    }
    if (type === 'interactive') {
      const i = m.interactive;
      if (i === undefined || (i.type !== 'button' && i.type !== 'list')) return param100("The parameter interactive['type'] is required.");
      const buttons = i.action?.buttons?.length ?? 0;
      if (i.type === 'button' && (buttons < 1 || buttons > 3)) {
        return new FakeError(400, 131009, '(#131009) Parameter value is not valid', { details: 'Buttons count should be between 1 and 3' });
      }
      const rows = (i.action?.sections ?? []).reduce((n, s) => n + (s.rows?.length ?? 0), 0);
      if (i.type === 'list' && (rows < 1 || rows > 10)) {
        return new FakeError(400, 131009, '(#131009) Parameter value is not valid', { details: 'Total row count exceed max allowed count: 10' });
      }
    }
    if (type === 'reaction' && (m.reaction?.message_id === undefined || m.reaction.emoji === undefined)) {
      return param100("The parameters reaction['message_id'] and reaction['emoji'] are required.");
    }
    if (type === 'template' && (m.template?.name === undefined || m.template.language?.code === undefined)) {
      return param100("The parameters template['name'] and template['language']['code'] are required.");
    }
    return null;
  }

  function checkTemplate(m: MessageBody): { error: FakeError | null; template: FakeTemplate | null } {
    const name = m.template?.name ?? '';
    const language = m.template?.language?.code ?? '';
    const template = behaviour.templates.find((t) => t.name === name && t.language === language);
    if (template === undefined) {
      return {
        error: new FakeError(404, 132001, '(#132001) Template name does not exist in the translation', {
          details: `template name (${name}) does not exist in ${language}`,
        }),
        template: null,
      };
    }
    if (template.status === 'PAUSED') {
      return { error: new FakeError(400, 132015, '(#132015) Template is paused', { details: `Template ${name} is paused due to low quality` }), template };
    }
    if (template.status === 'DISABLED') {
      return { error: new FakeError(400, 132016, '(#132016) Template is disabled', { details: `Template ${name} has been disabled` }), template };
    }
    if (template.parameterFormat === 'NAMED') {
      // Meta matches named parameters by parameter_name; a missing or unknown name is 132000 too.
      const expected = placeholderNames(fakeTemplateBody(template)).sort();
      const body = (m.template?.components ?? []).find((c) => c.type === 'body');
      const given = (body?.parameters ?? []).map((p) => (typeof p.parameter_name === 'string' ? p.parameter_name : '')).sort();
      if (JSON.stringify(given) !== JSON.stringify(expected)) {
        return {
          error: new FakeError(400, 132000, '(#132000) Number of parameters does not match the expected number of params', {
            details: `body: named parameters (${given.join(', ')}) do not match the template's (${expected.join(', ')})`,
          }),
          template,
        };
      }
    } else if (template.bodyParameters !== undefined) {
      const body = (m.template?.components ?? []).find((c) => c.type === 'body');
      const count = body?.parameters?.length ?? 0;
      if (count !== template.bodyParameters) {
        return {
          error: new FakeError(400, 132000, '(#132000) Number of parameters does not match the expected number of params', {
            details: `body: number of localizable_params (${count}) does not match the expected number of params (${template.bodyParameters})`,
          }),
          template,
        };
      }
    }
    return { error: null, template };
  }

  async function handleMessages(phoneNumberId: string, json: unknown): Promise<{ status: number; body: unknown }> {
    const parsed = messageBodySchema.safeParse(json);
    if (!parsed.success) throw param100('Invalid parameter', 'request body must be a JSON object');
    const m = parsed.data;

    if (m.status !== undefined) {
      // Mark as read (and typing indicator).
      const scriptedError = takeScripted('mark_read');
      if (scriptedError) throw scriptedError;
      if (m.messaging_product !== 'whatsapp') throw param100('The parameter messaging_product is required.');
      if (m.status !== 'read') throw param100(`Param status must be "read" - got "${m.status}".`);
      if (m.message_id === undefined || m.message_id === '') throw param100('The parameter message_id is required.');
      state.readReceipts.push({ phoneNumberId, wamid: m.message_id, typing: m.typing_indicator?.type === 'text', at: now() });
      return { status: 200, body: { success: true } };
    }

    const scriptedError = takeScripted('messages', m.text?.body);
    if (scriptedError) throw scriptedError;

    // Throughput first: Meta's limiter sits in front of message validation.
    const times = slidingCount(sendTimes, phoneNumberId, 1000);
    if (times.length >= behaviour.mps) {
      state.rejections.throughput[phoneNumberId] = (state.rejections.throughput[phoneNumberId] ?? 0) + 1;
      throw new FakeError(400, 130429, '(#130429) Rate limit hit', {
        details: 'Cloud API message throughput has been reached.',
      });
    }

    const invalid = validateMessage(m);
    if (invalid) throw invalid;
    // The phone wins when both are given (like other BSPs document); else the BSUID in `recipient`.
    const addressField: SentMessageRecord['addressField'] = m.to !== undefined && m.to.trim() !== '' ? 'to' : 'recipient';
    const to = (addressField === 'to' ? m.to : m.recipient) ?? '';
    const dropped = addressField === 'to' && isFakeBsuid(to);
    const type = m.type ?? 'text';
    const pairKey = `${phoneNumberId}|${digitsOf(to)}`;
    if (behaviour.pairRate) {
      const pair = slidingCount(pairTimes, pairKey, behaviour.pairRate.windowMs);
      if (pair.length >= behaviour.pairRate.limit) {
        state.rejections.pairRate[phoneNumberId] = (state.rejections.pairRate[phoneNumberId] ?? 0) + 1;
        throw new FakeError(400, 131056, '(#131056) (Business Account, Consumer Account) pair rate limit hit', {
          details:
            'Message failed to send because there were too many messages sent from this phone number to the same phone number in a short period of time.',
        });
      }
    }

    let messageStatus: SentMessageRecord['messageStatus'] = 'accepted';
    if (type === 'template') {
      const { error, template } = checkTemplate(m);
      if (error) throw error;
      if (template?.category === 'AUTHENTICATION' && addressField === 'recipient') {
        throw new FakeError(400, 131062, '(#131062) Business-scoped user ID recipient not supported for authentication templates', {
          details: 'Authentication templates cannot be sent to a business-scoped user ID. Send to the user\'s phone number instead.',
        });
      }
      if (template?.held) messageStatus = 'held_for_quality_assessment';
    }

    const windowClosed = type !== 'template' && behaviour.windowClosedFor.has(digitsOf(to));
    if (windowClosed && behaviour.windowErrorMode === 'sync') {
      state.rejections.window++;
      throw new FakeError(400, 131047, '(#131047) Re-engagement message', {
        details: 'Message failed to send because more than 24 hours have passed since the customer last replied to this number.',
      });
    }

    times.push(now());
    if (behaviour.pairRate) pairTimes.get(pairKey)?.push(now());
    const wamid = newWamid();
    state.sent.push({ wamid, phoneNumberId, to, addressField, dropped, type, body: m as Record<string, unknown>, messageStatus, at: now() });

    if (windowClosed) {
      // 'async': Meta accepted the call; the failure arrives as a status webhook.
      state.rejections.window++;
      if (options.statusWebhook) {
        const { callbackUrl, appSecret } = options.statusWebhook;
        void emitStatuses(callbackUrl, appSecret, wamid, [
          {
            status: 'failed',
            errors: [
              {
                code: 131047,
                title: 'Re-engagement message',
                message: 'Re-engagement message',
                details: 'Message failed to send because more than 24 hours have passed since the customer last replied to this number.',
              },
            ],
          },
        ]).catch(() => undefined);
      }
    }

    const message: Record<string, string> = { id: wamid };
    if (type === 'template') message.message_status = messageStatus;
    return {
      status: 200,
      body: {
        messaging_product: 'whatsapp',
        contacts: [addressField === 'recipient' ? { input: to, user_id: to } : { input: to, wa_id: dropped ? '' : digitsOf(to) }],
        messages: [message],
      },
    };
  }

  // --- media -----------------------------------------------------------------------------------

  function handleMediaLookup(mediaId: string, query: Record<string, string>): { status: number; body: unknown } {
    const scriptedError = takeScripted('media');
    if (scriptedError) throw scriptedError;
    const item = media.get(mediaId);
    if (item === undefined) throw noSuchObject(mediaId, 'GET');
    if (query.phone_number_id !== undefined && item.phoneNumberId !== undefined && query.phone_number_id !== item.phoneNumberId) {
      throw param100('Invalid parameter', `media ${mediaId} does not belong to phone number ${query.phone_number_id}`);
    }
    state.mediaLookups++;
    const token = randomBytes(16).toString('hex');
    const expiresAt = now() + behaviour.mediaTtlMs;
    mediaUrls.set(token, { mediaId, expiresAt });
    const url = `${baseUrl}/lookaside/whatsapp_business/attachments/?mid=${encodeURIComponent(mediaId)}&ext=${Math.floor(expiresAt / 1000)}&hash=${token}`;
    return {
      status: 200,
      body: {
        messaging_product: 'whatsapp',
        url,
        mime_type: item.mimeType,
        sha256: item.declaredSha256,
        // Meta's OpenAPI: file_size is a string (the client also copes with a number).
        file_size: String(item.bytes.length),
        id: mediaId,
      },
    };
  }

  function handleLookaside(req: IncomingMessage, res: ServerResponse, query: Record<string, string>): number {
    const plain = (status: number, text: string): number => {
      res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(text);
      return status;
    };
    const scriptedError = takeScripted('lookaside');
    if (scriptedError) return plain(scriptedError.httpStatus, 'scripted lookaside failure');
    const header = req.headers.authorization ?? '';
    if (!header.startsWith('Bearer ') || !acceptedTokens.has(header.slice('Bearer '.length))) return plain(401, 'Unauthorized');
    const entry = mediaUrls.get(query.hash ?? '');
    if (entry === undefined || entry.expiresAt <= now() || entry.mediaId !== query.mid) return plain(404, 'Not Found');
    const item = media.get(entry.mediaId);
    if (item === undefined) return plain(404, 'Not Found');
    state.mediaDownloads++;
    res.writeHead(200, { 'content-type': item.mimeType, 'content-length': String(item.bytes.length) });
    res.end(item.bytes);
    return 200;
  }

  // --- onboarding ----------------------------------------------------------------------------------

  function handleOauth(query: Record<string, string>): { status: number; body: unknown } {
    const scriptedError = takeScripted('oauth');
    if (scriptedError) throw scriptedError;
    if (query.redirect_uri !== undefined) {
      throw new FakeError(400, 100, 'Error validating verification code. Please make sure your redirect_uri is identical to the one you used in the OAuth dialog request', {
        subcode: 36008,
      });
    }
    if (query.client_id !== oauth.appId) throw new FakeError(400, 101, 'Error validating application. Invalid application ID.');
    if (query.client_secret !== oauth.appSecret) throw new FakeError(400, 1, 'Error validating client secret.');
    const code = signupCodes.get(query.code ?? '');
    if (code === undefined) throw new FakeError(400, 100, 'Invalid verification code format.', { subcode: 36007 });
    if (code.used) throw new FakeError(400, 100, 'This authorization code has been used.', { subcode: 36009 });
    code.used = true;
    acceptedTokens.add(code.businessToken);
    state.issuedTokens.push(code.businessToken);
    return { status: 200, body: { access_token: code.businessToken, token_type: 'bearer' } };
  }

  function knownWaba(wabaId: string): boolean {
    return [...phoneNumbers.values()].some((p) => p.wabaId === wabaId);
  }

  async function handleSubscribe(method: string, wabaId: string, json: unknown): Promise<{ status: number; body: unknown }> {
    const scriptedError = takeScripted('subscribed_apps');
    if (scriptedError) throw scriptedError;
    if (!knownWaba(wabaId)) throw noSuchObject(wabaId, method);
    if (method === 'GET') {
      return {
        status: 200,
        body: {
          data: state.subscriptions
            .filter((s) => s.wabaId === wabaId)
            .map((s) => ({
              whatsapp_business_api_data: { id: oauth.appId, name: 'CoEx test app', link: 'https://www.facebook.com/games/?app_id=' + oauth.appId },
              ...(s.overrideCallbackUri === null ? {} : { override_callback_uri: s.overrideCallbackUri }),
            })),
        },
      };
    }
    const body = z.looseObject({ override_callback_uri: z.string().optional(), verify_token: z.string().optional() }).safeParse(json ?? {});
    const uri = body.success ? (body.data.override_callback_uri ?? null) : null;
    const verifyToken = body.success ? (body.data.verify_token ?? null) : null;
    if (uri !== null && verifyToken === null) throw param100('The parameter verify_token is required.');
    if (uri !== null && options.verifyOverrideCallbacks) {
      const challenge = String(Math.floor(Math.random() * 1e9));
      const check = new URL(uri);
      check.searchParams.set('hub.mode', 'subscribe');
      check.searchParams.set('hub.challenge', challenge);
      check.searchParams.set('hub.verify_token', verifyToken ?? '');
      let answer = '';
      let status = 0;
      try {
        const res = await fetch(check);
        status = res.status;
        answer = await res.text();
      } catch {
        status = 0;
      }
      if (status !== 200 || answer !== challenge) {
        throw new FakeError(400, 2200, `(#2200) Callback verification failed with the following errors: HTTP Status Code = ${status}; HTTP Message = challenge mismatch`);
      }
    }
    const existing = state.subscriptions.findIndex((s) => s.wabaId === wabaId);
    const record = { wabaId, overrideCallbackUri: uri, verifyToken };
    if (existing === -1) state.subscriptions.push(record);
    else state.subscriptions[existing] = record;
    return { status: 200, body: { success: true } };
  }

  /** /{app-id}/subscriptions: only the app access token (`app_id|app_secret`) may read or change them. */
  async function handleAppSubscriptions(req: IncomingMessage, method: string, query: Record<string, string>, json: unknown): Promise<{ status: number; body: unknown }> {
    const header = req.headers.authorization ?? '';
    const token = header.startsWith('Bearer ') ? header.slice('Bearer '.length) : (query.access_token ?? '');
    if (token !== `${oauth.appId}|${oauth.appSecret}`) throw new FakeError(400, 190, 'Invalid OAuth access token - an app access token is required');
    if (method === 'GET') {
      return {
        status: 200,
        body: { data: state.appSubscriptions.map((a) => ({ object: a.object, callback_url: a.callbackUrl, active: true, fields: a.fields.map((name) => ({ name, version: 'v25.0' })) })) },
      };
    }
    const body = z.looseObject({ object: z.string().min(1), callback_url: z.string().min(1), fields: z.string().min(1), verify_token: z.string().min(1) }).safeParse(json ?? {});
    if (!body.success) throw param100('The parameters object, callback_url, fields and verify_token are required.');
    if (options.verifyOverrideCallbacks) {
      const challenge = String(Math.floor(Math.random() * 1e9));
      const check = new URL(body.data.callback_url);
      check.searchParams.set('hub.mode', 'subscribe');
      check.searchParams.set('hub.challenge', challenge);
      check.searchParams.set('hub.verify_token', body.data.verify_token);
      const answer = await fetch(check).then(async (r) => (r.status === 200 ? await r.text() : ''), () => '');
      if (answer !== challenge) throw new FakeError(400, 2200, '(#2200) Callback verification failed with the following errors: challenge mismatch');
    }
    const record = { object: body.data.object, callbackUrl: body.data.callback_url, fields: body.data.fields.split(',').map((f) => f.trim()).filter(Boolean), verifyToken: body.data.verify_token };
    const existing = state.appSubscriptions.findIndex((a) => a.object === record.object);
    if (existing === -1) state.appSubscriptions.push(record);
    else state.appSubscriptions[existing] = record;
    return { status: 200, body: { success: 'true' } };
  }

  function handlePhoneNumbers(version: string, wabaId: string, query: Record<string, string>): { status: number; body: unknown } {
    const scriptedError = takeScripted('phone_numbers');
    if (scriptedError) throw scriptedError;
    if (!knownWaba(wabaId)) throw noSuchObject(wabaId, 'GET');
    const fields = parseFields(query.fields) ?? DEFAULT_PHONE_FIELDS;
    const all = [...phoneNumbers.values()].filter((p) => p.wabaId === wabaId);
    const limit = query.limit !== undefined ? Math.max(1, Number(query.limit)) : behaviour.phoneNumbersPageSize;
    const start = query.after !== undefined ? Number(Buffer.from(query.after, 'base64url').toString('utf8')) : 0;
    const page = all.slice(start, start + limit);
    const cursor = (i: number): string => Buffer.from(String(i), 'utf8').toString('base64url');
    const paging: Record<string, unknown> = { cursors: { before: cursor(start), after: cursor(start + page.length) } };
    if (start + page.length < all.length) {
      paging.next = `${baseUrl}/${version}/${wabaId}/phone_numbers?limit=${limit}&after=${cursor(start + page.length)}`;
    }
    return { status: 200, body: { data: page.map((p) => phoneNumberJson(p, fields)), paging } };
  }

  /**
   * GET /{waba-id}/message_templates: Meta's shape (name, language, status, category, id,
   * parameter_format, components with HEADER / BODY / BUTTONS), `status` filter (comma-separated),
   * `limit` (default 25) and `after` cursors. The fake's templates belong to every WABA it knows.
   */
  function handleMessageTemplates(version: string, wabaId: string, query: Record<string, string>): { status: number; body: unknown } {
    const scriptedError = takeScripted('message_templates');
    if (scriptedError) throw scriptedError;
    if (!knownWaba(wabaId)) throw noSuchObject(wabaId, 'GET');
    const statuses = query.status?.split(',').map((x) => x.trim().toUpperCase()).filter((x) => x !== '');
    const all = behaviour.templates.filter((t) => !statuses?.length || statuses.includes(t.status ?? 'APPROVED'));
    const limit = query.limit !== undefined ? Math.max(1, Number(query.limit)) : 25;
    const start = query.after !== undefined ? Number(Buffer.from(query.after, 'base64url').toString('utf8')) : 0;
    const page = all.slice(start, start + limit);
    const cursor = (i: number): string => Buffer.from(String(i), 'utf8').toString('base64url');
    const paging: Record<string, unknown> = { cursors: { before: cursor(start), after: cursor(start + page.length) } };
    if (start + page.length < all.length) {
      const status = query.status ? `&status=${encodeURIComponent(query.status)}` : '';
      paging.next = `${baseUrl}/${version}/${wabaId}/message_templates?limit=${limit}${status}&after=${cursor(start + page.length)}`;
    }
    const data = page.map((t) => {
      const body = fakeTemplateBody(t);
      const names = placeholderNames(body);
      const components: Array<Record<string, unknown>> = [];
      if (t.header) components.push({ type: 'HEADER', format: t.header.format, ...(t.header.text !== undefined ? { text: t.header.text } : {}) });
      const example = names.length === 0 ? {} : t.parameterFormat === 'NAMED' ? { example: { body_text_named_params: names.map((n) => ({ param_name: n, example: `${n} example` })) } } : { example: { body_text: [names.map((n) => `example ${n}`)] } };
      components.push({ type: 'BODY', text: body, ...example });
      if (t.buttons?.length) components.push({ type: 'BUTTONS', buttons: t.buttons.map((b) => ({ type: b.type, text: b.text, ...(b.url ? { url: b.url } : {}) })) });
      const id = createHash('sha256').update(`${t.name}/${t.language}`).digest().readBigUInt64BE(0).toString().slice(0, 16);
      return { name: t.name, parameter_format: t.parameterFormat ?? 'POSITIONAL', components, language: t.language, status: t.status ?? 'APPROVED', category: t.category ?? 'UTILITY', id };
    });
    return { status: 200, body: { data, paging } };
  }

  function parseFields(raw: string | undefined): string[] | null {
    if (raw === undefined) return null;
    const fields = raw.split(',').map((f) => f.trim()).filter((f) => f !== '');
    for (const f of fields) {
      if (!PHONE_FIELD_NAMES.has(f)) {
        throw param100(`Tried accessing nonexisting field (${f}) on node type (WhatsAppBusinessPhoneNumber)`);
      }
    }
    return fields;
  }

  function handleSmbAppData(phoneNumberId: string, json: unknown): { status: number; body: unknown } {
    const scriptedError = takeScripted('smb_app_data');
    if (scriptedError) throw scriptedError;
    const body = z.looseObject({ messaging_product: z.string().optional(), sync_type: z.string().optional() }).safeParse(json ?? {});
    const syncType = body.success ? body.data.sync_type : undefined;
    if (!body.success || body.data.messaging_product !== 'whatsapp') throw param100('The parameter messaging_product is required.');
    if (syncType !== 'smb_app_state_sync' && syncType !== 'history') {
      throw param100(`Param sync_type must be one of {smb_app_state_sync, history} - got "${syncType ?? ''}".`);
    }
    if (state.smbAppDataRequests.some((r) => r.phoneNumberId === phoneNumberId && r.syncType === syncType)) {
      throw param100('Invalid parameter', `sync_type ${syncType} was already requested for this phone number (fake: Meta's exact error is undocumented)`);
    }
    const requestId = `req_${randomBytes(8).toString('hex')}`;
    state.smbAppDataRequests.push({ phoneNumberId, syncType, requestId });
    return { status: 200, body: { messaging_product: 'whatsapp', request_id: requestId } };
  }

  // --- dispatch ------------------------------------------------------------------------------------

  async function route(req: IncomingMessage, res: ServerResponse, recorded: RecordedRequest): Promise<{ status: number; body: unknown } | number> {
    const method = recorded.method;
    const query = recorded.query;
    if (recorded.path.startsWith('/lookaside/')) return handleLookaside(req, res, query);

    const match = /^\/(v\d+\.\d+)\/(.+?)\/?$/.exec(recorded.path);
    if (!match?.[2]) throw new FakeError(400, 100, 'Unknown path components: ' + recorded.path);
    const segments = match[2].split('/').map(decodeURIComponent);

    if (segments[0] === 'oauth' && segments[1] === 'access_token' && method === 'GET') return handleOauth(query);
    if (segments[0] === oauth.appId && segments[1] === 'subscriptions' && (method === 'GET' || method === 'POST')) return handleAppSubscriptions(req, method, query, recorded.json);

    const [id = '', edge] = segments;

    const authError = checkBearer(req, query);
    if (authError) throw authError;

    if (edge === 'messages' && method === 'POST') {
      if (!phoneNumbers.has(id)) throw noSuchObject(id, 'POST');
      return handleMessages(id, recorded.json);
    }
    if (edge === 'smb_app_data' && method === 'POST') {
      if (!phoneNumbers.has(id)) throw noSuchObject(id, 'POST');
      return handleSmbAppData(id, recorded.json);
    }
    if (edge === 'subscribed_apps' && (method === 'POST' || method === 'GET')) return handleSubscribe(method, id, recorded.json);
    if (edge === 'phone_numbers' && method === 'GET') return handlePhoneNumbers(match[1] ?? 'v25.0', id, query);
    if (edge === 'message_templates' && method === 'GET') return handleMessageTemplates(match[1] ?? 'v25.0', id, query);
    if (edge === undefined && method === 'GET') {
      if (media.has(id)) return handleMediaLookup(id, query);
      const phone = phoneNumbers.get(id);
      if (phone !== undefined) {
        const scriptedError = takeScripted('phone_number');
        if (scriptedError) throw scriptedError;
        return { status: 200, body: phoneNumberJson(phone, parseFields(query.fields) ?? DEFAULT_PHONE_FIELDS) };
      }
      // An unknown id could be expired media or a wrong number: Meta answers the same for both.
      const scriptedError = takeScripted('media');
      if (scriptedError) throw scriptedError;
      throw noSuchObject(id, 'GET');
    }
    throw noSuchObject(id, method);
  }

  async function readBody(req: IncomingMessage): Promise<string> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  }

  function parseBody(raw: string, contentType: string | undefined): unknown {
    if (raw === '') return undefined;
    if (contentType?.includes('application/x-www-form-urlencoded')) return Object.fromEntries(new URLSearchParams(raw));
    try {
      return JSON.parse(raw);
    } catch {
      return undefined;
    }
  }

  const server: Server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://fake');
      const rawBody = await readBody(req);
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v;
      const recorded: RecordedRequest = {
        method: req.method ?? 'GET',
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        headers,
        rawBody,
        json: parseBody(rawBody, req.headers['content-type']),
        receivedAt: now(),
      };
      requests.push(recorded);
      try {
        // Meta's OpenAPI first (graph-openapi.ts): a request it forbids gets Meta's invalid-parameter answer.
        const operation = graphOperationOf(recorded.method, recorded.path, (id) => media.has(id));
        // Auth first, as Meta does (190 before any parameter check).
        const authError = operation ? checkBearer(req, recorded.query) : null;
        if (authError) throw authError;
        const readReceipt = operation === 'sendMessage' && isReadReceipt(recorded.json);
        const requestViolation = operation ? contract.checkRequest(operation, { headers, body: readReceipt ? undefined : recorded.json, rawBody: readReceipt ? '' : rawBody }) : null;
        if (requestViolation) {
          (recorded.contractViolations ??= []).push(requestViolation);
          contractViolations.push(requestViolation);
          throw param100(metaParameterMessage(requestViolation), `Request does not match Meta's OpenAPI for ${requestViolation.operation}: ${requestViolation.errors.join('; ')}`);
        }
        const result = await route(req, res, recorded);
        if (typeof result === 'number') {
          recorded.responseStatus = result;
          return;
        }
        const responseViolation = operation && !readReceipt ? contract.checkResponse(operation, result.status, result.body) : null;
        if (responseViolation) {
          // A fake bug, not a client bug: fail loudly so the test that met it fails.
          (recorded.contractViolations ??= []).push(responseViolation);
          contractViolations.push(responseViolation);
          throw new FakeError(500, 1, `fake bug: the fake's answer does not match Meta's OpenAPI: ${responseViolation.errors.join('; ')}`);
        }
        recorded.responseStatus = result.status;
        res.writeHead(result.status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(result.body));
      } catch (error) {
        const fe = error instanceof FakeError ? error : new FakeError(500, 1, `An unknown error occurred (fake bug: ${String(error)})`);
        recorded.responseStatus = fe.httpStatus;
        const h: Record<string, string> = { 'content-type': 'application/json', 'www-authenticate': 'OAuth "Facebook Platform"' };
        if (fe.retryAfterSeconds !== undefined) h['retry-after'] = String(fe.retryAfterSeconds);
        res.writeHead(fe.httpStatus, h);
        res.end(JSON.stringify(fe.body));
      }
    })();
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  const address = server.address() as AddressInfo;
  baseUrl = `http://${options.host ?? '127.0.0.1'}:${address.port}`;

  async function emitStatuses(callbackUrl: string, appSecret: string, wamid: string, statuses: FakeStatus[]): Promise<WebhookDelivery[]> {
    const sent = state.sent.find((s) => s.wamid === wamid);
    if (sent === undefined) throw new Error(`emitStatuses: the fake never sent ${wamid}`);
    const phone = phoneNumbers.get(sent.phoneNumberId);
    if (phone === undefined) throw new Error(`emitStatuses: unknown phone number ${sent.phoneNumberId}`);
    // A BSUID in `to`: accepted, never delivered, so no status ever comes.
    if (sent.dropped) return [];
    const template = sent.type === 'template' ? behaviour.templates.find((t) => t.name === (sent.body.template as { name?: string } | undefined)?.name) : undefined;
    const deliveries: WebhookDelivery[] = [];
    let second = Math.floor(now() / 1000);
    for (const spec of statuses) {
      const statusName = typeof spec === 'string' ? spec : spec.status;
      const status: Record<string, unknown> = {
        id: wamid,
        status: statusName,
        timestamp: String(second++),
        recipient_id: sent.addressField === 'recipient' ? '' : digitsOf(sent.to),
      };
      if (sent.addressField === 'recipient') status.recipient_user_id = sent.to;
      if (statusName === 'sent') {
        status.pricing = { billable: true, pricing_model: 'PMP', category: template?.category?.toLowerCase() ?? 'service' };
      }
      const opaque = sent.body.biz_opaque_callback_data;
      if (typeof opaque === 'string') status.biz_opaque_callback_data = opaque;
      if (typeof spec !== 'string') {
        status.errors = spec.errors.map((e) => ({
          code: e.code,
          title: e.title,
          message: e.message ?? e.title,
          error_data: { details: e.details ?? e.title },
        }));
      }
      const payload = {
        object: 'whatsapp_business_account',
        entry: [
          {
            id: phone.wabaId,
            changes: [
              {
                field: 'messages',
                value: {
                  messaging_product: 'whatsapp',
                  metadata: { display_phone_number: phone.displayPhoneNumber, phone_number_id: phone.id },
                  statuses: [status],
                },
              },
            ],
          },
        ],
      };
      const rawBody = metaJson(payload);
      const res = await fetch(callbackUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-hub-signature-256': signBody(rawBody, appSecret), 'user-agent': 'facebookexternalua' },
        body: rawBody,
      });
      await res.arrayBuffer();
      const delivery = { url: callbackUrl, status: res.status, rawBody };
      state.webhookDeliveries.push(delivery);
      deliveries.push(delivery);
    }
    return deliveries;
  }

  return {
    url: baseUrl,
    requests,
    state,
    contractViolations,
    setBehaviour(b: FakeBehaviour): void {
      if (b.mps !== undefined) {
        if (!Number.isInteger(b.mps) || b.mps < 1) throw new RangeError('mps must be a positive integer');
        behaviour.mps = b.mps;
      }
      if (b.pairRate !== undefined) behaviour.pairRate = b.pairRate;
      if (b.windowClosedFor !== undefined) behaviour.windowClosedFor = new Set(b.windowClosedFor.map(digitsOf));
      if (b.windowErrorMode !== undefined) behaviour.windowErrorMode = b.windowErrorMode;
      if (b.mediaTtlMs !== undefined) behaviour.mediaTtlMs = b.mediaTtlMs;
      if (b.templates !== undefined) behaviour.templates = b.templates;
      if (b.phoneNumbersPageSize !== undefined) behaviour.phoneNumbersPageSize = b.phoneNumbersPageSize;
      if (b.scriptedErrors !== undefined) scripted.push(...b.scriptedErrors);
    },
    addMedia(input: AddMediaInput): string {
      const id = input.id ?? String(10n ** 15n + BigInt(randomBytes(6).readUIntBE(0, 6)));
      const bytes = Buffer.from(input.bytes);
      media.set(id, {
        bytes,
        mimeType: input.mimeType,
        phoneNumberId: input.phoneNumberId,
        declaredSha256: input.declaredSha256 ?? createHash('sha256').update(bytes).digest('hex'),
        fileSizeAsString: input.fileSizeAsString ?? false,
      });
      return id;
    },
    expireMediaUrls(): void {
      for (const entry of mediaUrls.values()) entry.expiresAt = Number.NEGATIVE_INFINITY;
    },
    createSignupCode(): { code: string; businessToken: string } {
      const code = `AQ${randomBytes(24).toString('base64url')}`;
      const businessToken = `EAA${randomBytes(24).toString('base64url')}`;
      signupCodes.set(code, { businessToken, used: false });
      return { code, businessToken };
    },
    simulateInbound(phoneNumberId: string, count = 1): void {
      const times = slidingCount(sendTimes, phoneNumberId, 1000);
      for (let i = 0; i < count; i++) times.push(now());
    },
    emitStatuses,
    close(): Promise<void> {
      return new Promise((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      });
    },
  };
}

// Standalone: `node test/fakes/graph-api.ts '{"mps": 5}'` prints {"url": …} and serves until killed.
if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const cliOptions = process.argv[2] === undefined ? {} : (JSON.parse(process.argv[2]) as GraphApiFakeOptions);
  const fake = await startGraphApiFake(cliOptions);
  process.stdout.write(`${JSON.stringify({ url: fake.url })}\n`);
  const stop = (): void => {
    void fake.close().then(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
