import { sql, type Kysely } from 'kysely';
import { z } from 'zod';
import type { Database } from '../db/schema.js';
import { templatesHeldUntilOf, templatesHold, type TenantScope } from '../store/queries.js';

/**
 * Tenants and numbers, for the admin API, the operator console and the CLI (one code path).
 * Moving a number moves everything recorded under it (contacts, threads, messages, agent turns,
 * opt-outs): the new tenant sees the whole history, the old one no longer does.
 */

export const tenantIdSchema = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'lowercase letters, digits, - and _ (at most 63, starting with a letter or digit)');
export const newTenantSchema = z.object({
  id: tenantIdSchema,
  name: z.string().min(1).max(200).optional(),
  quiet_period_seconds: z.number().int().min(0).max(30 * 86_400).optional(),
});
export type NewTenant = z.infer<typeof newTenantSchema>;

/** Coexistence numbers are disconnected by Meta after 14 days without the Business App being used. */
export const APP_INACTIVITY_LIMIT_DAYS = 14;
/** The console warns this many days before. */
export const APP_INACTIVITY_WARNING_DAYS = 10;

export class AdminError extends Error {
  constructor(
    message: string,
    readonly httpStatus: 404 | 409,
  ) {
    super(message);
    this.name = 'AdminError';
  }
}

/** Creates the tenant, or updates its name / quiet period. Returns whether it was created. */
export async function upsertTenant(db: Kysely<Database>, t: NewTenant): Promise<{ created: boolean }> {
  const update: { name?: string; quiet_period_seconds?: number } = {};
  if (t.name !== undefined) update.name = t.name;
  if (t.quiet_period_seconds !== undefined) update.quiet_period_seconds = t.quiet_period_seconds;
  const row = await db
    .insertInto('tenants')
    .values({ id: t.id, name: t.name ?? t.id, ...(t.quiet_period_seconds !== undefined ? { quiet_period_seconds: t.quiet_period_seconds } : {}) })
    .onConflict((oc) => (Object.keys(update).length ? oc.column('id').doUpdateSet(update) : oc.column('id').doUpdateSet({ id: sql`tenants.id` })))
    // xmax = 0 only on a row this statement inserted.
    .returning(sql<boolean>`(xmax = 0)`.as('created'))
    .executeTakeFirstOrThrow();
  return { created: Boolean(row.created) };
}

export async function listTenants(db: Kysely<Database>, scope: TenantScope) {
  let q = db
    .selectFrom('tenants as t')
    .select([
      't.id',
      't.name',
      't.quiet_period_seconds',
      't.created_at',
      sql<string>`(select count(*) from whatsapp_numbers n where n.tenant_id = t.id)`.as('numbers'),
      sql<string>`(select count(*) from crm_connections c where c.tenant_id = t.id)`.as('crm_connections'),
      sql<boolean>`(t.settings ? 'profile')`.as('has_profile'),
    ])
    .orderBy('t.id');
  if (scope !== null) q = q.where('t.id', '=', scope);
  const rows = await q.execute();
  return rows.map((r) => ({ ...r, numbers: Number(r.numbers), crm_connections: Number(r.crm_connections), has_profile: Boolean(r.has_profile), created_at: r.created_at.toISOString() }));
}

export interface NumberSummary {
  phone_number_id: string;
  tenant_id: string;
  display_phone_number: string | null;
  verified_name: string | null;
  waba_id: string | null;
  is_coexistence: boolean;
  has_own_token: boolean;
  connection: { status: string; reason: string | null; changed_at: string | null };
  /** Latest quality rating Meta reported (phone_number_quality_update), null when none was received. */
  quality: string | null;
  /** Last echo from the Business App: the phone is in use. */
  last_app_activity_at: string | null;
  /** Days without app activity, and whether the 14-day disconnection is near (null: no activity seen). */
  app_inactive_days: number | null;
  inactivity_warning: boolean;
  history: { status: string; progress: number; messages: number };
  contacts: { status: string };
  /** Meta holds the business-initiated messaging (templates, campaigns) until `until` (null: no end given); null when nothing is held. */
  templates_held: { until: string | null } | null;
}

