import { Client } from '@hubspot/api-client';
import { z } from 'zod';
import { DEFAULT_TIMEOUT_MS } from '../http.js';
import { CrmError, type ArchivedMessage } from '../types.js';
import { checkHubSpotV3Signature } from './signature.js';

/**
 * HubSpot Conversations **custom channels** (docs/decisions/hubspot-inbox-channel.md): CoEx's WhatsApp
 * threads in a HubSpot inbox. The channel is registered once per HubSpot app (developer API key);
 * each portal gets a channel account bound to one inbox and one business number; every WhatsApp
 * message is published to it, and an agent's reply comes back as a v3-signed webhook.
 *
 * Calls go through the SDK Client's `apiRequest` (the SDK has no typed client for these endpoints),
 * which returns the raw fetch Response: statuses are mapped to CrmError here, like the connector's calls.
 */

export const HUBSPOT_CUSTOM_CHANNELS_PATH = '/conversations/v3/custom-channels';

/** What CoEx stores per HubSpot connection once the inbox is connected. */
export interface HubSpotInboxChannelRef {
  channelId: string;
  channelAccountId: string;
  inboxId: string;
}

/** Capabilities CoEx registers: phone-number threading, text only, agents may reply. */
export const COEX_CHANNEL_CAPABILITIES = {
  deliveryIdentifierTypes: ['HS_PHONE_NUMBER'],
  threadingModel: 'DELIVERY_IDENTIFIER',
  allowOutgoingMessages: true,
  allowInlineImages: false,
  richText: [],
} as const;

const id = z.union([z.string(), z.number()]).transform(String);
export const hubSpotDeliveryIdentifierSchema = z.looseObject({ type: z.string(), value: z.string() });

const channelSchema = z.looseObject({
  id,
  name: z.string(),
  webhookUrl: z.string().nullish(),
  capabilities: z.record(z.string(), z.unknown()),
});
export type HubSpotCustomChannel = z.infer<typeof channelSchema>;

const channelAccountSchema = z.looseObject({
  id,
  channelId: id,
  inboxId: id,
  name: z.string(),
  authorized: z.boolean(),
  deliveryIdentifier: hubSpotDeliveryIdentifierSchema.nullish(),
});
export type HubSpotChannelAccount = z.infer<typeof channelAccountSchema>;

const publishedMessageSchema = z.looseObject({
  id,
  channelAccountId: id.optional(),
  conversationsThreadId: id.optional(),
  direction: z.enum(['INCOMING', 'OUTGOING']).optional(),
});
export type HubSpotPublishedMessage = z.infer<typeof publishedMessageSchema>;

/**
 * The webhook HubSpot POSTs to the channel's webhookUrl when an agent sends a message on the
 * channel. Fields CoEx relies on are required; ids may come as numbers or strings.
 */
export const hubSpotOutgoingMessageEventSchema = z.looseObject({
  type: z.literal('OUTGOING_CHANNEL_MESSAGE_CREATED'),
  portalId: id,
  channelId: id,
  message: z.looseObject({
    id,
    channelAccountId: id,
    conversationsThreadId: id.optional(),
    direction: z.string().optional(),
    text: z.string().nullish(),
    richText: z.string().nullish(),
    createdBy: z.string().nullish(),
    senders: z.array(z.looseObject({ actorId: z.string().nullish(), name: z.string().nullish() })).default([]),
    recipients: z
      .array(
        z.looseObject({
          actorId: z.string().nullish(),
          name: z.string().nullish(),
          // Documented as { type, value }; some integrations report a bare string.
          deliveryIdentifier: z.union([hubSpotDeliveryIdentifierSchema, z.string().transform((value) => ({ type: 'HS_PHONE_NUMBER', value }))]).nullish(),
        }),
      )
      .default([]),
    attachments: z.array(z.unknown()).default([]),
  }),
});
export type HubSpotOutgoingMessageEvent = z.infer<typeof hubSpotOutgoingMessageEventSchema>;

/** Any event on the webhook URL: CoEx acts on OUTGOING_CHANNEL_MESSAGE_CREATED and acknowledges the rest. */
export const hubSpotChannelEventTypeSchema = z.looseObject({ type: z.string() });

export type InboxMessageStatus = 'SENT' | 'FAILED' | 'READ';

export interface PublishInboxMessage {
  channelAccountId: string;
  /** CoEx's message id: HubSpot de-duplicates on it. */
  integrationIdempotencyId: string;
  direction: 'INCOMING' | 'OUTGOING';
  text: string;
  /** E.164 numbers and display names. */
  sender: { phone: string; name: string | null };
  recipient: { phone: string; name: string | null };
  timestamp: string;
}

