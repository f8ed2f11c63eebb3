import { sql, type Kysely } from 'kysely';
import type { Logger } from 'pino';
import { z } from 'zod';
import { CrmError, HubSpotConnector, inboxMessageOf, type ArchivedMessage, type CrmConnector, type HubSpotOutgoingMessageEvent } from '@coex/connectors';
import type { Database } from '../db/schema.js';
import type { TokenCipher } from '../crypto.js';
import { NumberNotConnectedError, RecipientUnknownError, SendFailedError, type SendService } from '../outbound/send-service.js';
import { WindowClosedError } from '../outbound/window.js';
import { InvalidMessageError } from '../outbound/graph-client.js';
import { crmCredentialsSchema, type HubSpotInboxChannel } from './registry.js';
import { updateCredentials } from './token-store.js';

/**
 * The HubSpot inbox (docs/decisions/hubspot-inbox-channel.md): WhatsApp threads of one business
 * number appear in a HubSpot Conversations inbox through CoEx's custom channel, and an agent's reply
 * there goes out on WhatsApp. Both directions run through the CRM outbox (outbox.ts):
 *
 * - kind 'inbox': every message of the number since the inbox was connected is published once
 *   (HubSpot de-duplicates on `integrationIdempotencyId` = the CoEx message id). Messages that came
 *   from the inbox (client_ref `hubspot-inbox:…`) are not published back: HubSpot already shows them.
 * - kind 'inbox_reply': written by the webhook route (hubspot-inbox-routes.ts), one row per HubSpot
 *   message id, so HubSpot's redeliveries are the same row; sent through SendService as a person
 *   (origin 'api': the agent steps aside) with client_ref `hubspot-inbox:<id>`, then the delivery
 *   status is reported to HubSpot. A closed 24-hour window is reported as FAILED with the reason.
 */

export const INBOX_CLIENT_REF_PREFIX = 'hubspot-inbox:';

/** The connection's inbox channel, from its encrypted credentials; null when none is connected. */
export function inboxChannelOf(cipher: TokenCipher, connection: { crm: string; credentials_enc: string }): HubSpotInboxChannel | null {
  if (connection.crm !== 'hubspot' || connection.credentials_enc === '') return null;
  const credentials = crmCredentialsSchema.parse(JSON.parse(cipher.decrypt(connection.credentials_enc)));
  return credentials.crm === 'hubspot' ? (credentials.inboxChannel ?? null) : null;
}

/** Queues the number's not-yet-published live messages (since the inbox was connected) as 'inbox' rows. */
export async function catchUpInbox(db: Kysely<Database>, connectionId: string, channel: HubSpotInboxChannel): Promise<void> {
  await sql`
    insert into crm_outbox (tenant_id, connection_id, kind, ref_id, payload)
    select m.tenant_id, c.id, 'inbox', m.id::text, '{}'::jsonb
    from crm_connections c join messages m on m.tenant_id = c.tenant_id
    where c.id = ${connectionId} and m.phone_number_id = ${channel.phoneNumberId}
      and m.provider_timestamp >= ${new Date(channel.connectedAt)}
      and m.wamid not like 'pending:%' and m.type <> 'reaction' and m.origin <> 'history'
      and (m.client_ref is null or m.client_ref not like ${`${INBOX_CLIENT_REF_PREFIX}%`})
      and not exists (select 1 from crm_outbox o where o.connection_id = c.id and o.kind = 'inbox' and o.ref_id = m.id::text)
    order by m.provider_timestamp, m.created_at, m.id
    on conflict do nothing`.execute(db);
}

function hubSpotOf(connector: CrmConnector): HubSpotConnector {
  if (!(connector instanceof HubSpotConnector) || connector.inboxChannel === null) {
    throw new CrmError('hubspot inbox: this connection has no inbox channel (run `coex hubspot inbox connect`)', 'hubspot', false);
  }
  return connector;
}

/** Publishes one archived message to the inbox; returns HubSpot's message id (null when nothing to publish). */
export async function publishToInbox(connector: CrmConnector, message: ArchivedMessage): Promise<string | null> {
  const hubspot = hubSpotOf(connector);
  const ref = hubspot.inboxChannel!;
  const input = inboxMessageOf(message, ref.channelAccountId);
  if (input === null) return null;
  const published = await hubspot.customChannel().publishMessage(ref.channelId, input);
  return published.id;
}

