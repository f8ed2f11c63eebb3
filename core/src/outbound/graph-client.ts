/**
 * Client for Meta's Graph API as used by the WhatsApp Cloud API: sending messages, read receipts,
 * media, and the Coexistence onboarding calls. Plain `fetch`, no SDK; every response is zod-parsed.
 *
 * The client never retries by itself: callers (the outbound pacer, the media fetcher) decide with
 * `classifyError` from graph-errors.ts, because the right wait depends on the error and on who else
 * is sending from the same number.
 */
import { z } from 'zod';
import { GraphApiError, GraphProtocolError, GraphTransportError, MediaDownloadError, parseGraphError } from './graph-errors.js';

export const DEFAULT_GRAPH_BASE_URL = 'https://graph.facebook.com';
const DEFAULT_TIMEOUT_MS = 30_000;
const API_CALL_TIMEOUT_MS = 10_000;
/** Hosts that legitimately serve WhatsApp media; the bearer token is sent nowhere else (unless configured). */
const DEFAULT_MEDIA_HOST_SUFFIXES = ['fbsbx.com', 'facebook.com', 'fbcdn.net', 'whatsapp.net'];

// ---------------------------------------------------------------------------------------------
// Outbound message shapes (what callers pass). Limits are Meta's, checked before anything is sent.
// ---------------------------------------------------------------------------------------------

export class InvalidMessageError extends Error {
  override readonly name = 'InvalidMessageError';
}

const recipient = z.string().trim().min(1, 'to (the recipient) is required');

/**
 * A business-scoped user id (BSUID): ISO country code, a dot, then letters/digits (a parent BSUID
 * has `ENT.` in the middle), e.g. `US.13491208655302741918`, `MA.ENT.11815799212886844830`. A phone
 * number (wa_id) has no letters, so the two never collide; the tail is left loose on purpose (Meta
 * documents "up to 128 alphanumeric characters" and may add segments).
 */
const BSUID_PATTERN = /^[A-Za-z]{2}\.[A-Za-z0-9.]{1,140}$/;

export function isBsuid(value: string): boolean {
  return BSUID_PATTERN.test(value.trim());
}
const messageIdRef = z.string().trim().min(1);

/** Media by a previously uploaded/received id, or by a public http(s) link Meta will fetch. */
const mediaRefSchema = z.union([
  z.strictObject({ id: z.string().min(1) }),
  z.strictObject({ link: z.url({ protocol: /^https?$/, error: 'link must be an http(s) URL' }) }),
]);
export type MediaRef = z.infer<typeof mediaRefSchema>;

const commonFields = {
  /** The customer: a phone number (wa_id digits) or, for a customer known only by it, a BSUID. */
  to: recipient,
  /** wamid of the message being quoted (a "reply"). */
  replyTo: messageIdRef.optional(),
  /** Echoed back by Meta on every status webhook for this message (max 512 chars). */
  bizOpaqueCallbackData: z.string().max(512).optional(),
};

const textMessageSchema = z.strictObject({
  type: z.literal('text'),
  ...commonFields,
  body: z.string().min(1, 'text body must not be empty').max(4096, 'text body must be at most 4096 characters'),
  previewUrl: z.boolean().optional(),
});

// Template parameters ---------------------------------------------------------------------------
const parameterName = z.string().min(1).optional(); // named parameters ({{first_name}}) instead of positional
const textParam = z.strictObject({ type: z.literal('text'), text: z.string(), parameterName });
const currencyParam = z.strictObject({
  type: z.literal('currency'),
  fallbackValue: z.string().min(1),
  code: z.string().regex(/^[A-Z]{3}$/, 'currency code must be ISO 4217, e.g. MAD'),
  /** Amount × 1000 (12.50 MAD → 12500). */
  amount1000: z.number().int(),
  parameterName,
});
const dateTimeParam = z.strictObject({ type: z.literal('date_time'), fallbackValue: z.string().min(1), parameterName });
const imageParam = z.strictObject({ type: z.literal('image'), image: mediaRefSchema });
const videoParam = z.strictObject({ type: z.literal('video'), video: mediaRefSchema });
const documentParam = z.strictObject({
  type: z.literal('document'),
  document: mediaRefSchema,
  filename: z.string().min(1).optional(),
});
const payloadParam = z.strictObject({ type: z.literal('payload'), payload: z.string().min(1) });

const templateComponentSchema = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('header'),
    parameters: z.array(z.discriminatedUnion('type', [textParam, imageParam, videoParam, documentParam])).min(1),
  }),
  z.strictObject({
    type: z.literal('body'),
    parameters: z.array(z.discriminatedUnion('type', [textParam, currencyParam, dateTimeParam])).min(1),
  }),
  z
    .strictObject({
      type: z.literal('button'),
      subType: z.enum(['quick_reply', 'url']),
      /** Position of the button in the template (0-based). */
      index: z.number().int().min(0).max(9),
      parameters: z.array(z.discriminatedUnion('type', [payloadParam, textParam])).min(1),
    })
    .superRefine((button, ctx) => {
      const expected = button.subType === 'quick_reply' ? 'payload' : 'text';
      if (button.parameters.some((p) => p.type !== expected)) {
        ctx.addIssue({ code: 'custom', message: `a ${button.subType} button takes ${expected} parameters` });
      }
    }),
]);
export type TemplateComponent = z.infer<typeof templateComponentSchema>;

