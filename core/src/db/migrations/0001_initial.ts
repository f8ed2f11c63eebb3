import { sql, type Kysely } from 'kysely';

/** The conversation store. */
const statements = [
  `create table tenants (
    id text primary key,
    name text not null,
    quiet_period_seconds integer not null default 1800,
    settings jsonb not null default '{}'::jsonb,
    created_at timestamptz not null default now()
  )`,
  `create table api_tokens (
    token_hash text primary key,
    tenant_id text not null references tenants(id) on delete cascade,
    label text not null,
    created_at timestamptz not null default now()
  )`,
  `create table whatsapp_numbers (
    phone_number_id text primary key,
    tenant_id text not null references tenants(id),
    waba_id text,
    display_phone_number text,
    verified_name text,
    is_coexistence boolean not null default true,
    throughput_mps integer not null default 20,
    access_token_enc text,
    connection_status text not null default 'connected',
    connection_reason text,
    connection_changed_at timestamptz,
    last_echo_at timestamptz,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
  )`,
  `create index whatsapp_numbers_tenant on whatsapp_numbers (tenant_id)`,
  `create index whatsapp_numbers_waba on whatsapp_numbers (waba_id)`,
  `create table contacts (
    id uuid primary key default gen_random_uuid(),
    tenant_id text not null references tenants(id),
    phone_number_id text not null references whatsapp_numbers(phone_number_id),
    contact_key text not null,
    wa_id text,
    user_id text,
    username text,
    country_code text,
    profile_name text,
    phone_book_name text,
    phone_book_first_name text,
    phone_book_removed_at timestamptz,
    phone_book_updated_at timestamptz,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    unique (phone_number_id, contact_key)
  )`,
  `create table threads (
    id uuid primary key default gen_random_uuid(),
    tenant_id text not null references tenants(id),
    phone_number_id text not null references whatsapp_numbers(phone_number_id),
    contact_id uuid not null references contacts(id),
    last_customer_message_at timestamptz,
    last_message_at timestamptz,
    bot_state text not null default 'active',
    bot_paused_until timestamptz,
    bot_version bigint not null default 0,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    unique (phone_number_id, contact_id)
  )`,
  `create index threads_tenant_last on threads (tenant_id, last_message_at desc)`,
  `create table messages (
    id uuid primary key default gen_random_uuid(),
    tenant_id text not null references tenants(id),
    phone_number_id text not null references whatsapp_numbers(phone_number_id),
    thread_id uuid not null references threads(id),
    wamid text not null,
    direction text not null check (direction in ('inbound', 'outbound')),
    origin text not null check (origin in ('customer', 'app', 'api', 'agent', 'history')),
    type text not null,
    text text,
    provider_timestamp timestamptz not null,
    status text,
    status_rank integer not null default 0,
    status_at timestamptz,
    error jsonb,
    history_status text,
    context_wamid text,
    media_id text,
    media_mime text,
    media_sha256 text,
    media_voice boolean not null default false,
    media_ref text,
    media_state text,
    edited_at timestamptz,
    revoked_at timestamptz,
    transcript text,
    transcript_language text,
    transcript_provider text,
    transcript_model text,
    transcript_state text,
    transcript_error text,
    transcript_duration_seconds double precision,
    payload jsonb not null,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    unique (phone_number_id, wamid)
  )`,
  `create index messages_thread_time on messages (thread_id, provider_timestamp, created_at)`,
  `create table message_statuses (
    phone_number_id text not null,
    wamid text not null,
    status text not null,
    status_rank integer not null,
    provider_timestamp timestamptz not null,
    recipient_id text,
    errors jsonb,
    pricing jsonb,
    payload jsonb not null,
    received_at timestamptz not null default now(),
    primary key (phone_number_id, wamid, status)
  )`,
  `create table message_mutations (
    phone_number_id text not null,
    wamid text not null,
    target_wamid text not null,
    kind text not null check (kind in ('edit', 'revoke')),
    provider_timestamp timestamptz not null,
    new_text text,
    payload jsonb not null,
    received_at timestamptz not null default now(),
    primary key (phone_number_id, wamid)
  )`,
  `create index message_mutations_target on message_mutations (phone_number_id, target_wamid)`,
  `create table history_chunks (
    phone_number_id text not null,
    chunk_hash text not null,
    phase integer not null,
    chunk_order integer not null,
    progress integer not null,
    thread_count integer not null,
    message_count integer not null,
    received_at timestamptz not null default now(),
    primary key (phone_number_id, chunk_hash)
  )`,
  `create table sync_state (
    phone_number_id text primary key references whatsapp_numbers(phone_number_id),
    history_status text not null default 'not_requested',
    history_request_id text,
    history_requested_at timestamptz,
    history_progress integer not null default 0,
    history_chunks integer not null default 0,
    history_messages integer not null default 0,
    history_error jsonb,
    history_completed_at timestamptz,
    contacts_status text not null default 'not_requested',
    contacts_request_id text,
    contacts_requested_at timestamptz,
    contacts_count integer not null default 0,
    contacts_last_at timestamptz,
    updated_at timestamptz not null default now()
  )`,
  `create table account_events (
    id bigserial primary key,
    waba_id text not null,
    phone_number_id text,
    event text not null,
    reason text,
    initiated_by text,
    payload jsonb not null,
    received_at timestamptz not null default now()
  )`,
  `create table webhook_inbox (
    id bigserial primary key,
    partition_key text not null,
    body_sha256 text not null,
    raw_body text not null,
    received_at timestamptz not null default now(),
    processed_at timestamptz,
    attempts integer not null default 0,
    last_error text,
    outcome jsonb,
    unique (partition_key, body_sha256)
  )`,
  `create index webhook_inbox_pending on webhook_inbox (partition_key, id) where processed_at is null`,
  `create table unknown_events (
    id bigserial primary key,
    inbox_id bigint,
    phone_number_id text,
    field text not null,
    detail text not null,
    payload jsonb,
    received_at timestamptz not null default now()
  )`,
  `create table bot_events (
    id bigserial primary key,
    thread_id uuid not null references threads(id),
    from_state text not null,
    to_state text not null,
    cause text not null,
    actor text,
    paused_until timestamptz,
    at timestamptz not null default now()
  )`,
  `create index bot_events_thread on bot_events (thread_id, id)`,
];

export async function up(db: Kysely<unknown>): Promise<void> {
  for (const statement of statements) await sql.raw(statement).execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const table of [
    'bot_events', 'unknown_events', 'webhook_inbox', 'account_events', 'sync_state', 'history_chunks',
    'message_mutations', 'message_statuses', 'messages', 'threads', 'contacts', 'whatsapp_numbers', 'api_tokens', 'tenants',
  ]) {
    await sql.raw(`drop table if exists ${table} cascade`).execute(db);
  }
}