/** How the inbox names the business side of an outgoing message, by CoEx origin. */
const OUTGOING_SENDER_NAMES: Record<string, string> = {
  app: 'WhatsApp Business app',
  history: 'WhatsApp Business app',
  agent: 'CoEx AI agent',
  api: 'CoEx',
};

/**
 * The inbox message for an archived WhatsApp message: the customer's messages are INCOMING (customer
 * → business number), everything the business sent (phone app, AI agent, API, CRM cards) OUTGOING.
 * Null when either phone is unknown (nothing HubSpot could thread on).
 */
export function inboxMessageOf(m: ArchivedMessage, channelAccountId: string): PublishInboxMessage | null {
  if (!m.customerPhone || !m.businessPhone) return null;
  const customer = { phone: m.customerPhone, name: m.customerName };
  const business = { phone: m.businessPhone, name: OUTGOING_SENDER_NAMES[m.origin] ?? null };
  const base = m.text ?? `[${m.type}]`;
  const text = m.transcript?.text ? `${base}\n🎙 ${m.transcript.text}` : base;
  const incoming = m.direction === 'inbound';
  return {
    channelAccountId,
    integrationIdempotencyId: m.id,
    direction: incoming ? 'INCOMING' : 'OUTGOING',
    text,
    sender: incoming ? customer : business,
    recipient: incoming ? business : customer,
    timestamp: new Date(Date.parse(m.timestamp)).toISOString(),
  };
}

const errorBody = z.looseObject({ message: z.string().optional(), category: z.string().optional() });

export interface HubSpotCustomChannelClientOptions {
  /** The connector's SDK client (same base path and token). */
  client: Client;
  /** OAuth installs: `apiRequest` bypasses the SDK middleware, so the bearer token is set here. */
  tokenProvider?: () => Promise<string>;
  timeoutMs?: number;
  /** Called once per HTTP request (the connector's request counter). */
  onRequest?: () => void;
}

