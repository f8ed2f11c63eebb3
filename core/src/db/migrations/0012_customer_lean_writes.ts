import { sql, type Kysely } from 'kysely';

/**
 * A new customer writes a contact and a thread. Their `tenant_id` references (and the thread's
 * `phone_number_id` one) were checked on every row — a lookup and a `FOR KEY SHARE` lock on the one
 * tenant row every worker shares — yet say nothing the kept references do not: a thread is tied to
 * its number through its contact (`contact_id`), a contact to its number (`phone_number_id`), a number
 * to its tenant. Nothing deletes a tenant or a number. Measured: PostgreSQL's CPU per message of a
 * new customer 356 → ~285 µs (docs/decisions/messages-foreign-keys.md).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`alter table threads drop constraint if exists threads_tenant_id_fkey`.execute(db);
  await sql`alter table threads drop constraint if exists threads_phone_number_id_fkey`.execute(db);
  await sql`alter table contacts drop constraint if exists contacts_tenant_id_fkey`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`alter table threads add constraint threads_tenant_id_fkey foreign key (tenant_id) references tenants(id)`.execute(db);
  await sql`alter table threads add constraint threads_phone_number_id_fkey foreign key (phone_number_id) references whatsapp_numbers(phone_number_id)`.execute(db);
  await sql`alter table contacts add constraint contacts_tenant_id_fkey foreign key (tenant_id) references tenants(id)`.execute(db);
}
