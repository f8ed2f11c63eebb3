import { sql, type Kysely } from 'kysely';

/**
 * Marketing opt-outs and opt-ins are written to the CRMs (issue 8): the CRM outbox gets a fourth
 * kind, 'consent', whose ref_id is an opt_out_events id. The catch-up query finds events that have
 * no outbox row yet, so an opt-out recorded before a CRM was connected still reaches it.
 */
const statements = [
  `alter table crm_outbox drop constraint if exists crm_outbox_kind_check`,
  `alter table crm_outbox add constraint crm_outbox_kind_check check (kind in ('archive', 'transcript', 'bot_state', 'consent'))`,
];

export async function up(db: Kysely<unknown>): Promise<void> {
  for (const statement of statements) await sql.raw(statement).execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql.raw(`delete from crm_outbox where kind = 'consent'`).execute(db);
  await sql.raw(`alter table crm_outbox drop constraint if exists crm_outbox_kind_check`).execute(db);
  await sql.raw(`alter table crm_outbox add constraint crm_outbox_kind_check check (kind in ('archive', 'transcript', 'bot_state'))`).execute(db);
}