const templateMessageSchema = z.strictObject({
  type: z.literal('template'),
  ...commonFields,
  name: z.string().min(1).max(512),
  /** e.g. "fr", "ar", "en_US". */
  languageCode: z.string().min(2),
  components: z.array(templateComponentSchema).optional(),
});

// Media messages ----------------------------------------------------------------------------------
const caption = z.string().max(1024, 'caption must be at most 1024 characters').optional();
const imageMessageSchema = z.strictObject({ type: z.literal('image'), ...commonFields, media: mediaRefSchema, caption });
const videoMessageSchema = z.strictObject({ type: z.literal('video'), ...commonFields, media: mediaRefSchema, caption });
const audioMessageSchema = z.strictObject({ type: z.literal('audio'), ...commonFields, media: mediaRefSchema });
const stickerMessageSchema = z.strictObject({ type: z.literal('sticker'), ...commonFields, media: mediaRefSchema });
const documentMessageSchema = z.strictObject({
  type: z.literal('document'),
  ...commonFields,
  media: mediaRefSchema,
  caption,
  filename: z.string().min(1).max(240).optional(),
});

// Interactive messages ----------------------------------------------------------------------------
const interactiveHeaderSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('text'), text: z.string().min(1).max(60, 'header text must be at most 60 characters') }),
  z.strictObject({ type: z.literal('image'), media: mediaRefSchema }),
  z.strictObject({ type: z.literal('video'), media: mediaRefSchema }),
  z.strictObject({ type: z.literal('document'), media: mediaRefSchema, filename: z.string().min(1).optional() }),
]);
const footer = z.string().min(1).max(60, 'footer must be at most 60 characters').optional();

const replyButtonsSchema = z
  .strictObject({
    type: z.literal('button'),
    header: interactiveHeaderSchema.optional(),
    body: z.string().min(1).max(1024, 'button message body must be at most 1024 characters'),
    footer,
    buttons: z
      .array(
        z.strictObject({
          id: z.string().min(1).max(256, 'button id must be at most 256 characters'),
          title: z.string().min(1).max(20, 'button title must be at most 20 characters'),
        }),
      )
      .min(1, 'at least one reply button is required')
      .max(3, 'at most 3 reply buttons are allowed'),
  })
  .superRefine((msg, ctx) => {
    if (new Set(msg.buttons.map((b) => b.id)).size !== msg.buttons.length) {
      ctx.addIssue({ code: 'custom', message: 'reply button ids must be unique', path: ['buttons'] });
    }
    if (new Set(msg.buttons.map((b) => b.title)).size !== msg.buttons.length) {
      ctx.addIssue({ code: 'custom', message: 'reply button titles must be unique', path: ['buttons'] });
    }
  });

const listSchema = z
  .strictObject({
    type: z.literal('list'),
    /** List messages accept only a text header. */
    header: z.string().min(1).max(60, 'header text must be at most 60 characters').optional(),
    body: z.string().min(1).max(4096, 'list message body must be at most 4096 characters'),
    footer,
    /** Label of the button that opens the list. */
    button: z.string().min(1).max(20, 'list button label must be at most 20 characters'),
    sections: z
      .array(
        z.strictObject({
          title: z.string().min(1).max(24, 'section title must be at most 24 characters').optional(),
          rows: z
            .array(
              z.strictObject({
                id: z.string().min(1).max(200, 'row id must be at most 200 characters'),
                title: z.string().min(1).max(24, 'row title must be at most 24 characters'),
                description: z.string().min(1).max(72, 'row description must be at most 72 characters').optional(),
              }),
            )
            .min(1, 'every section needs at least one row'),
        }),
      )
      .min(1, 'at least one section is required')
      .max(10, 'at most 10 sections are allowed'),
  })
  .superRefine((msg, ctx) => {
    const rows = msg.sections.flatMap((s) => s.rows);
    if (rows.length > 10) {
      ctx.addIssue({ code: 'custom', message: `at most 10 rows in total are allowed, got ${rows.length}`, path: ['sections'] });
    }
    if (new Set(rows.map((r) => r.id)).size !== rows.length) {
      ctx.addIssue({ code: 'custom', message: 'row ids must be unique across sections', path: ['sections'] });
    }
    if (msg.sections.length > 1 && msg.sections.some((s) => s.title === undefined)) {
      ctx.addIssue({ code: 'custom', message: 'every section needs a title when there is more than one', path: ['sections'] });
    }
  });

const interactiveMessageSchema = z.strictObject({
  type: z.literal('interactive'),
  ...commonFields,
  interactive: z.discriminatedUnion('type', [replyButtonsSchema, listSchema]),
});

const reactionMessageSchema = z.strictObject({
  type: z.literal('reaction'),
  to: recipient,
  /** wamid of the message reacted to. */
  messageId: messageIdRef,
  /** One emoji; an empty string removes the reaction. */
  emoji: z.string().max(32),
  bizOpaqueCallbackData: commonFields.bizOpaqueCallbackData,
});

