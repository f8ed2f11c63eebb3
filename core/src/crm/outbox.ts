import { sql, type Kysely } from 'kysely';
import type { Logger } from 'pino';
import { CrmError, waIdToE164, normalizePhone, type ArchivedMessage, type BotState, type CrmConnector } from '@coex/connectors';
import type { Database } from '../db/schema.js';
import type { TokenCipher } from '../crypto.js';
import { createConnector, crmCredentialsSchema } from './registry.js';
import { catchUpInbox, deliverInboxReply, inboxChannelOf, publishToInbox, type InboxReplyDeps } from './hubspot-inbox.js';

/** Attempts before an outbox item is dead-lettered: with the backoff below, about 3 hours of outage. */
export const MAX_CRM_ATTEMPTS = 20;
/** Non-retryable errors (bad credentials, validation) get a few tries in case an admin fixes them. */
export const MAX_PERMANENT_ATTEMPTS = 3;
const BATCH = 100;

export function crmBackoffMs(attempt: number, retryAfterSeconds?: number, random: () => number = Math.random): number {
  const exp = Math.min(15 * 60_000, 5_000 * 2 ** Math.max(0, attempt - 1));
  const jittered = exp / 2 + random() * (exp / 2);
  return Math.max(jittered, (retryAfterSeconds ?? 0) * 1000);
}

export interface OutboxDeps {
  db: Kysely<Database>;
  cipher: TokenCipher;
  logger: Logger;
  /** Overrides the connector factory (tests count calls with it). */
  connectorFor?: (connection: { id: string; crm: string; credentials_enc: string }) => CrmConnector;
  /** Sends HubSpot inbox replies on WhatsApp (kind 'inbox_reply'); without it those rows fail. */
  inboxSender?: InboxReplyDeps['sender'];
}

export interface DrainResult {
  written: number;
  retried: number;
  dead: number;
  /** Seconds until the next pending item is due, or null when nothing is pending. */
  nextDueSeconds: number | null;
}

const VOICE_LABEL = '🎙 voice note';

/**
 * The CRM outbox of one connection. Every message, transcript, bot-state change and marketing
 * opt-out / opt-in of the tenant gets
 * one row (unique per connection, kind and reference), found by a catch-up query so nothing depends on
 * a caller remembering to enqueue. Rows are written in batches through the connector, retried with
 * backoff on 429/5xx (honouring Retry-After), and dead-lettered with the reason after MAX attempts.
 * Connectors are idempotent per message id, so a retry after a timeout never writes twice.
 * HubSpot connections with an inbox channel also publish the number's messages there ('inbox') and
 * send the agents' inbox replies on WhatsApp ('inbox_reply', written by the webhook): hubspot-inbox.ts.
 */
export class CrmOutbox {
  private readonly connectors = new Map<string, CrmConnector>();
  constructor(private readonly deps: OutboxDeps) {}

  private connector(connection: { id: string; crm: string; credentials_enc: string }): CrmConnector {
    if (this.deps.connectorFor) return this.deps.connectorFor(connection);
    let c = this.connectors.get(connection.id);
    if (!c) {
      const credentials = crmCredentialsSchema.parse(JSON.parse(this.deps.cipher.decrypt(connection.credentials_enc)));
      c = createConnector(credentials);
      this.connectors.set(connection.id, c);
    }
    return c;
  }

  /** Adds the tenant's not-yet-queued messages, transcripts and bot-state changes to the outbox. */
  async catchUp(connectionId: string): Promise<void> {
    const { db } = this.deps;
    await sql`
      insert into crm_outbox (tenant_id, connection_id, kind, ref_id, payload)
      select m.tenant_id, c.id, 'archive', m.id::text, '{}'::jsonb
      from crm_connections c join messages m on m.tenant_id = c.tenant_id
      where c.id = ${connectionId} and m.wamid not like 'pending:%' and m.type <> 'reaction'
        and not exists (select 1 from crm_outbox o where o.connection_id = c.id and o.kind = 'archive' and o.ref_id = m.id::text)
      -- Outbox ids follow threads, so an archive batch covers few customers (few CRM calls).
      order by m.thread_id, m.provider_timestamp, m.created_at
      on conflict do nothing`.execute(db);
    await sql`
      insert into crm_outbox (tenant_id, connection_id, kind, ref_id, payload)
      select m.tenant_id, c.id, 'transcript', m.id::text, '{}'::jsonb
      from crm_connections c join messages m on m.tenant_id = c.tenant_id
      where c.id = ${connectionId} and m.transcript_state = 'done'
        and not exists (select 1 from crm_outbox o where o.connection_id = c.id and o.kind = 'transcript' and o.ref_id = m.id::text)
      on conflict do nothing`.execute(db);
    await sql`
      insert into crm_outbox (tenant_id, connection_id, kind, ref_id, payload)
      select t.tenant_id, c.id, 'bot_state', e.id::text, '{}'::jsonb
      from crm_connections c join threads t on t.tenant_id = c.tenant_id join bot_events e on e.thread_id = t.id
      where c.id = ${connectionId}
        and not exists (select 1 from crm_outbox o where o.connection_id = c.id and o.kind = 'bot_state' and o.ref_id = e.id::text)
      on conflict do nothing`.execute(db);
    // Marketing opt-outs and opt-ins, in the order they happened (an opt-in after an opt-out must land last).
    // Signals kept in the history only (older than the state, or repeats) change nothing in a CRM.
    await sql`
      insert into crm_outbox (tenant_id, connection_id, kind, ref_id, payload)
      select e.tenant_id, c.id, 'consent', e.id::text, '{}'::jsonb
      from crm_connections c join opt_out_events e on e.tenant_id = c.tenant_id
      where c.id = ${connectionId} and e.applied
        and not exists (select 1 from crm_outbox o where o.connection_id = c.id and o.kind = 'consent' and o.ref_id = e.id::text)
      order by e.id
      on conflict do nothing`.execute(db);
  }