/** What the webhook stores for a reply (crm_outbox.payload of an 'inbox_reply' row). */
export const inboxReplySchema = z.object({
  messageId: z.string().min(1),
  channelId: z.string().min(1),
  channelAccountId: z.string().min(1),
  text: z.string(),
  hasAttachments: z.boolean(),
  /** The customer's number as HubSpot's delivery identifier (E.164). */
  recipientPhone: z.string().nullable(),
  actor: z.string().min(1).max(200),
});
export type InboxReply = z.infer<typeof inboxReplySchema>;

/** The reply CoEx acts on, from a verified webhook event. */
export function inboxReplyOf(event: HubSpotOutgoingMessageEvent): InboxReply {
  const m = event.message;
  const sender = m.senders[0];
  const agentId = (sender?.actorId ?? m.createdBy ?? '').match(/^A-(\d+)$/)?.[1];
  const who = agentId ? `hubspot-user:${agentId}` : (sender?.actorId ?? m.createdBy ?? `hubspot:${event.portalId}`);
  const actor = (sender?.name ? `${sender.name} (${who})` : who).slice(0, 200);
  const phone = m.recipients.find((r) => r.deliveryIdentifier?.type === 'HS_PHONE_NUMBER')?.deliveryIdentifier?.value ?? m.recipients[0]?.deliveryIdentifier?.value ?? null;
  return {
    messageId: m.id,
    channelId: event.channelId,
    channelAccountId: m.channelAccountId,
    text: (m.text ?? '').trim(),
    hasAttachments: m.attachments.length > 0,
    recipientPhone: phone,
    actor,
  };
}

export interface InboxReplyDeps {
  db: Kysely<Database>;
  sender: Pick<SendService, 'send'>;
  logger: Logger;
}

/** A reply that could not go out: the reason HubSpot shows under the agent's message. */
class ReplyRefused extends Error {}

/**
 * Sends one inbox reply on WhatsApp and reports the outcome to HubSpot. Idempotent: the send is keyed
 * `hubspot-inbox:<HubSpot message id>`, so a retry after a lost status report finds the message sent
 * and only reports again. Returns the CoEx message id (crm_record_id) or null when refused.
 */
export async function deliverInboxReply(deps: InboxReplyDeps, connector: CrmConnector, connection: { id: string; tenant_id: string }, channel: HubSpotInboxChannel, payload: unknown): Promise<string | null> {
  const hubspot = hubSpotOf(connector);
  const reply = inboxReplySchema.parse(payload);
  const client = hubspot.customChannel();
  let messageId: string | null = null;
  let failure: string | null = null;
  try {
    if (reply.channelAccountId !== channel.channelAccountId) throw new ReplyRefused('this channel account is no longer connected to CoEx');
    if (reply.text === '') throw new ReplyRefused(reply.hasAttachments ? 'CoEx sends text replies from the inbox; attachments are not supported yet' : 'the message is empty');
    const waId = reply.recipientPhone?.replace(/\D/g, '') ?? '';
    const thread = waId
      ? await deps.db
          .selectFrom('threads as t')
          .innerJoin('contacts as c', 'c.id', 't.contact_id')
          .select('t.id')
          .where('t.tenant_id', '=', connection.tenant_id)
          .where('t.phone_number_id', '=', channel.phoneNumberId)
          .where('c.wa_id', '=', waId)
          .orderBy(sql`t.last_message_at desc nulls last`)
          .limit(1)
          .executeTakeFirst()
      : undefined;
    // No thread means the customer never wrote to this number: no 24-hour window can be open, and
    // only an approved template could go out, which an inbox text reply is not.
    if (!thread) throw new ReplyRefused('Not sent on WhatsApp: this customer has never written to this WhatsApp number, so WhatsApp only accepts an approved template message. Send a template from the CoEx card on the contact record.');
    const outcome = await deps.sender.send({
      threadId: thread.id,
      tenantId: connection.tenant_id,
      origin: 'api',
      actor: reply.actor,
      message: { type: 'text', body: reply.text },
      clientRef: `${INBOX_CLIENT_REF_PREFIX}${reply.messageId}`,
    });
    if (outcome.status !== 'sent') throw new ReplyRefused(`Not sent on WhatsApp (${outcome.reason})`);
    messageId = outcome.messageId;
    if (outcome.messageStatus === 'failed') throw new ReplyRefused('Not sent: WhatsApp refused the message');
    // Still on its way (a deferred Graph retry, or another attempt in flight): report once it settles.
    if (outcome.messageStatus === 'retry_scheduled' || outcome.messageStatus === 'pending') {
      throw new CrmError(`hubspot inbox: WhatsApp send of ${reply.messageId} not settled yet (${outcome.messageStatus})`, 'hubspot', true);
    }
  } catch (error) {
    if (error instanceof WindowClosedError) failure = `Not sent on WhatsApp: ${error.message.replace(/^Cannot send a free-form message: /, '')}`;
    else if (error instanceof ReplyRefused) failure = error.message;
    else if (error instanceof NumberNotConnectedError) failure = `Not sent: the WhatsApp number is not connected (${error.connectionStatus})`;
    else if (error instanceof SendFailedError) failure = `Not sent: ${error.message}`;
    else if (error instanceof RecipientUnknownError || error instanceof InvalidMessageError) failure = `Not sent: ${error.message}`;
    else throw error;
  }
  if (failure !== null) {
    deps.logger.info({ connectionId: connection.id, hubspotMessageId: reply.messageId, reason: failure }, 'HubSpot inbox reply not sent');
    await client.updateMessageStatus(reply.channelId, reply.messageId, 'FAILED', failure);
    return messageId;
  }
  await client.updateMessageStatus(reply.channelId, reply.messageId, 'SENT');
  return messageId;
}

