import { sql, type Kysely } from 'kysely';
import type { CampaignStatus, Database } from '../db/schema.js';
import type { TenantScope } from '../store/queries.js';
import type { PreparedRecipient } from './recipients.js';
import { SKIP_REASON_LABELS, WHATSAPP_CONSENT_SOURCES } from './opt-outs.js';

/** Campaign records: creation with recipients, start/pause, reports read from stored statuses. */

export class CampaignError extends Error {
  constructor(message: string, readonly code: 'not_found' | 'invalid_state' | 'invalid_input') {
    super(message);
    this.name = 'CampaignError';
  }
}

export interface NewCampaign {
  tenantId: string;
  phoneNumberId: string;
  name: string;
  template: { name: string; language: string; category: 'marketing' | 'utility' };
  /** Entries with {{name}} / {{varN}}; null = the recipient's variables in order. */
  bodyParameters: string[] | null;
  source: 'csv' | 'api' | 'segment';
  sendAt: Date | null;
  createdBy: string | null;
  recipients: PreparedRecipient[];
}

export interface CreatedCampaign {
  id: string;
  status: CampaignStatus;
  recipients: number;
  /** Marketing only: customers already opted out, recorded as skipped. */
  excludedOptedOut: number;
}

const INSERT_BATCH = 500;