export const outboundMessageSchema = z.discriminatedUnion('type', [
  textMessageSchema,
  templateMessageSchema,
  imageMessageSchema,
  audioMessageSchema,
  videoMessageSchema,
  documentMessageSchema,
  stickerMessageSchema,
  interactiveMessageSchema,
  reactionMessageSchema,
]);
export type OutboundMessage = z.input<typeof outboundMessageSchema>;
export type OutboundMessageType = OutboundMessage['type'];

/** The JSON body of POST /{phone-number-id}/messages, exactly as Meta documents it. */
/**
 * `to` carries a phone number; a customer known only by BSUID is addressed with `recipient` instead
 * (coex-spec.md §11: Meta silently drops a BSUID put in `to`).
 */
export type MessageRequestBody = { messaging_product: 'whatsapp'; recipient_type: 'individual'; type: string } & ({ to: string } | { recipient: string }) &
  Record<string, unknown>;

function mediaRefJson(ref: MediaRef): Record<string, string> {
  return 'id' in ref ? { id: ref.id } : { link: ref.link };
}

type ParsedTemplateComponent = z.output<typeof templateComponentSchema>;
type TemplateParam = ParsedTemplateComponent['parameters'][number];

function templateParamJson(p: TemplateParam): Record<string, unknown> {
  const named = (name: string | undefined): Record<string, string> => (name === undefined ? {} : { parameter_name: name });
  switch (p.type) {
    case 'text':
      return { type: 'text', ...named(p.parameterName), text: p.text };
    case 'currency':
      return {
        type: 'currency',
        ...named(p.parameterName),
        currency: { fallback_value: p.fallbackValue, code: p.code, amount_1000: p.amount1000 },
      };
    case 'date_time':
      return { type: 'date_time', ...named(p.parameterName), date_time: { fallback_value: p.fallbackValue } };
    case 'image':
      return { type: 'image', image: mediaRefJson(p.image) };
    case 'video':
      return { type: 'video', video: mediaRefJson(p.video) };
    case 'document':
      return { type: 'document', document: { ...mediaRefJson(p.document), ...(p.filename === undefined ? {} : { filename: p.filename }) } };
    case 'payload':
      return { type: 'payload', payload: p.payload };
  }
}

function templateComponentJson(c: ParsedTemplateComponent): Record<string, unknown> {
  const parameters = c.parameters.map(templateParamJson);
  if (c.type === 'button') {
    // Meta's reference shows the index as a string ("0").
    return { type: 'button', sub_type: c.subType, index: String(c.index), parameters };
  }
  return { type: c.type, parameters };
}

/**
 * Validates an OutboundMessage against Meta's limits and builds the exact request body.
 * Throws InvalidMessageError with every problem listed.
 */
export function buildMessageRequest(message: OutboundMessage): MessageRequestBody {
  const parsed = outboundMessageSchema.safeParse(message);
  if (!parsed.success) {
    throw new InvalidMessageError(`Invalid outbound message: ${z.prettifyError(parsed.error)}`);
  }
  const m = parsed.data;
  // The one place an address becomes a field: a BSUID never goes in `to`.
  const address = isBsuid(m.to) ? { recipient: m.to.trim() } : { to: m.to };
  const body: MessageRequestBody = { messaging_product: 'whatsapp', recipient_type: 'individual', ...address, type: m.type };

  switch (m.type) {
    case 'text':
      body.text = { body: m.body, ...(m.previewUrl === undefined ? {} : { preview_url: m.previewUrl }) };
      break;
    case 'template':
      body.template = {
        name: m.name,
        // Meta's OpenAPI (LanguageObject) requires the policy; "deterministic" is its only value.
        language: { policy: 'deterministic', code: m.languageCode },
        ...(m.components === undefined ? {} : { components: m.components.map(templateComponentJson) }),
      };
      break;
    case 'image':
    case 'video':
      body[m.type] = { ...mediaRefJson(m.media), ...(m.caption === undefined ? {} : { caption: m.caption }) };
      break;
    case 'audio':
    case 'sticker':
      body[m.type] = mediaRefJson(m.media);
      break;
    case 'document':
      body.document = {
        ...mediaRefJson(m.media),
        ...(m.caption === undefined ? {} : { caption: m.caption }),
        ...(m.filename === undefined ? {} : { filename: m.filename }),
      };
      break;
    case 'interactive':
      body.interactive = interactiveJson(m.interactive);
      break;
    case 'reaction':
      body.reaction = { message_id: m.messageId, emoji: m.emoji };
      break;
  }
  if (m.type !== 'reaction' && m.replyTo !== undefined) body.context = { message_id: m.replyTo };
  if (m.bizOpaqueCallbackData !== undefined) body.biz_opaque_callback_data = m.bizOpaqueCallbackData;
  return body;
}

