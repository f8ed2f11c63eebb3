import { sql, type Kysely } from 'kysely';

/**
 * Consent signals Meta sends and account states (issue 19).
 *
 * - Marketing preferences from WhatsApp itself (`user_preferences` webhook: stop / resume / signup)
 *   become a fifth opt-out source, 'whatsapp'. Every signal (keyword, webhook, 131050, API, CRM)
 *   carries the time the customer gave it (`signal_at`): the latest one wins whatever order they
 *   arrive in; an older one that arrives late is kept in the history with `applied = false`.
 *   Webhook signals carry a `dedupe_key` so a redelivery records nothing twice.
 * - `account_update` ban states and policy violations: the number keeps a current warning (with
 *   its time) next to its connection status, and each account event records what CoEx did about it.
 */
const statements = [
  `alter table opt_outs drop constraint if exists opt_outs_source_check`,
  `alter table opt_outs add constraint opt_outs_source_check check (source in ('keyword', 'api', 'crm', '131050', 'whatsapp'))`,
  `alter table opt_outs add column signal_at timestamptz`,
  `update opt_outs set signal_at = created_at`,
  `alter table opt_out_events add column signal_at timestamptz`,
  `update opt_out_events set signal_at = at`,
  `alter table opt_out_events alter column signal_at set default now()`,
  `alter table opt_out_events alter column signal_at set not null`,
  `alter table opt_out_events add column applied boolean not null default true`,
  `alter table opt_out_events add column dedupe_key text`,
  `create unique index opt_out_events_dedupe on opt_out_events (phone_number_id, dedupe_key) where dedupe_key is not null`,
  `create index opt_out_events_latest on opt_out_events (phone_number_id, wa_id, signal_at desc) where applied`,
  `alter table whatsapp_numbers add column account_warning text`,
  `alter table whatsapp_numbers add column account_warning_at timestamptz`,
  `alter table account_events add column effect text`,
  `alter table account_events add column detail text`,
];

export async function up(db: Kysely<unknown>): Promise<void> {
  for (const statement of statements) await sql.raw(statement).execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const s of [
    `alter table account_events drop column if exists detail`,
    `alter table account_events drop column if exists effect`,
    `alter table whatsapp_numbers drop column if exists account_warning_at`,
    `alter table whatsapp_numbers drop column if exists account_warning`,
    `drop index if exists opt_out_events_latest`,
    `drop index if exists opt_out_events_dedupe`,
    `alter table opt_out_events drop column if exists dedupe_key`,
    `alter table opt_out_events drop column if exists applied`,
    `alter table opt_out_events drop column if exists signal_at`,
    `alter table opt_outs drop column if exists signal_at`,
    `delete from opt_outs where source = 'whatsapp'`,
    `alter table opt_outs drop constraint if exists opt_outs_source_check`,
    `alter table opt_outs add constraint opt_outs_source_check check (source in ('keyword', 'api', 'crm', '131050'))`,
  ]) {
    await sql.raw(s).execute(db);
  }
}