export async function createCampaign(db: Kysely<Database>, c: NewCampaign): Promise<CreatedCampaign> {
  return db.transaction().execute(async (trx) => {
    const number = await trx.selectFrom('whatsapp_numbers').select('tenant_id').where('phone_number_id', '=', c.phoneNumberId).executeTakeFirst();
    if (!number || number.tenant_id !== c.tenantId) throw new CampaignError(`number ${c.phoneNumberId} not found for this tenant`, 'not_found');
    const status: CampaignStatus = c.sendAt ? 'scheduled' : 'draft';
    const campaign = await trx
      .insertInto('campaigns')
      .values({
        tenant_id: c.tenantId,
        phone_number_id: c.phoneNumberId,
        name: c.name,
        template_name: c.template.name,
        template_language: c.template.language,
        category: c.template.category,
        body_parameters: c.bodyParameters ? JSON.stringify(c.bodyParameters) : null,
        source: c.source,
        status,
        send_at: c.sendAt,
        created_by: c.createdBy,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    for (let i = 0; i < c.recipients.length; i += INSERT_BATCH) {
      await trx
        .insertInto('campaign_recipients')
        .values(c.recipients.slice(i, i + INSERT_BATCH).map((r) => ({ campaign_id: campaign.id, wa_id: r.waId, phone: r.phone, name: r.name, variables: JSON.stringify(r.variables) })))
        .onConflict((oc) => oc.columns(['campaign_id', 'wa_id']).doNothing())
        .execute();
    }
    let excludedOptedOut = 0;
    if (c.template.category === 'marketing') {
      const skipped = await sql<{ n: number }>`
        with s as (
          update campaign_recipients r set status = 'skipped', updated_at = now(),
                 error = case when o.source in (${sql.join([...WHATSAPP_CONSENT_SOURCES])}) then 'opted_out_whatsapp' else 'opted_out' end
            from opt_outs o
           where r.campaign_id = ${campaign.id} and o.phone_number_id = ${c.phoneNumberId} and o.wa_id = r.wa_id
          returning 1
        ) select count(*)::int as n from s`.execute(trx);
      excludedOptedOut = Number(skipped.rows[0]?.n ?? 0);
    }
    return { id: campaign.id, status, recipients: c.recipients.length, excludedOptedOut };
  });
}

async function findCampaign(db: Kysely<Database>, scope: TenantScope, id: string) {
  if (!/^[0-9a-f-]{36}$/i.test(id)) return undefined;
  let q = db.selectFrom('campaigns').selectAll().where('id', '=', id);
  if (scope !== null) q = q.where('tenant_id', '=', scope);
  return q.executeTakeFirst();
}

/** Starts now, or at send_at when that is still ahead. Resumes a paused campaign. */
export async function startCampaign(db: Kysely<Database>, scope: TenantScope, id: string): Promise<{ status: CampaignStatus }> {
  const c = await findCampaign(db, scope, id);
  if (!c) throw new CampaignError('campaign not found', 'not_found');
  if (c.status === 'running' || c.status === 'completed') throw new CampaignError(`campaign is ${c.status}`, 'invalid_state');
  const row = await sql<{ status: CampaignStatus }>`
    update campaigns set
      status = case when send_at is not null and send_at > now() then 'scheduled' else 'running' end,
      started_at = case when send_at is not null and send_at > now() then started_at else coalesce(started_at, now()) end,
      status_reason = null, paused_for_hold = false, updated_at = now()
    where id = ${id} and status in ('draft', 'scheduled', 'paused')
    returning status`.execute(db);
  const status = row.rows[0]?.status;
  if (!status) throw new CampaignError('campaign changed state meanwhile; try again', 'invalid_state');
  return { status };
}

/**
 * Pauses a campaign until `startCampaign`. Pausing one that Meta's hold paused makes it wait for a
 * person instead of resuming by itself when the hold ends.
 */
export async function pauseCampaign(db: Kysely<Database>, scope: TenantScope, id: string, reason = 'paused by request'): Promise<{ status: CampaignStatus }> {
  const c = await findCampaign(db, scope, id);
  if (!c) throw new CampaignError('campaign not found', 'not_found');
  const updated = await db
    .updateTable('campaigns')
    .set({ status: 'paused', status_reason: reason, paused_for_hold: false, updated_at: sql`now()` })
    .where('id', '=', id)
    .where((eb) => eb.or([eb('status', 'in', ['draft', 'scheduled', 'running']), eb.and([eb('status', '=', 'paused'), eb('paused_for_hold', '=', true)])]))
    .returning('status')
    .executeTakeFirst();
  if (!updated) throw new CampaignError(`campaign is ${c.status}`, 'invalid_state');
  return { status: updated.status };
}

export interface CampaignCounts {
  total: number;
  queued: number;
  sending: number;
  skipped: number;
  /** Accepted by Meta (every later status counts as sent too). */
  sent: number;
  delivered: number;
  read: number;
  failed: number;
  /** The recipient wrote to the number after the campaign message was sent. */
  replied: number;
  /** Skipped because the customer stopped marketing messages in WhatsApp itself (or Meta answered 131050). */
  opted_out_whatsapp: number;
}

export interface CampaignReport {
  id: string;
  tenant_id: string;
  phone_number_id: string;
  name: string;
  template: { name: string; language: string; category: string };
  source: string;
  status: CampaignStatus;
  status_reason: string | null;
  send_at: Date | null;
  created_at: Date;
  started_at: Date | null;
  completed_at: Date | null;
  counts: CampaignCounts;
  /** Failures grouped by Meta error code (or our reason when there is no code), largest first. */
  failures: Array<{ code: string; count: number; example: string | null }>;
  skipped_reasons: Array<{ reason: string; label: string; count: number }>;
}

// The Meta error code of a failed message: sync failures store { code, kind, message }, failed
// status webhooks store Meta's errors array ([{ code, title, … }]).
const messageErrorCode = sql<string | null>`case jsonb_typeof(m.error) when 'array' then m.error->0->>'code' when 'object' then m.error->>'code' end`;
const messageErrorText = sql<string | null>`case jsonb_typeof(m.error) when 'array' then coalesce(m.error->0->>'title', m.error->0->>'message') when 'object' then m.error->>'message' end`;

export async function campaignReport(db: Kysely<Database>, scope: TenantScope, id: string): Promise<CampaignReport | null> {
  const c = await findCampaign(db, scope, id);
  if (!c) return null;
  const counts = await sql<Record<keyof CampaignCounts, string | number>>`
    select
      count(*) as total,
      count(*) filter (where r.status = 'queued') as queued,
      count(*) filter (where r.status = 'sending') as sending,
      count(*) filter (where r.status = 'skipped') as skipped,
      count(*) filter (where r.status = 'skipped' and r.error = 'opted_out_whatsapp') as opted_out_whatsapp,
      count(*) filter (where r.status = 'sent') as sent,
      count(*) filter (where r.status = 'sent' and m.status in ('delivered', 'read', 'played')) as delivered,
      count(*) filter (where r.status = 'sent' and m.status in ('read', 'played')) as read,
      count(*) filter (where r.status = 'failed' or (r.status = 'sent' and m.status = 'failed')) as failed,
      count(*) filter (where r.status = 'sent' and exists (
        select 1 from messages i
         where i.thread_id = r.thread_id and i.direction = 'inbound' and i.origin = 'customer' and i.provider_timestamp > m.provider_timestamp
      )) as replied
    from campaign_recipients r
    left join messages m on m.id = r.message_id
    where r.campaign_id = ${id}`.execute(db);
  const failures = await sql<{ code: string; count: string | number; example: string | null }>`
    select coalesce(nullif(r.error_code, 0)::text, ${messageErrorCode}, r.error, 'unknown') as code, count(*) as count,
           min(coalesce(r.error, ${messageErrorText})) as example
    from campaign_recipients r
    left join messages m on m.id = r.message_id
    where r.campaign_id = ${id} and (r.status = 'failed' or (r.status = 'sent' and m.status = 'failed'))
    group by 1 order by 2 desc, 1`.execute(db);
  const skipped = await db
    .selectFrom('campaign_recipients')
    .select((eb) => [eb.fn.coalesce('error', sql<string>`'unknown'`).as('reason'), eb.fn.countAll<string>().as('count')])
    .where('campaign_id', '=', id)
    .where('status', '=', 'skipped')
    .groupBy('error')
    .orderBy('count', 'desc')
    .execute();
  const raw = counts.rows[0];
  const n = (k: keyof CampaignCounts): number => Number(raw?.[k] ?? 0);
  return {
    id: c.id,
    tenant_id: c.tenant_id,
    phone_number_id: c.phone_number_id,
    name: c.name,
    template: { name: c.template_name, language: c.template_language, category: c.category },
    source: c.source,
    status: c.status,
    status_reason: c.status_reason,
    send_at: c.send_at,
    created_at: c.created_at,
    started_at: c.started_at,
    completed_at: c.completed_at,
    counts: {
      total: n('total'),
      queued: n('queued'),
      sending: n('sending'),
      skipped: n('skipped'),
      sent: n('sent'),
      delivered: n('delivered'),
      read: n('read'),
      failed: n('failed'),
      replied: n('replied'),
      opted_out_whatsapp: n('opted_out_whatsapp'),
    },
    failures: failures.rows.map((f) => ({ code: f.code, count: Number(f.count), example: f.example })),
    skipped_reasons: skipped.map((s) => ({ reason: s.reason, label: SKIP_REASON_LABELS[s.reason] ?? s.reason, count: Number(s.count) })),
  };
}

export interface CampaignSummary {
  id: string;
  name: string;
  phone_number_id: string;
  status: CampaignStatus;
  template_name: string;
  send_at: Date | null;
  created_at: Date;
  recipients: number;
}

export async function listCampaigns(db: Kysely<Database>, scope: TenantScope, opts: { limit?: number | undefined } = {}): Promise<CampaignSummary[]> {
  let q = db
    .selectFrom('campaigns as c')
    .select(['c.id', 'c.name', 'c.phone_number_id', 'c.status', 'c.template_name', 'c.send_at', 'c.created_at'])
    .select((eb) => eb.selectFrom('campaign_recipients as r').select(eb.fn.countAll<string>().as('n')).whereRef('r.campaign_id', '=', 'c.id').as('recipients'))
    .orderBy('c.created_at', 'desc')
    .limit(opts.limit ?? 100);
  if (scope !== null) q = q.where('c.tenant_id', '=', scope);
  const rows = await q.execute();
  return rows.map((r) => ({ ...r, recipients: Number(r.recipients ?? 0) }));
}

export interface ContactCampaignOutcome {
  status: 'queued' | 'sending' | 'sent' | 'failed' | 'skipped';
  /** The campaign message's own status (delivered, read, failed…), null before it was sent. */
  message_status: string | null;
  error_code: number | null;
  error: string | null;
  sent_at: Date | null;
  /** The customer wrote to the number after the campaign message. */
  replied: boolean;
}

/**
 * The campaigns that included one customer (newest first, at most `limit`), each with its report
 * and this customer's own outcome: what the CRM cards show on a contact's page.
 */
export async function campaignsForContact(db: Kysely<Database>, tenantId: string, waId: string, limit: number): Promise<Array<{ report: CampaignReport; recipient: ContactCampaignOutcome }>> {
  const rows = await sql<{
    campaign_id: string;
    status: ContactCampaignOutcome['status'];
    message_status: string | null;
    error_code: number | string | null;
    error: string | null;
    sent_at: Date | null;
    replied: boolean;
  }>`
    select r.campaign_id, r.status, m.status as message_status,
           coalesce(nullif(r.error_code, 0)::text, ${messageErrorCode}) as error_code,
           coalesce(r.error, ${messageErrorText}) as error,
           r.sent_at,
           (m.id is not null and exists (
             select 1 from messages i
              where i.thread_id = r.thread_id and i.direction = 'inbound' and i.origin = 'customer' and i.provider_timestamp > m.provider_timestamp
           )) as replied
    from campaign_recipients r
    join campaigns c on c.id = r.campaign_id
    left join messages m on m.id = r.message_id
    where c.tenant_id = ${tenantId} and r.wa_id = ${waId}
    order by c.created_at desc, c.id
    limit ${limit}`.execute(db);
  const out: Array<{ report: CampaignReport; recipient: ContactCampaignOutcome }> = [];
  for (const r of rows.rows) {
    const report = await campaignReport(db, tenantId, r.campaign_id);
    if (!report) continue;
    const code = r.error_code === null ? null : Number(r.error_code);
    out.push({
      report,
      recipient: {
        status: r.status,
        message_status: r.message_status,
        error_code: code !== null && Number.isInteger(code) ? code : null,
        error: r.error,
        sent_at: r.sent_at ? new Date(r.sent_at) : null,
        replied: Boolean(r.replied),
      },
    });
  }
  return out;
}
