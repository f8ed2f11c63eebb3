import { sql, type Kysely } from 'kysely';

/**
 * Server-wide settings that must live with the data rather than in the environment. First use: the
 * fingerprint of the encryption key the stored secrets were sealed with (see core/src/key-check.ts),
 * so a server started with another key stops at once with a clear message instead of failing CRM
 * jobs hours later with "unable to authenticate data".
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`create table coex_settings (
    key text primary key,
    value text not null,
    updated_at timestamptz not null default now()
  )`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table if exists coex_settings`.execute(db);
}