  /**
   * Writes what is due for one connection. Two drains of one connection never run at once, in this
   * process or another (a session advisory lock on a connection held for the drain): a row read by
   * both would be written to the CRM twice. The second waits, then finds only what is left.
   */
  async drain(connectionId: string, maxBatches = 50): Promise<DrainResult> {
    return this.deps.db.connection().execute(async (conn) => {
      const key = sql`hashtextextended(${`coex:crm-outbox:${connectionId}`}, 0)`;
      await sql`select pg_advisory_lock(${key})`.execute(conn);
      try {
        return await this.drainLocked(connectionId, maxBatches);
      } finally {
        await sql`select pg_advisory_unlock(${key})`.execute(conn);
      }
    });
  }

  private async drainLocked(connectionId: string, maxBatches: number): Promise<DrainResult> {
    const { db, logger } = this.deps;
    const result: DrainResult = { written: 0, retried: 0, dead: 0, nextDueSeconds: null };
    const connection = await db.selectFrom('crm_connections').select(['id', 'crm', 'credentials_enc', 'status', 'tenant_id']).where('id', '=', connectionId).executeTakeFirst();
    if (!connection || connection.status !== 'active') return result;
    await this.catchUp(connectionId);
    // HubSpot inbox channel (hubspot-inbox.ts): the number's messages are published there too.
    const inbox = inboxChannelOf(this.deps.cipher, connection);
    if (inbox) await catchUpInbox(db, connectionId, inbox);
    const connector = this.connector(connection);

    for (let i = 0; i < maxBatches; i++) {
      const due = await db
        .selectFrom('crm_outbox')
        .select(['id', 'kind', 'ref_id', 'attempts', 'payload'])
        .where('connection_id', '=', connectionId)
        .where('status', '=', 'pending')
        .where('next_attempt_at', '<=', sql<Date>`now()`)
        // One customer's consent changes land in order: an opt-in never overtakes an opt-out that
        // is waiting for its retry (the connectors do not compare dates with what the CRM holds).
        .where(sql<boolean>`not (crm_outbox.kind = 'consent' and exists (
          select 1 from crm_outbox older
            join opt_out_events oe on oe.id::text = older.ref_id
            join opt_out_events me on me.id::text = crm_outbox.ref_id
          where older.connection_id = crm_outbox.connection_id and older.kind = 'consent' and older.status = 'pending'
            and older.id < crm_outbox.id and oe.wa_id = me.wa_id and oe.phone_number_id = me.phone_number_id))`)
        // An agent waiting for their inbox reply to go out does not wait behind an archive backlog.
        .orderBy(sql`case when crm_outbox.kind = 'inbox_reply' then 0 else 1 end`)
        .orderBy('id')
        .limit(BATCH)
        .execute();
      if (due.length === 0) break;
      // One kind per round: archives go as one batch, the others one call each.
      const kind = due[0]!.kind;
      const items = due.filter((d) => d.kind === kind);
      // Items written one by one and already marked done are not failed with the rest.
      const finished = new Set<string>();
      try {
        if (kind === 'archive') {
          const messages = await this.archivedMessages(items.map((d) => d.ref_id));
          const res = await connector.archive(messages);
          for (const item of items) {
            await this.markDone(item.id, res.written[item.ref_id] ?? null, res.written[item.ref_id] ? null : 'nothing to write in this CRM (no matching record)');
          }
          result.written += Object.keys(res.written).length;
        } else if (kind === 'inbox' || kind === 'inbox_reply') {
          // Published one call each (HubSpot has no batch publish), but read in one query.
          const messages = kind === 'inbox' ? new Map((await this.archivedMessages(items.map((d) => d.ref_id))).map((m) => [m.id, m] as const)) : null;
          for (const item of items) {
            let recordId: string | null;
            if (messages) {
              const message = messages.get(item.ref_id);
              recordId = message ? await publishToInbox(connector, message) : null;
            } else {
              if (!inbox) throw new CrmError('hubspot inbox: the inbox channel was disconnected; reply not sent', 'hubspot', false);
              if (!this.deps.inboxSender) throw new CrmError('hubspot inbox: no WhatsApp sender configured in this process', 'hubspot', false);
              recordId = await deliverInboxReply({ db, sender: this.deps.inboxSender, logger }, connector, connection, inbox, item.payload);
            }
            await this.markDone(item.id, recordId, null);
            finished.add(item.id);
            result.written += 1;
          }
        } else {
          for (const item of items) {
            if (kind === 'transcript') await this.sendTranscript(connector, item.ref_id);
            else if (kind === 'consent') await this.sendConsent(connector, item.ref_id);
            else await this.sendBotState(connector, item.ref_id);
            await this.markDone(item.id, null, null);
            finished.add(item.id);
            result.written += 1;
          }
        }
      } catch (error) {
        const crm = error instanceof CrmError ? error : null;
        const retryable = crm ? crm.retryable : true;
        const message = error instanceof Error ? error.message : String(error);
        for (const item of items) {
          if (finished.has(item.id)) continue;
          const attempts = item.attempts + 1;
          const dead = attempts >= (retryable ? MAX_CRM_ATTEMPTS : MAX_PERMANENT_ATTEMPTS);
          const delay = crmBackoffMs(attempts, crm?.retryAfterSeconds);
          await db
            .updateTable('crm_outbox')
            .set({
              attempts,
              last_error: message.slice(0, 2000),
              status: dead ? 'dead' : 'pending',
              next_attempt_at: sql`now() + make_interval(secs => ${delay / 1000})`,
            })
            .where('id', '=', item.id)
            .execute();
          if (dead) result.dead += 1;
          else result.retried += 1;
        }
        logger.warn({ connectionId, kind, items: items.length, retryable, err: message }, 'CRM write failed');
        break;
      }
    }
    const next = await db
      .selectFrom('crm_outbox')
      .select(sql<number>`extract(epoch from (min(next_attempt_at) - now()))::float8`.as('secs'))
      .where('connection_id', '=', connectionId)
      .where('status', '=', 'pending')
      .executeTakeFirst();
    result.nextDueSeconds = next?.secs === null || next?.secs === undefined ? null : Math.max(0, Number(next.secs));
    return result;
  }

