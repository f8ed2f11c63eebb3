import { sql, type Kysely } from 'kysely';

/**
 * Meta's 2026 platform changes (coex-spec.md §11, docs/decisions/meta-2026-changes.md):
 * - who holds a thread under Conversation Routing (`standby` / `messaging_handovers`): CoEx, Meta's
 *   own agent, or another app. `control_event_at` is the provider time of the last handover applied,
 *   so a handover delivered late never overrides a newer one.
 * - messages received on the `standby` field (another handler owned the thread), and an echo's
 *   `message_creation_type` (a person in the app, or a bot).
 * - `user_changed_user_id`: the old → new BSUID of a customer, kept so a message still carrying the
 *   old id (late or redelivered) lands on the same contact, whatever the order.
 */
const statements = [
  `alter table threads add column control_holder text not null default 'coex'`,
  `alter table threads add column control_app_id text`,
  `alter table threads add column control_event_at timestamptz`,
  `alter table threads add constraint threads_control_holder_check check (control_holder in ('coex', 'meta_agent', 'other_app'))`,
  `alter table messages add column standby boolean not null default false`,
  `alter table messages add column creation_type text`,
  `create table contact_user_id_changes (
     phone_number_id text not null,
     previous_user_id text not null,
     new_user_id text not null,
     provider_timestamp timestamptz not null,
     wamid text not null,
     created_at timestamptz not null default now(),
     primary key (phone_number_id, previous_user_id)
   )`,
];

export async function up(db: Kysely<unknown>): Promise<void> {
  for (const statement of statements) await sql.raw(statement).execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql.raw(`drop table if exists contact_user_id_changes`).execute(db);
  await sql.raw(`alter table messages drop column if exists creation_type`).execute(db);
  await sql.raw(`alter table messages drop column if exists standby`).execute(db);
  await sql.raw(`alter table threads drop constraint if exists threads_control_holder_check`).execute(db);
  await sql.raw(`alter table threads drop column if exists control_event_at`).execute(db);
  await sql.raw(`alter table threads drop column if exists control_app_id`).execute(db);
  await sql.raw(`alter table threads drop column if exists control_holder`).execute(db);
}