/** Channel accounts, publishing and delivery status of one portal's custom channel. */
export class HubSpotCustomChannelClient {
  private readonly timeoutMs: number;
  constructor(private readonly options: HubSpotCustomChannelClientOptions) {
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  /** A channel account: the inbox the threads land in, and the business number as delivery identifier. */
  async createChannelAccount(channelId: string, input: { inboxId: string; name: string; phoneE164: string }): Promise<HubSpotChannelAccount> {
    const res = await this.request('POST', `${HUBSPOT_CUSTOM_CHANNELS_PATH}/${encodeURIComponent(channelId)}/channel-accounts`, {
      inboxId: input.inboxId,
      name: input.name,
      deliveryIdentifier: { type: 'HS_PHONE_NUMBER', value: input.phoneE164 },
      authorized: true,
    });
    return channelAccountSchema.parse(res);
  }

  async getChannelAccount(channelId: string, channelAccountId: string): Promise<HubSpotChannelAccount> {
    return channelAccountSchema.parse(await this.request('GET', `${HUBSPOT_CUSTOM_CHANNELS_PATH}/${encodeURIComponent(channelId)}/channel-accounts/${encodeURIComponent(channelAccountId)}`));
  }

  /** Publishes one message into the inbox thread of sender/recipient (HubSpot threads by phone number). */
  async publishMessage(channelId: string, m: PublishInboxMessage): Promise<HubSpotPublishedMessage> {
    const party = (p: { phone: string; name: string | null }) => ({ deliveryIdentifier: { type: 'HS_PHONE_NUMBER', value: p.phone }, ...(p.name ? { name: p.name } : {}) });
    const res = await this.request('POST', `${HUBSPOT_CUSTOM_CHANNELS_PATH}/${encodeURIComponent(channelId)}/messages`, {
      channelAccountId: m.channelAccountId,
      integrationIdempotencyId: m.integrationIdempotencyId,
      messageDirection: m.direction,
      text: m.text,
      senders: [party(m.sender)],
      recipients: [party(m.recipient)],
      timestamp: m.timestamp,
    });
    return publishedMessageSchema.parse(res);
  }

  /** Tells HubSpot whether an agent's message went out (FAILED shows `errorMessage` in the inbox). */
  async updateMessageStatus(channelId: string, messageId: string, statusType: InboxMessageStatus, errorMessage?: string): Promise<void> {
    await this.request('PATCH', `${HUBSPOT_CUSTOM_CHANNELS_PATH}/${encodeURIComponent(channelId)}/messages/${encodeURIComponent(messageId)}`, {
      statusType,
      ...(statusType === 'FAILED' && errorMessage ? { errorMessage: errorMessage.slice(0, 1000) } : {}),
    });
  }

  private async request(method: 'GET' | 'POST' | 'PATCH', path: string, body?: unknown): Promise<unknown> {
    this.options.onRequest?.();
    const headers = this.options.tokenProvider ? { Authorization: `Bearer ${await this.options.tokenProvider()}` } : undefined;
    return withTimeout(this.timeoutMs, async () => {
      const res = await this.options.client.apiRequest({ method, path, ...(body !== undefined ? { body } : {}), ...(headers ? { headers } : {}) });
      return readResponse(res);
    });
  }
}

/**
 * One-time registration of CoEx's channel for a HubSpot app, with the developer API key and the app
 * id (`coex hubspot channel register`). `webhookUrl` is this server's /webhooks/hubspot/inbox.
 */
export async function registerHubSpotCustomChannel(input: {
  developerApiKey: string;
  appId: string;
  name: string;
  webhookUrl: string;
  channelDescription?: string;
  basePath?: string;
  timeoutMs?: number;
}): Promise<HubSpotCustomChannel> {
  const client = new Client({ developerApiKey: input.developerApiKey, numberOfApiCallRetries: 0, ...(input.basePath ? { basePath: input.basePath.replace(/\/$/, '') } : {}) });
  return withTimeout(input.timeoutMs ?? DEFAULT_TIMEOUT_MS, async () => {
    const res = await client.apiRequest({
      method: 'POST',
      path: HUBSPOT_CUSTOM_CHANNELS_PATH,
      qs: { appId: input.appId },
      body: { name: input.name, webhookUrl: input.webhookUrl, capabilities: COEX_CHANNEL_CAPABILITIES, ...(input.channelDescription ? { channelDescription: input.channelDescription } : {}) },
    });
    return channelSchema.parse(await readResponse(res));
  });
}

/** 2xx → parsed JSON (or null when empty); anything else → CrmError, retryable for 408/429/5xx. */
async function readResponse(res: Response): Promise<unknown> {
  const text = await res.text();
  let json: unknown = null;
  if (text !== '') {
    try {
      json = JSON.parse(text);
    } catch {
      json = null;
    }
  }
  if (res.ok) return json;
  const status = res.status;
  const retryable = status === 408 || status === 429 || status >= 500;
  const retryAfterRaw = res.headers.get('retry-after');
  const retryAfter = retryable && retryAfterRaw && /^\d+$/.test(retryAfterRaw) ? Number(retryAfterRaw) : status === 429 && res.headers.get('x-hubspot-ratelimit-secondly-remaining') === '0' ? 1 : undefined;
  const parsed = errorBody.safeParse(json);
  const detail = parsed.success ? (parsed.data.message ?? parsed.data.category ?? '') : '';
  throw new CrmError(`hubspot: HTTP ${status}${detail ? `: ${detail.slice(0, 300)}` : ''}`, 'hubspot', retryable, status, retryAfter);
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT']);

async function withTimeout<T>(timeoutMs: number, fn: () => Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new CrmError(`hubspot: request timed out after ${timeoutMs} ms`, 'hubspot', true)), timeoutMs);
  });
  try {
    return await Promise.race([fn(), timeout]);
  } catch (err) {
    if (err instanceof CrmError || err instanceof z.ZodError) throw err;
    const cause = (err as { cause?: { code?: unknown } } | null)?.cause;
    const code = typeof cause?.code === 'string' ? cause.code : undefined;
    const message = err instanceof Error ? err.message : String(err);
    if ((err instanceof TypeError && message === 'fetch failed') || (code !== undefined && NETWORK_CODES.has(code))) {
      throw new CrmError(`hubspot: network error: ${code ?? message}`, 'hubspot', true);
    }
    throw new CrmError(`hubspot: ${message}`, 'hubspot', false);
  } finally {
    clearTimeout(timer);
  }
}

export type WebhookVerifyResult = { ok: true } | { ok: false; reason: string };

/**
 * Signature v3 of a custom-channel webhook. Unlike app-card requests, the URL carries no portalId:
 * the portal is the payload's `portalId`, trusted because the body is signed. Constant-time compare,
 * 5-minute window (both directions).
 */
export function verifyHubSpotWebhookV3(
  req: { method: string; url: string; headers: Record<string, string | string[] | undefined>; rawBody: Buffer | string; now?: number },
  clientSecret: string,
): WebhookVerifyResult {
  // A repeated signature header is refused: which copy was signed would be ambiguous.
  const get = (name: string): string | undefined => {
    const v = req.headers[name];
    if (Array.isArray(v)) return v.length === 1 ? v[0] : undefined;
    return v;
  };
  return checkHubSpotV3Signature({ method: req.method, url: req.url, rawBody: req.rawBody, signature: get('x-hubspot-signature-v3'), timestamp: get('x-hubspot-request-timestamp'), now: req.now }, clientSecret);
}