  private async markDone(id: string, crmRecordId: string | null, note: string | null): Promise<void> {
    await this.deps.db
      .updateTable('crm_outbox')
      .set({ status: 'done', done_at: sql`now()`, crm_record_id: crmRecordId, last_error: note })
      .where('id', '=', id)
      .execute();
  }

  private async archivedMessages(ids: string[]): Promise<ArchivedMessage[]> {
    const rows = await this.deps.db
      .selectFrom('messages as m')
      .innerJoin('threads as t', 't.id', 'm.thread_id')
      .innerJoin('contacts as c', 'c.id', 't.contact_id')
      .innerJoin('whatsapp_numbers as n', 'n.phone_number_id', 'm.phone_number_id')
      .select(['m.id', 'm.wamid', 'm.thread_id', 'm.direction', 'm.origin', 'm.type', 'm.text', 'm.provider_timestamp', 'm.status', 'm.transcript', 'm.transcript_language', 'm.media_voice', 'm.revoked_at', 'm.standby', 'm.creation_type', 't.control_holder', 'c.wa_id', 'c.phone_book_name', 'c.profile_name', 'n.display_phone_number'])
      .where('m.id', 'in', ids)
      // Meta's timestamps are whole seconds: within one, the order the messages were stored in.
      .orderBy('m.provider_timestamp')
      .orderBy('m.created_at')
      .execute();
    return rows.map((r) => ({
      id: r.id,
      wamid: r.wamid,
      threadId: r.thread_id,
      direction: r.direction,
      origin: r.origin,
      type: r.type,
      text: handlerLabel(r) + (r.revoked_at ? '(deleted by the sender)' : (r.text ?? (r.media_voice ? VOICE_LABEL : `[${r.type}]`))),
      timestamp: r.provider_timestamp.toISOString(),
      status: r.status,
      customerPhone: waIdToE164(r.wa_id),
      customerName: r.phone_book_name ?? r.profile_name,
      businessPhone: r.display_phone_number ? normalizePhone(`+${r.display_phone_number}`) : null,
      transcript: r.transcript ? { text: r.transcript, language: r.transcript_language } : null,
    }));
  }

