import { sql, type Kysely } from 'kysely';

/**
 * A message's `created_at` is the moment its row was written (`clock_timestamp()`), not the start of
 * the transaction that wrote it (`now()`): Meta's timestamps are whole seconds, a customer who types
 * fast sends several in one, and a worker stores them in one transaction — all with the same
 * `created_at`, so the thread view, the CRM cards and the agent's context showed them in the order of
 * their random ids. Rows of one multi-row INSERT get increasing values in the order they are written
 * (the deliveries' order). Existing rows keep theirs.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`alter table messages alter column created_at set default clock_timestamp()`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`alter table messages alter column created_at set default now()`.execute(db);
}