function interactiveJson(i: z.output<typeof interactiveMessageSchema>['interactive']): Record<string, unknown> {
  const footerJson = i.footer === undefined ? {} : { footer: { text: i.footer } };
  if (i.type === 'button') {
    let header: Record<string, unknown> | undefined;
    if (i.header !== undefined) {
      const h = i.header;
      if (h.type === 'text') header = { type: 'text', text: h.text };
      else if (h.type === 'document') {
        header = { type: 'document', document: { ...mediaRefJson(h.media), ...(h.filename === undefined ? {} : { filename: h.filename }) } };
      } else header = { type: h.type, [h.type]: mediaRefJson(h.media) };
    }
    return {
      type: 'button',
      ...(header === undefined ? {} : { header }),
      body: { text: i.body },
      ...footerJson,
      action: { buttons: i.buttons.map((b) => ({ type: 'reply', reply: { id: b.id, title: b.title } })) },
    };
  }
  return {
    type: 'list',
    ...(i.header === undefined ? {} : { header: { type: 'text', text: i.header } }),
    body: { text: i.body },
    ...footerJson,
    action: {
      button: i.button,
      sections: i.sections.map((s) => ({
        ...(s.title === undefined ? {} : { title: s.title }),
        rows: s.rows.map((r) => ({ id: r.id, title: r.title, ...(r.description === undefined ? {} : { description: r.description }) })),
      })),
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Response shapes (what Meta answers). Tolerant: unknown fields are kept out of the way, not rejected.
// ---------------------------------------------------------------------------------------------

const MESSAGE_STATUSES = ['accepted', 'held_for_quality_assessment', 'paused'] as const;
export type SendMessageStatus = (typeof MESSAGE_STATUSES)[number];

const sendResponseSchema = z.looseObject({
  contacts: z.array(z.looseObject({ input: z.string().optional(), wa_id: z.string().optional() })).optional(),
  messages: z.array(z.looseObject({ id: z.string().min(1), message_status: z.string().optional() })).min(1),
});

const successResponseSchema = z.looseObject({ success: z.boolean() });
/** Meta answers `"success": "true"` (a string) on some app edges. */
const looseSuccessSchema = z.looseObject({ success: z.union([z.boolean(), z.enum(['true', 'false']).transform((v) => v === 'true')]) });

const appSubscriptionsSchema = z.looseObject({
  data: z.array(
    z.looseObject({
      object: z.string(),
      callback_url: z.string().optional(),
      active: z.boolean().optional(),
      fields: z.array(z.union([z.string(), z.looseObject({ name: z.string(), version: z.string().optional() })])).default([]),
    }),
  ),
});

/** One object's webhook subscription of the app (GET /{app-id}/subscriptions). */
export interface AppWebhookSubscription {
  object: string;
  callbackUrl: string | null;
  active: boolean;
  fields: string[];
}

/** file_size may come as a number or a numeric string. */
const byteCount = z.union([z.number().int().nonnegative(), z.string().regex(/^\d+$/).transform(Number)]);

const mediaInfoResponseSchema = z.looseObject({
  url: z.url(),
  mime_type: z.string().min(1),
  sha256: z.string().min(1),
  file_size: byteCount,
  id: z.string().min(1),
});

const accessTokenResponseSchema = z.looseObject({
  access_token: z.string().min(1),
  token_type: z.string().optional(),
  expires_in: z.number().optional(),
});

const phoneNumberSchema = z.looseObject({
  id: z.string().min(1),
  display_phone_number: z.string().optional(),
  verified_name: z.string().optional(),
  quality_rating: z.string().optional(),
  platform_type: z.string().optional(),
  is_on_biz_app: z.boolean().optional(),
  code_verification_status: z.string().optional(),
  name_status: z.string().optional(),
  throughput: z.looseObject({ level: z.string() }).optional(),
});

const phoneNumberListSchema = z.looseObject({
  data: z.array(phoneNumberSchema),
  paging: z
    .looseObject({
      cursors: z.looseObject({ before: z.string().optional(), after: z.string().optional() }).optional(),
      next: z.string().optional(),
    })
    .optional(),
});

const smbAppDataResponseSchema = z.looseObject({ request_id: z.string().min(1) });

// GET /{waba-id}/message_templates: components vary by type; what CoEx reads is typed, the rest kept.
const templateComponentDefinitionSchema = z.looseObject({
  type: z.string(),
  format: z.string().optional(),
  text: z.string().optional(),
  buttons: z.array(z.looseObject({ type: z.string(), text: z.string().optional(), url: z.string().optional() })).optional(),
});
const messageTemplateSchema = z.looseObject({
  id: z.string().optional(),
  name: z.string().min(1),
  language: z.string().min(1),
  status: z.string(),
  category: z.string().optional(),
  parameter_format: z.string().optional(),
  components: z.array(templateComponentDefinitionSchema).default([]),
});
const messageTemplateListSchema = z.looseObject({
  data: z.array(messageTemplateSchema),
  paging: phoneNumberListSchema.shape.paging,
});
export type MessageTemplateDefinition = z.output<typeof messageTemplateSchema>;

export interface SendMessageResult {
  wamid: string;
  messageStatus: SendMessageStatus;
  /** Meta's normalised recipient id; null when Meta did not return one (or returned "", e.g. BSUID-only users). */
  waId: string | null;
}

export interface MediaInfo {
  url: string;
  mimeType: string;
  /** Hex SHA-256 of the file, as Meta gives it. */
  sha256: string;
  fileSize: number;
  id: string;
}

export interface AccessTokenResult {
  accessToken: string;
  tokenType: string | null;
  expiresInSeconds: number | null;
}

export const PHONE_NUMBER_FIELDS = [
  'id',
  'is_on_biz_app',
  'platform_type',
  'display_phone_number',
  'verified_name',
  'quality_rating',
  'code_verification_status',
  'name_status',
  'throughput',
] as const;
export type PhoneNumberField = (typeof PHONE_NUMBER_FIELDS)[number];

export interface PhoneNumberInfo {
  id: string;
  displayPhoneNumber?: string;
  verifiedName?: string;
  qualityRating?: string;
  /** "CLOUD_API" for a connected Coexistence number. */
  platformType?: string;
  /** True for a Coexistence number (WhatsApp Business App + Cloud API). */
  isOnBizApp?: boolean;
  codeVerificationStatus?: string;
  nameStatus?: string;
  throughput?: { level: string };
}

export type SmbSyncType = 'smb_app_state_sync' | 'history';

// ---------------------------------------------------------------------------------------------
// The client
// ---------------------------------------------------------------------------------------------

export type TokenProvider = (phoneNumberId: string | null) => string | Promise<string>;

export interface GraphClientOptions {
  /** Default https://graph.facebook.com (tests point it at the local fake). */
  baseUrl?: string;
  /** e.g. "v25.0". */
  version: string;
  /** One token for everything… */
  accessToken?: string;
  /** …or one per phone number (multi-tenant). Receives null for calls not tied to a number. */
  tokenProvider?: TokenProvider;
  fetch?: typeof fetch;
  userAgent: string;
  /** Per-request timeout (default 30 s). */
  timeoutMs?: number;
  /** Extra host names (exact or parent domain) allowed to receive the token when downloading media. */
  mediaHosts?: string[];
}

export interface CallOptions {
  /** Use this token instead of the configured one (e.g. the business token right after exchangeCode). */
  accessToken?: string;
  signal?: AbortSignal;
}

interface RequestSpec {
  method: 'GET' | 'POST';
  path: string[];
  query?: Record<string, string>;
  body?: unknown;
  /** Bearer token; null sends no Authorization header (oauth/access_token). */
  token: string | null;
  signal?: AbortSignal | undefined;
}

const VERSION_PATTERN = /^v\d+\.\d+$/;

function requireId(value: string, name: string): string {
  if (typeof value !== 'string' || value.trim() === '') throw new TypeError(`${name} must be a non-empty string`);
  return value;
}

export class GraphClient {
  readonly baseUrl: string;
  readonly version: string;
  private readonly fetchImpl: typeof fetch;
  private readonly userAgent: string;
  private readonly timeoutMs: number;
  private readonly tokenProvider: TokenProvider;
  private readonly mediaHostSuffixes: string[];

  constructor(options: GraphClientOptions) {
    if (!VERSION_PATTERN.test(options.version)) {
      throw new TypeError(`version must look like "v25.0", got "${options.version}"`);
    }
    if (options.userAgent.trim() === '') throw new TypeError('userAgent must not be empty');
    const base = new URL(options.baseUrl ?? DEFAULT_GRAPH_BASE_URL);
    this.baseUrl = base.toString().replace(/\/+$/, '');
    this.version = options.version;
    this.fetchImpl = options.fetch ?? globalThis.fetch;
    this.userAgent = options.userAgent;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.mediaHostSuffixes = [...DEFAULT_MEDIA_HOST_SUFFIXES, ...(options.mediaHosts ?? [])];
    if (options.tokenProvider) this.tokenProvider = options.tokenProvider;
    else if (options.accessToken) {
      const token = options.accessToken;
      this.tokenProvider = () => token;
    } else throw new TypeError('GraphClient needs accessToken or tokenProvider');
  }

  /** POST /{phone-number-id}/messages. Validates the message first (InvalidMessageError). */
  async sendMessage(phoneNumberId: string, payload: OutboundMessage, options: CallOptions = {}): Promise<SendMessageResult> {
    requireId(phoneNumberId, 'phoneNumberId');
    const body = buildMessageRequest(payload);
    const res = await this.request(sendResponseSchema, {
      method: 'POST',
      path: [phoneNumberId, 'messages'],
      body,
      token: await this.tokenFor(phoneNumberId, options),
      signal: options.signal,
    });
    const first = res.messages[0];
    if (first === undefined) throw new GraphProtocolError('send response has no messages[0]', 200);
    const rawStatus = first.message_status ?? 'accepted';
    // An unknown status still means Meta took the message: keep the wamid (losing it would cause a double send).
    const messageStatus: SendMessageStatus = (MESSAGE_STATUSES as readonly string[]).includes(rawStatus)
      ? (rawStatus as SendMessageStatus)
      : 'accepted';
    const waId = res.contacts?.[0]?.wa_id;
    return { wamid: first.id, messageStatus, waId: waId === undefined || waId === '' ? null : waId };
  }

  /** Marks an inbound message read (blue ticks), optionally showing "typing…" for up to 25 s. */
  async markRead(phoneNumberId: string, wamid: string, options: CallOptions & { typing?: boolean } = {}): Promise<void> {
    requireId(phoneNumberId, 'phoneNumberId');
    requireId(wamid, 'wamid');
    const body: Record<string, unknown> = { messaging_product: 'whatsapp', status: 'read', message_id: wamid };
    if (options.typing) body.typing_indicator = { type: 'text' };
    const res = await this.request(successResponseSchema, {
      method: 'POST',
      path: [phoneNumberId, 'messages'],
      body,
      token: await this.tokenFor(phoneNumberId, options),
      signal: options.signal,
    });
    if (!res.success) throw new GraphProtocolError('mark-as-read answered success: false', 200);
  }

  /** GET /{media-id}: a short-lived (≈5 min) download URL plus the file's mime type, sha256 and size. */
  async getMedia(mediaId: string, options: CallOptions & { phoneNumberId?: string } = {}): Promise<MediaInfo> {
    requireId(mediaId, 'mediaId');
    const query: Record<string, string> = {};
    // Meta checks the media belongs to this number when phone_number_id is given.
    if (options.phoneNumberId !== undefined) query.phone_number_id = options.phoneNumberId;
    const res = await this.request(mediaInfoResponseSchema, {
      method: 'GET',
      path: [mediaId],
      query,
      token: await this.tokenFor(options.phoneNumberId ?? null, options),
      signal: options.signal,
    });
    return { url: res.url, mimeType: res.mime_type, sha256: res.sha256, fileSize: res.file_size, id: res.id };
  }

  /**
   * Downloads a media URL from getMedia with the bearer token. Refuses hosts that are not Meta's (or
   * the configured API host) so the token cannot leak. Stops reading past maxBytes.
   */
  async downloadMedia(
    url: string,
    options: CallOptions & { phoneNumberId?: string; maxBytes?: number } = {},
  ): Promise<Buffer> {
    const target = new URL(url);
    if (!this.isTrustedMediaHost(target)) {
      throw new MediaDownloadError(`refusing to send the access token to untrusted media host ${target.host}`, 'http', null);
    }
    const token = await this.tokenFor(options.phoneNumberId ?? null, options);
    const response = await this.doFetch(target.toString(), {
      method: 'GET',
      headers: { authorization: `Bearer ${token}`, 'user-agent': this.userAgent },
      signal: this.signalFor(options.signal),
    });
    if (!response.ok) {
      await response.body?.cancel();
      throw new MediaDownloadError(`media download failed with HTTP ${response.status}`, 'http', response.status);
    }
    const maxBytes = options.maxBytes ?? Number.POSITIVE_INFINITY;
    const declared = Number(response.headers.get('content-length') ?? NaN);
    if (Number.isFinite(declared) && declared > maxBytes) {
      await response.body?.cancel();
      throw new MediaDownloadError(`media is ${declared} bytes, over the ${maxBytes}-byte limit`, 'too_large', response.status);
    }
    if (response.body === null) return Buffer.alloc(0);
    const chunks: Buffer[] = [];
    let total = 0;
    const reader = response.body.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        total += value.byteLength;
        if (total > maxBytes) {
          await reader.cancel();
          throw new MediaDownloadError(`media exceeds the ${maxBytes}-byte limit`, 'too_large', response.status);
        }
        chunks.push(Buffer.from(value.buffer, value.byteOffset, value.byteLength));
      }
    } catch (error) {
      if (error instanceof MediaDownloadError) throw error;
      throw new GraphTransportError(`media download interrupted: ${errorText(error)}`, { cause: error });
    }
    return Buffer.concat(chunks, total);
  }

  // --- onboarding (Embedded Signup for Coexistence numbers) ---------------------------------

  /** GET /oauth/access_token: exchanges the Embedded Signup code for a business token. No redirect_uri. */
  async exchangeCode(input: { appId: string; appSecret: string; code: string }, options: { signal?: AbortSignal } = {}): Promise<AccessTokenResult> {
    requireId(input.appId, 'appId');
    requireId(input.appSecret, 'appSecret');
    requireId(input.code, 'code');
    const res = await this.request(accessTokenResponseSchema, {
      method: 'GET',
      path: ['oauth', 'access_token'],
      query: { client_id: input.appId, client_secret: input.appSecret, code: input.code },
      token: null,
      signal: options.signal,
    });
    return { accessToken: res.access_token, tokenType: res.token_type ?? null, expiresInSeconds: res.expires_in ?? null };
  }

  /**
   * POST /{waba-id}/subscribed_apps: subscribes our app to the WABA's webhooks, optionally routing
   * them to a tenant-specific callback (Meta verifies it with verifyToken before accepting).
   */
  async subscribeApp(
    wabaId: string,
    options: CallOptions & { overrideCallbackUri?: string; verifyToken?: string } = {},
  ): Promise<void> {
    requireId(wabaId, 'wabaId');
    let body: Record<string, string> | undefined;
    if (options.overrideCallbackUri !== undefined || options.verifyToken !== undefined) {
      if (options.overrideCallbackUri === undefined || options.verifyToken === undefined) {
        throw new TypeError('overrideCallbackUri and verifyToken must be given together');
      }
      const uri = new URL(options.overrideCallbackUri);
      if (uri.protocol !== 'https:' && uri.protocol !== 'http:') throw new TypeError('overrideCallbackUri must be an http(s) URL');
      body = { override_callback_uri: uri.toString(), verify_token: options.verifyToken };
    }
    const res = await this.request(successResponseSchema, {
      method: 'POST',
      path: [wabaId, 'subscribed_apps'],
      body,
      token: await this.tokenFor(null, options),
      signal: options.signal,
    });
    if (!res.success) throw new GraphProtocolError('subscribed_apps answered success: false', 200);
  }

  /**
   * GET /{app-id}/subscriptions: the app's webhook subscriptions and their fields (which WhatsApp
   * fields Meta delivers is decided here, at app level). Needs the app access token `app_id|secret`.
   */
  async listAppSubscriptions(appId: string, appAccessToken: string, options: Omit<CallOptions, 'accessToken'> = {}): Promise<AppWebhookSubscription[]> {
    requireId(appId, 'appId');
    const res = await this.request(appSubscriptionsSchema, { method: 'GET', path: [appId, 'subscriptions'], token: appAccessToken, signal: options.signal });
    return res.data.map((d) => ({
      object: d.object,
      callbackUrl: d.callback_url ?? null,
      active: d.active ?? true,
      fields: d.fields.map((f) => (typeof f === 'string' ? f : f.name)),
    }));
  }

  /**
   * POST /{app-id}/subscriptions: subscribes the app to `fields` of `object` at `callbackUrl` (Meta
   * checks the callback with a hub.challenge carrying `verifyToken` before accepting).
   */
  async subscribeAppWebhooks(
    appId: string,
    subscription: { object: string; callbackUrl: string; fields: string[]; verifyToken: string },
    appAccessToken: string,
    options: Omit<CallOptions, 'accessToken'> = {},
  ): Promise<void> {
    requireId(appId, 'appId');
    const url = new URL(subscription.callbackUrl);
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new TypeError('callbackUrl must be an http(s) URL');
    if (subscription.fields.length === 0) throw new TypeError('fields must not be empty');
    const res = await this.request(looseSuccessSchema, {
      method: 'POST',
      path: [appId, 'subscriptions'],
      body: { object: subscription.object, callback_url: url.toString(), fields: subscription.fields.join(','), verify_token: subscription.verifyToken },
      token: appAccessToken,
      signal: options.signal,
    });
    if (!res.success) throw new GraphProtocolError('app subscriptions answered success: false', 200);
  }

  /** GET /{waba-id}/phone_numbers, following the `after` cursor through every page. */
  async listPhoneNumbers(wabaId: string, options: CallOptions & { fields?: PhoneNumberField[] } = {}): Promise<PhoneNumberInfo[]> {
    requireId(wabaId, 'wabaId');
    const token = await this.tokenFor(null, options);
    const out: PhoneNumberInfo[] = [];
    let after: string | undefined;
    // A WABA has a handful of numbers; the page cap only guards against a server that never ends.
    for (let page = 0; page < 100; page++) {
      const query: Record<string, string> = {};
      if (options.fields !== undefined) query.fields = validatedFields(options.fields).join(',');
      if (after !== undefined) query.after = after;
      const res = await this.request(phoneNumberListSchema, {
        method: 'GET',
        path: [wabaId, 'phone_numbers'],
        query,
        token,
        signal: options.signal,
      });
      out.push(...res.data.map(toPhoneNumberInfo));
      const nextCursor = res.paging?.cursors?.after;
      if (res.paging?.next === undefined || nextCursor === undefined || res.data.length === 0) return out;
      after = nextCursor;
    }
    throw new GraphProtocolError('phone_numbers paging did not end after 100 pages', 200);
  }

  /**
   * GET /{waba-id}/message_templates, every page. `status` filters on Meta's side (e.g. 'APPROVED').
   * `tokenOf`: the phone number whose stored token to use (a WABA call needs a token of that business).
   */
  async listMessageTemplates(wabaId: string, options: CallOptions & { status?: string; tokenOf?: string } = {}): Promise<MessageTemplateDefinition[]> {
    requireId(wabaId, 'wabaId');
    const token = await this.tokenFor(options.tokenOf ?? null, options);
    const out: MessageTemplateDefinition[] = [];
    let after: string | undefined;
    // A WABA holds at most a few thousand templates (250 per WABA until verified, 6,000 after).
    for (let page = 0; page < 100; page++) {
      const query: Record<string, string> = { fields: 'name,language,status,category,parameter_format,components', limit: '100' };
      if (options.status !== undefined) query.status = options.status;
      if (after !== undefined) query.after = after;
      const res = await this.request(messageTemplateListSchema, { method: 'GET', path: [wabaId, 'message_templates'], query, token, signal: options.signal });
      out.push(...res.data);
      const nextCursor = res.paging?.cursors?.after;
      if (res.paging?.next === undefined || nextCursor === undefined || res.data.length === 0) return out;
      after = nextCursor;
    }
    throw new GraphProtocolError('message_templates paging did not end after 100 pages', 200);
  }

  /** GET /{phone-number-id}?fields=…, e.g. ['is_on_biz_app', 'platform_type'] to confirm Coexistence. */
  async getPhoneNumber(phoneNumberId: string, fields: PhoneNumberField[], options: CallOptions = {}): Promise<PhoneNumberInfo> {
    requireId(phoneNumberId, 'phoneNumberId');
    if (fields.length === 0) throw new TypeError('fields must name at least one field');
    const res = await this.request(phoneNumberSchema, {
      method: 'GET',
      path: [phoneNumberId],
      query: { fields: validatedFields(fields).join(',') },
      token: await this.tokenFor(phoneNumberId, options),
      signal: options.signal,
    });
    return toPhoneNumberInfo(res);
  }

  /**
   * POST /{phone-number-id}/smb_app_data: asks the Business App to share contacts
   * ('smb_app_state_sync') or chat history ('history'). Each may be requested once, within 24 h of onboarding.
   */
  async requestSmbAppData(phoneNumberId: string, syncType: SmbSyncType, options: CallOptions = {}): Promise<{ requestId: string }> {
    requireId(phoneNumberId, 'phoneNumberId');
    if (syncType !== 'smb_app_state_sync' && syncType !== 'history') {
      throw new TypeError(`syncType must be 'smb_app_state_sync' or 'history', got ${String(syncType)}`);
    }
    const res = await this.request(smbAppDataResponseSchema, {
      method: 'POST',
      path: [phoneNumberId, 'smb_app_data'],
      body: { messaging_product: 'whatsapp', sync_type: syncType },
      token: await this.tokenFor(phoneNumberId, options),
      signal: options.signal,
    });
    return { requestId: res.request_id };
  }

  // --- plumbing ------------------------------------------------------------------------------

  private async tokenFor(phoneNumberId: string | null, options: CallOptions): Promise<string> {
    const token = options.accessToken ?? (await this.tokenProvider(phoneNumberId));
    if (typeof token !== 'string' || token === '') throw new TypeError('the token provider returned no token');
    return token;
  }

  private isTrustedMediaHost(url: URL): boolean {
    if (url.origin === new URL(this.baseUrl).origin) return true;
    if (url.protocol !== 'https:') return false;
    const host = url.hostname.toLowerCase();
    return this.mediaHostSuffixes.some((suffix) => host === suffix || host.endsWith(`.${suffix}`));
  }

  private signalFor(callerSignal: AbortSignal | undefined, timeoutMs = this.timeoutMs): AbortSignal {
    const timeout = AbortSignal.timeout(timeoutMs);
    return callerSignal ? AbortSignal.any([timeout, callerSignal]) : timeout;
  }

  private async doFetch(url: string, init: RequestInit): Promise<Response> {
    try {
      return await this.fetchImpl(url, init);
    } catch (error) {
      // The caller's own abort is not a transport failure: let it through untouched.
      if (init.signal instanceof AbortSignal && init.signal.aborted && !isTimeout(init.signal.reason)) throw init.signal.reason;
      throw new GraphTransportError(`request to the Graph API failed: ${errorText(error)}`, { cause: error });
    }
  }

  private async request<S extends z.ZodType>(schema: S, spec: RequestSpec): Promise<z.output<S>> {
    const url = new URL(`${this.baseUrl}/${this.version}/${spec.path.map(encodeURIComponent).join('/')}`);
    for (const [key, value] of Object.entries(spec.query ?? {})) url.searchParams.set(key, value);
    const headers: Record<string, string> = { accept: 'application/json', 'user-agent': this.userAgent };
    if (spec.token !== null) headers.authorization = `Bearer ${spec.token}`;
    let body: string | undefined;
    if (spec.body !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(spec.body);
    }
    const response = await this.doFetch(url.toString(), {
      method: spec.method,
      headers,
      ...(body === undefined ? {} : { body }),
      // API calls answer in well under a second: 10 s means Meta is unreachable, say so early.
      // Media downloads (larger bodies) keep the full timeout.
      signal: this.signalFor(spec.signal, Math.min(this.timeoutMs, API_CALL_TIMEOUT_MS)),
    });
    let text: string;
    try {
      text = await response.text();
    } catch (error) {
      throw new GraphTransportError(`reading the Graph API response failed: ${errorText(error)}`, { cause: error });
    }
    if (!response.ok) throw parseGraphError(response.status, text, response.headers.get('retry-after'));
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (error) {
      throw new GraphProtocolError(`Graph API answered HTTP ${response.status} with a body that is not JSON`, response.status, { cause: error });
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success) {
      throw new GraphProtocolError(
        `unexpected Graph API response for ${spec.method} /${spec.path[spec.path.length - 1] ?? ''}: ${z.prettifyError(parsed.error)}`,
        response.status,
      );
    }
    return parsed.data;
  }
}

function validatedFields(fields: PhoneNumberField[]): PhoneNumberField[] {
  for (const field of fields) {
    if (!(PHONE_NUMBER_FIELDS as readonly string[]).includes(field)) throw new TypeError(`unknown phone number field: ${field}`);
  }
  return fields;
}

function toPhoneNumberInfo(p: z.output<typeof phoneNumberSchema>): PhoneNumberInfo {
  const info: PhoneNumberInfo = { id: p.id };
  if (p.display_phone_number !== undefined) info.displayPhoneNumber = p.display_phone_number;
  if (p.verified_name !== undefined) info.verifiedName = p.verified_name;
  if (p.quality_rating !== undefined) info.qualityRating = p.quality_rating;
  if (p.platform_type !== undefined) info.platformType = p.platform_type;
  if (p.is_on_biz_app !== undefined) info.isOnBizApp = p.is_on_biz_app;
  if (p.code_verification_status !== undefined) info.codeVerificationStatus = p.code_verification_status;
  if (p.name_status !== undefined) info.nameStatus = p.name_status;
  if (p.throughput !== undefined) info.throughput = { level: p.throughput.level };
  return info;
}

function isTimeout(reason: unknown): boolean {
  return reason instanceof Error && reason.name === 'TimeoutError';
}

function errorText(error: unknown): string {
  if (error instanceof Error) {
    const cause = error.cause instanceof Error ? ` (${error.cause.message})` : '';
    return `${error.message}${cause}`;
  }
  return String(error);
}

