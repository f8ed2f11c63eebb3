import { sql, type Kysely } from 'kysely';

/**
 * Meta can restrict only the messaging a business starts (`RESTRICTED_BIZ_INITIATED_MESSAGING`, with
 * an expiry): templates and campaigns are held until then, replies inside the customer's 24-hour
 * window still go out. Until this column, such a restriction set the number `restricted` and stopped
 * every send, the AI agent's replies included (docs/decisions/account-ban-states.md).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`alter table whatsapp_numbers add column if not exists business_initiated_blocked_until timestamptz`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`alter table whatsapp_numbers drop column if exists business_initiated_blocked_until`.execute(db);
}
