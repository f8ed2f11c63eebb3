import { sql, type Kysely } from 'kysely';

/**
 * `messages` is the table every webhook writes, thousands of rows a second during a history import.
 * Its `tenant_id` and `phone_number_id` references were checked on every row (a lookup and a lock
 * on the parent each), yet they say nothing the `thread_id` reference does not: the thread is tied
 * to the same tenant and number by its own foreign keys, and nothing ever deletes a tenant or a
 * number. The thread reference stays. Measured: the row checks were about a third of the INSERT's
 * time (docs/decisions/messages-foreign-keys.md).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`alter table messages drop constraint if exists messages_tenant_id_fkey`.execute(db);
  await sql`alter table messages drop constraint if exists messages_phone_number_id_fkey`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`alter table messages add constraint messages_tenant_id_fkey foreign key (tenant_id) references tenants(id)`.execute(db);
  await sql`alter table messages add constraint messages_phone_number_id_fkey foreign key (phone_number_id) references whatsapp_numbers(phone_number_id)`.execute(db);
}
