import { sql, type Kysely } from 'kysely';

/**
 * Template campaigns (issue 8): campaigns, their recipients (claimed one by one, restart-safe), and
 * marketing opt-outs per number and customer with an audit log. See docs/decisions/campaign-*.md.
 */
const statements = [
  `create table campaigns (
    id uuid primary key default gen_random_uuid(),
    tenant_id text not null references tenants(id),
    phone_number_id text not null references whatsapp_numbers(phone_number_id),
    name text not null,
    template_name text not null,
    template_language text not null,
    category text not null default 'marketing' check (category in ('marketing', 'utility')),
    body_parameters jsonb,
    source text not null check (source in ('csv', 'api', 'segment')),
    status text not null default 'draft' check (status in ('draft', 'scheduled', 'running', 'paused', 'completed')),
    status_reason text,
    send_at timestamptz,
    created_by text,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    started_at timestamptz,
    completed_at timestamptz
  )`,
  `create index campaigns_tenant on campaigns (tenant_id, created_at desc)`,
  `create index campaigns_active on campaigns (status, send_at) where status in ('scheduled', 'running')`,
  // One row per recipient; status moves queued → sending → sent | failed (or skipped), and the
  // message id is recorded with it, so a restarted runner knows exactly what went out.
  `create table campaign_recipients (
    id bigserial primary key,
    campaign_id uuid not null references campaigns(id) on delete cascade,
    wa_id text not null,
    phone text not null,
    name text,
    variables jsonb not null default '[]'::jsonb,
    status text not null default 'queued' check (status in ('queued', 'sending', 'sent', 'failed', 'skipped')),
    thread_id uuid,
    message_id uuid,
    wamid text,
    error_code integer,
    error text,
    attempts integer not null default 0,
    claimed_by text,
    claimed_at timestamptz,
    sent_at timestamptz,
    updated_at timestamptz not null default now(),
    unique (campaign_id, wa_id)
  )`,
  `create index campaign_recipients_queued on campaign_recipients (campaign_id, id) where status = 'queued'`,
  `create index campaign_recipients_sending on campaign_recipients (claimed_at) where status = 'sending'`,
  `create index campaign_recipients_message on campaign_recipients (message_id) where message_id is not null`,
  `create index campaign_recipients_wa on campaign_recipients (wa_id, updated_at)`,
  // Current opt-outs: a row means "no marketing campaigns to this customer from this number".
  `create table opt_outs (
    phone_number_id text not null references whatsapp_numbers(phone_number_id),
    wa_id text not null,
    tenant_id text not null references tenants(id),
    source text not null check (source in ('keyword', 'api', 'crm', '131050')),
    detail text,
    message_id uuid,
    created_at timestamptz not null default now(),
    primary key (phone_number_id, wa_id)
  )`,
  // Every opt-out and opt-in, kept after an opt-in deletes the current row (proof of consent history).
  `create table opt_out_events (
    id bigserial primary key,
    phone_number_id text not null,
    wa_id text not null,
    tenant_id text not null,
    action text not null check (action in ('opt_out', 'opt_in')),
    source text not null,
    detail text,
    message_id uuid,
    at timestamptz not null default now()
  )`,
  `create index opt_out_events_contact on opt_out_events (phone_number_id, wa_id, id)`,
];

export async function up(db: Kysely<unknown>): Promise<void> {
  for (const statement of statements) await sql.raw(statement).execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const s of ['drop table if exists opt_out_events', 'drop table if exists opt_outs', 'drop table if exists campaign_recipients', 'drop table if exists campaigns']) {
    await sql.raw(s).execute(db);
  }
}
