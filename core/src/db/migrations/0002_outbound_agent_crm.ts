import { sql, type Kysely } from 'kysely';

/** Outbound sending and pacing, onboarding, agent turns, transcription and the CRM outbox. */
const statements = [
  // GCRA pacer per number: `tat` is the theoretical arrival time of the next send; shared by every process.
  `create table send_pacers (
    phone_number_id text primary key,
    tat timestamptz not null default now(),
    updated_at timestamptz not null default now()
  )`,
  // One sequence orders, per thread and under the thread's row lock, every human act on the agent
  // (bot_events.seq) and every agent-reply claim (messages.claim_seq): the "never talk over a human"
  // property is checkable from the data alone.
  `create sequence activity_seq`,
  `alter table bot_events add column seq bigint`,
  `alter table messages add column claim_seq bigint`,
  `alter table messages add column actor text`,
  `alter table messages add column send_attempts integer not null default 0`,
  `alter table messages add column client_ref text`,
  `create unique index messages_client_ref on messages (phone_number_id, client_ref) where client_ref is not null`,
  `create table onboarding_steps (
    id bigserial primary key,
    tenant_id text not null references tenants(id),
    waba_id text,
    phone_number_id text,
    step text not null,
    status text not null,
    request_id text,
    detail jsonb,
    at timestamptz not null default now()
  )`,
  `create index onboarding_steps_number on onboarding_steps (phone_number_id, id)`,
  `create table agent_turns (
    id uuid primary key default gen_random_uuid(),
    tenant_id text not null references tenants(id),
    thread_id uuid not null references threads(id),
    trigger_message_id uuid not null references messages(id),
    status text not null default 'pending',
    bot_version_at_start bigint,
    start_seq bigint,
    provider text,
    reply_message_id uuid,
    reason text,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    unique (trigger_message_id)
  )`,
  `create index agent_turns_thread on agent_turns (thread_id, created_at)`,
  `create table crm_connections (
    id uuid primary key default gen_random_uuid(),
    tenant_id text not null references tenants(id),
    crm text not null check (crm in ('hubspot', 'woocommerce', 'odoo', 'zoho')),
    account text not null,
    credentials_enc text not null,
    extension_key_hash text,
    status text not null default 'active',
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    unique (crm, account)
  )`,
  `create index crm_connections_tenant on crm_connections (tenant_id)`,
  `create table crm_outbox (
    id bigserial primary key,
    tenant_id text not null references tenants(id),
    connection_id uuid not null references crm_connections(id) on delete cascade,
    kind text not null check (kind in ('archive', 'transcript', 'bot_state')),
    ref_id text not null,
    payload jsonb not null,
    status text not null default 'pending',
    attempts integer not null default 0,
    next_attempt_at timestamptz not null default now(),
    last_error text,
    crm_record_id text,
    created_at timestamptz not null default now(),
    done_at timestamptz,
    unique (connection_id, kind, ref_id)
  )`,
  `create index crm_outbox_due on crm_outbox (connection_id, next_attempt_at) where status = 'pending'`,
];

export async function up(db: Kysely<unknown>): Promise<void> {
  for (const statement of statements) await sql.raw(statement).execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const s of [
    'drop table if exists crm_outbox',
    'drop table if exists crm_connections',
    'drop table if exists agent_turns',
    'drop table if exists onboarding_steps',
    'drop index if exists messages_client_ref',
    'alter table messages drop column if exists client_ref',
    'alter table messages drop column if exists send_attempts',
    'alter table messages drop column if exists actor',
    'drop table if exists send_pacers',
    'alter table messages drop column if exists claim_seq',
    'alter table bot_events drop column if exists seq',
    'drop sequence if exists activity_seq',
  ]) {
    await sql.raw(s).execute(db);
  }
}
