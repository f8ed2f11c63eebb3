import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import type { BusinessProfile } from '../agent/provider.js';

/** The tenant `tenantId` (named after its id), created if it does not exist; an existing one is left as it is. */
export async function ensureTenant(db: Kysely<Database>, tenantId: string): Promise<void> {
  await db.insertInto('tenants').values({ id: tenantId, name: tenantId }).onConflict((oc) => oc.doNothing()).execute();
}

/** The business profile the agent answers from lives in tenants.settings.profile. */
export async function setTenantProfile(db: Kysely<Database>, tenantId: string, profile: BusinessProfile): Promise<void> {
  await db
    .insertInto('tenants')
    .values({ id: tenantId, name: profile.name, settings: JSON.stringify({ profile }) })
    .onConflict((oc) => oc.column('id').doUpdateSet({ settings: sql`tenants.settings || jsonb_build_object('profile', ${JSON.stringify(profile)}::jsonb)` }))
    .execute();
}

/** The stored profile, null when none was set, undefined when the tenant does not exist. */
export async function getTenantProfile(db: Kysely<Database>, tenantId: string): Promise<unknown> {
  const row = await db.selectFrom('tenants').select('settings').where('id', '=', tenantId).executeTakeFirst();
  if (!row) return undefined;
  return (row.settings as { profile?: unknown } | null)?.profile ?? null;
}