  private async sendTranscript(connector: CrmConnector, messageId: string): Promise<void> {
    const r = await this.deps.db
      .selectFrom('messages as m')
      .innerJoin('threads as t', 't.id', 'm.thread_id')
      .innerJoin('contacts as c', 'c.id', 't.contact_id')
      .select(['m.id', 'm.wamid', 'm.thread_id', 'm.transcript', 'm.transcript_language', 'm.transcript_provider', 'm.updated_at', 'c.wa_id', 'c.phone_book_name', 'c.profile_name'])
      .where('m.id', '=', messageId)
      .executeTakeFirstOrThrow();
    await connector.attachTranscript({
      messageId: r.id,
      wamid: r.wamid,
      threadId: r.thread_id,
      customerPhone: waIdToE164(r.wa_id),
      customerName: r.phone_book_name ?? r.profile_name,
      text: r.transcript ?? '',
      language: r.transcript_language,
      provider: r.transcript_provider ?? 'unknown',
      at: r.updated_at.toISOString(),
    });
  }

  private async sendConsent(connector: CrmConnector, eventId: string): Promise<void> {
    const e = await this.deps.db
      .selectFrom('opt_out_events as e')
      .leftJoin('whatsapp_numbers as n', 'n.phone_number_id', 'e.phone_number_id')
      .select(['e.id', 'e.tenant_id', 'e.wa_id', 'e.action', 'e.source', 'e.detail', 'e.signal_at', 'n.display_phone_number'])
      .where('e.id', '=', eventId)
      .executeTakeFirstOrThrow();
    // The name the business knows the customer by, if this number has talked to them.
    const contact = await this.deps.db
      .selectFrom('contacts')
      .select(['phone_book_name', 'profile_name'])
      .where('tenant_id', '=', e.tenant_id)
      .where('wa_id', '=', e.wa_id)
      .orderBy('updated_at', 'desc')
      .limit(1)
      .executeTakeFirst();
    const customerPhone = waIdToE164(e.wa_id);
    if (!customerPhone) return; // not a phone number: nothing a CRM could match
    await connector.recordMarketingConsent({
      eventId: String(e.id),
      customerPhone,
      customerName: contact?.phone_book_name ?? contact?.profile_name ?? null,
      businessPhone: e.display_phone_number ? normalizePhone(`+${e.display_phone_number}`) : null,
      action: e.action as 'opt_out' | 'opt_in',
      source: e.source,
      detail: e.detail,
      // When the customer gave the signal (their message, their choice in WhatsApp), not when CoEx stored it.
      at: new Date(e.signal_at).toISOString(),
    });
  }

  private async sendBotState(connector: CrmConnector, botEventId: string): Promise<void> {
    const r = await this.deps.db
      .selectFrom('bot_events as e')
      .innerJoin('threads as t', 't.id', 'e.thread_id')
      .innerJoin('contacts as c', 'c.id', 't.contact_id')
      .select(['e.thread_id', 'e.from_state', 'e.to_state', 'e.cause', 'e.paused_until', 'e.at', 'c.wa_id', 'c.phone_book_name', 'c.profile_name'])
      .where('e.id', '=', botEventId)
      .executeTakeFirstOrThrow();
    await connector.showBotState({
      threadId: r.thread_id,
      customerPhone: waIdToE164(r.wa_id),
      customerName: r.phone_book_name ?? r.profile_name,
      from: r.from_state as BotState,
      to: r.to_state as BotState,
      cause: r.cause,
      pausedUntil: r.paused_until ? r.paused_until.toISOString() : null,
      at: r.at.toISOString(),
    });
  }
}

/**
 * Who handled a message another handler owned (Conversation Routing, coex-spec.md §11), as a prefix
 * of its archived text: the CRM timeline then shows that CoEx did not answer it and who did.
 */
export function handlerLabel(r: { direction: string; standby: boolean; creation_type: string | null; control_holder: string }): string {
  const botEcho = r.direction === 'outbound' && r.creation_type === 'created_by_1p_bot';
  if (!r.standby && !botEcho) return '';
  if (botEcho || r.control_holder === 'meta_agent') return r.direction === 'outbound' ? "[sent by Meta's AI agent] " : "[while Meta's AI agent held the chat] ";
  if (r.control_holder === 'other_app') return r.direction === 'outbound' ? '[sent by another app] ' : '[while another app held the chat] ';
  // Control came back since: who held it then is not known any more, only that it was not CoEx.
  return r.direction === 'outbound' ? '[sent by another handler] ' : '[while another handler held the chat] ';
}