export async function listNumbers(db: Kysely<Database>, scope: TenantScope, now: Date = new Date()): Promise<NumberSummary[]> {
  let q = db
    .selectFrom('whatsapp_numbers as n')
    .leftJoin('sync_state as s', 's.phone_number_id', 'n.phone_number_id')
    .select([
      'n.phone_number_id',
      'n.tenant_id',
      'n.display_phone_number',
      'n.verified_name',
      'n.waba_id',
      'n.is_coexistence',
      'n.access_token_enc',
      'n.connection_status',
      'n.connection_reason',
      'n.connection_changed_at',
      'n.last_echo_at',
      's.history_status',
      's.history_progress',
      's.history_messages',
      's.contacts_status',
      templatesHeldUntilOf('n'),
      // phone_number_quality_update names the number by its display digits only (no phone_number_id);
      // CoEx keeps it as an unknown_events row with the change's value as payload.
      sql<string | null>`(select u.payload->>'event' from unknown_events u
        where u.field = 'phone_number_quality_update'
          and regexp_replace(coalesce(u.payload->>'display_phone_number', ''), '[^0-9]', '', 'g') = regexp_replace(coalesce(n.display_phone_number, ''), '[^0-9]', '', 'g')
        order by u.id desc limit 1)`.as('quality'),
    ])
    .orderBy('n.tenant_id')
    .orderBy('n.phone_number_id');
  if (scope !== null) q = q.where('n.tenant_id', '=', scope);
  const rows = await q.execute();
  return rows.map((r) => {
    const inactiveDays = r.last_echo_at ? Math.floor((now.getTime() - r.last_echo_at.getTime()) / 86_400_000) : null;
    return {
      phone_number_id: r.phone_number_id,
      tenant_id: r.tenant_id,
      display_phone_number: r.display_phone_number,
      verified_name: r.verified_name,
      waba_id: r.waba_id,
      is_coexistence: r.is_coexistence,
      has_own_token: r.access_token_enc !== null,
      connection: { status: r.connection_status, reason: r.connection_reason, changed_at: r.connection_changed_at?.toISOString() ?? null },
      quality: r.quality,
      last_app_activity_at: r.last_echo_at?.toISOString() ?? null,
      app_inactive_days: inactiveDays,
      inactivity_warning: r.is_coexistence && inactiveDays !== null && inactiveDays >= APP_INACTIVITY_WARNING_DAYS,
      history: { status: r.history_status ?? 'not_requested', progress: r.history_progress ?? 0, messages: r.history_messages ?? 0 },
      contacts: { status: r.contacts_status ?? 'not_requested' },
      templates_held: templatesHold(r.templates_held_until, now),
    };
  });
}

/** Moves a number, with everything recorded under it, to another (existing) tenant. */
export async function moveNumber(db: Kysely<Database>, phoneNumberId: string, tenantId: string): Promise<{ from: string; to: string; threads: number }> {
  return db.transaction().execute(async (trx) => {
    const number = await trx.selectFrom('whatsapp_numbers').select('tenant_id').where('phone_number_id', '=', phoneNumberId).forUpdate().executeTakeFirst();
    if (!number) throw new AdminError(`no number ${phoneNumberId}`, 404);
    const tenant = await trx.selectFrom('tenants').select('id').where('id', '=', tenantId).executeTakeFirst();
    if (!tenant) throw new AdminError(`no tenant '${tenantId}' (create it first: POST /api/v1/tenants or coex tenant create ${tenantId})`, 404);
    if (number.tenant_id === tenantId) return { from: tenantId, to: tenantId, threads: 0 };
    await trx.updateTable('whatsapp_numbers').set({ tenant_id: tenantId, updated_at: sql`now()` }).where('phone_number_id', '=', phoneNumberId).execute();
    await trx.updateTable('contacts').set({ tenant_id: tenantId }).where('phone_number_id', '=', phoneNumberId).execute();
    const threads = await trx.updateTable('threads').set({ tenant_id: tenantId }).where('phone_number_id', '=', phoneNumberId).executeTakeFirst();
    await trx.updateTable('messages').set({ tenant_id: tenantId }).where('phone_number_id', '=', phoneNumberId).execute();
    await trx
      .updateTable('agent_turns')
      .set({ tenant_id: tenantId })
      .where('thread_id', 'in', (eb) => eb.selectFrom('threads').select('id').where('phone_number_id', '=', phoneNumberId))
      .execute();
    await trx.updateTable('opt_outs').set({ tenant_id: tenantId }).where('phone_number_id', '=', phoneNumberId).execute();
    return { from: number.tenant_id, to: tenantId, threads: Number(threads.numUpdatedRows) };
  });
}