export class InboxSetupError extends Error {
  override readonly name = 'InboxSetupError';
}

/**
 * `coex hubspot inbox connect`: creates the channel account (inbox `inboxId`, the number as its
 * HS_PHONE_NUMBER delivery identifier) on the registered channel and stores it in the tenant's
 * HubSpot credentials. Publishing starts with messages from now on. The credentials are updated with
 * a compare-and-swap, as token refreshes write to the same row.
 */
export async function connectHubSpotInbox(
  deps: { db: Kysely<Database>; cipher: TokenCipher; connectorFor: (connection: { id: string; crm: string; credentials_enc: string }) => CrmConnector; now?: () => Date },
  input: { tenantId: string; channelId: string; inboxId: string; phoneNumberId: string; name?: string },
): Promise<HubSpotInboxChannel & { connectionId: string }> {
  const { db, cipher } = deps;
  const connections = await db.selectFrom('crm_connections').select(['id', 'crm', 'credentials_enc']).where('tenant_id', '=', input.tenantId).where('crm', '=', 'hubspot').where('status', '=', 'active').execute();
  if (connections.length !== 1) throw new InboxSetupError(connections.length === 0 ? `tenant '${input.tenantId}' has no active HubSpot connection (coex crm connect)` : `tenant '${input.tenantId}' has ${connections.length} HubSpot connections; connect the inbox on one portal only`);
  const connection = connections[0]!;
  const number = await db.selectFrom('whatsapp_numbers').select(['display_phone_number', 'verified_name']).where('phone_number_id', '=', input.phoneNumberId).where('tenant_id', '=', input.tenantId).executeTakeFirst();
  if (!number?.display_phone_number) throw new InboxSetupError(`number ${input.phoneNumberId} is not a number of tenant '${input.tenantId}' with a known display phone number`);
  const phoneE164 = `+${number.display_phone_number.replace(/\D/g, '')}`;
  const connector = deps.connectorFor(connection);
  if (!(connector instanceof HubSpotConnector)) throw new InboxSetupError('not a HubSpot connection');
  const account = await connector.customChannel().createChannelAccount(input.channelId, {
    inboxId: input.inboxId,
    name: input.name ?? `WhatsApp ${number.verified_name ?? phoneE164}`,
    phoneE164,
  });
  const channel: HubSpotInboxChannel = {
    channelId: input.channelId,
    channelAccountId: account.id,
    inboxId: input.inboxId,
    phoneNumberId: input.phoneNumberId,
    connectedAt: (deps.now?.() ?? new Date()).toISOString(),
  };
  let saved: Awaited<ReturnType<typeof updateCredentials>>;
  try {
    saved = await updateCredentials(db, cipher, connection.id, (stored) => (stored.crm === 'hubspot' ? { ...stored, inboxChannel: channel } : 'gone'));
  } catch (error) {
    throw new InboxSetupError(`crm connection ${connection.id}: ${error instanceof Error ? error.message : String(error)}; run the command again (channel account ${account.id} was created)`);
  }
  if (saved.outcome !== 'written') throw new InboxSetupError(`crm connection ${connection.id} is no longer an active HubSpot connection (channel account ${account.id} was created)`);
  return { ...channel, connectionId: connection.id };
}
