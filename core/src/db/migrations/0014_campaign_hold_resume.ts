import { sql, type Kysely } from 'kysely';

/**
 * A campaign paused because Meta holds the number's business-initiated messaging (0013) resumes by
 * itself once the hold is over; one paused for any other reason, or by a person, waits for a start.
 * The flag says which (docs/decisions/account-ban-states.md).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`alter table campaigns add column if not exists paused_for_hold boolean not null default false`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`alter table campaigns drop column if exists paused_for_hold`.execute(db);
}
