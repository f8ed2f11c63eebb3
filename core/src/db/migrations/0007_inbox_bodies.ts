import { sql, type Kysely } from 'kysely';

/**
 * Ingestion that never loses and never stalls (docs/decisions/ingestion-worker.md):
 * - `webhook_bodies`: a delivery's bytes stored once, however many numbers it names (the inbox row
 *   per number references it; before, a 222 KB body naming 200 numbers became 44 MB of rows).
 * - `webhook_inbox.next_attempt_at`: a transient failure delays its own number by a few seconds, not
 *   the whole queue; `body_id` points at the stored bytes (`raw_body` stays for rows written before).
 * - `webhook_set_aside`: the one item of a delivery that cannot be stored, kept visibly with its
 *   reason, while the rest of the delivery is applied.
 */
const statements = [
  `create table webhook_bodies (
    id bigserial primary key,
    body_sha256 text not null unique,
    raw_body text not null,
    received_at timestamptz not null default now()
  )`,
  `alter table webhook_inbox add column body_id bigint references webhook_bodies(id)`,
  `alter table webhook_inbox alter column raw_body drop not null`,
  `alter table webhook_inbox add column next_attempt_at timestamptz not null default now()`,
  `insert into webhook_bodies (body_sha256, raw_body)
     select distinct on (body_sha256) body_sha256, raw_body from webhook_inbox where raw_body is not null order by body_sha256, id
     on conflict (body_sha256) do nothing`,
  `update webhook_inbox i set body_id = b.id, raw_body = null from webhook_bodies b where b.body_sha256 = i.body_sha256 and i.raw_body is not null`,
  `create index webhook_inbox_due on webhook_inbox (next_attempt_at, partition_key) where processed_at is null`,
  `create table webhook_set_aside (
    id bigserial primary key,
    inbox_id bigint not null references webhook_inbox(id),
    partition_key text not null,
    kind text not null,
    reason text not null,
    payload jsonb,
    created_at timestamptz not null default now()
  )`,
  `create index webhook_set_aside_recent on webhook_set_aside (created_at desc)`,
];

export async function up(db: Kysely<unknown>): Promise<void> {
  for (const statement of statements) await sql.raw(statement).execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql.raw(`drop table if exists webhook_set_aside`).execute(db);
  await sql.raw(`drop index if exists webhook_inbox_due`).execute(db);
  await sql.raw(`update webhook_inbox i set raw_body = b.raw_body from webhook_bodies b where b.id = i.body_id and i.raw_body is null`).execute(db);
  await sql.raw(`alter table webhook_inbox drop column next_attempt_at`).execute(db);
  await sql.raw(`alter table webhook_inbox drop column body_id`).execute(db);
  await sql.raw(`alter table webhook_inbox alter column raw_body set not null`).execute(db);
  await sql.raw(`drop table if exists webhook_bodies`).execute(db);
}
