import { sql, type Kysely } from 'kysely';

/**
 * HubSpot inbox (Conversations custom channel, docs/decisions/hubspot-inbox-channel.md): two more
 * CRM outbox kinds.
 * - 'inbox': a WhatsApp message published to the portal's channel account (ref_id = message id,
 *   crm_record_id = HubSpot's message id, which the webhook uses to recognise its own echoes).
 * - 'inbox_reply': an agent's reply received on the channel webhook, to send on WhatsApp and report
 *   back (ref_id = HubSpot's message id, so a redelivered webhook is the same row; payload = the reply).
 */
const statements = [
  `alter table crm_outbox drop constraint if exists crm_outbox_kind_check`,
  `alter table crm_outbox add constraint crm_outbox_kind_check check (kind in ('archive', 'transcript', 'bot_state', 'consent', 'inbox', 'inbox_reply'))`,
  `create index crm_outbox_inbox_record on crm_outbox (connection_id, crm_record_id) where kind = 'inbox'`,
];

export async function up(db: Kysely<unknown>): Promise<void> {
  for (const statement of statements) await sql.raw(statement).execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql.raw(`drop index if exists crm_outbox_inbox_record`).execute(db);
  await sql.raw(`delete from crm_outbox where kind in ('inbox', 'inbox_reply')`).execute(db);
  await sql.raw(`alter table crm_outbox drop constraint if exists crm_outbox_kind_check`).execute(db);
  await sql.raw(`alter table crm_outbox add constraint crm_outbox_kind_check check (kind in ('archive', 'transcript', 'bot_state', 'consent'))`).execute(db);
}
