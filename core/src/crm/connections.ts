import { sql, type Kysely } from 'kysely';
import { HubSpotConnector } from '@coex/connectors';
import type { Database } from '../db/schema.js';
import type { TokenCipher } from '../crypto.js';
import { accountOf, createConnector, crmCredentialsSchema, type CreateConnectorOptions, type CrmCredentials } from './registry.js';

/**
 * Connects a tenant to a CRM account: credentials are stored encrypted; one CRM account belongs to one
 * tenant (the extension requests of that account resolve to it). HubSpot also gets its custom
 * properties (the idempotency keys of archived communications and notes) created at connect time.
 */
export async function connectCrm(
  db: Kysely<Database>,
  cipher: TokenCipher,
  tenantId: string,
  credentials: CrmCredentials,
  /** For the connector used at connect time (HubSpot: ensureProperties), e.g. a test clock. */
  connectorOptions: CreateConnectorOptions = {},
): Promise<{ id: string; crm: string; account: string }> {
  const account = accountOf(credentials);
  const owner = await db.selectFrom('crm_connections').select(['tenant_id', 'credentials_enc']).where('crm', '=', credentials.crm).where('account', '=', account).executeTakeFirst();
  if (owner && owner.tenant_id !== tenantId) throw new Error(`${credentials.crm} account ${account} is already connected to another tenant`);
  // A reinstall (new OAuth tokens) must not disconnect the HubSpot inbox set up on the connection.
  if (credentials.crm === 'hubspot' && !credentials.inboxChannel && owner?.credentials_enc) {
    const previous = crmCredentialsSchema.safeParse(JSON.parse(cipher.decrypt(owner.credentials_enc)));
    if (previous.success && previous.data.crm === 'hubspot' && previous.data.inboxChannel) credentials = { ...credentials, inboxChannel: previous.data.inboxChannel };
  }
  const connector = createConnector(credentials, connectorOptions);
  if (connector instanceof HubSpotConnector) {
    await connector.ensureProperties();
    // Opt-outs are written to contact properties of our own: create them now, while the installer's
    // token certainly has the schema scope, rather than on the first opt-out.
    await connector.ensureConsentProperties();
  }
  const row = await db
    .insertInto('crm_connections')
    .values({ tenant_id: tenantId, crm: credentials.crm, account, credentials_enc: cipher.encrypt(JSON.stringify(credentials)) })
    .onConflict((oc) => oc.columns(['crm', 'account']).doUpdateSet({ credentials_enc: sql`excluded.credentials_enc`, status: 'active', updated_at: sql`now()` }))
    .returning(['id', 'crm', 'account'])
    .executeTakeFirstOrThrow();
  return row;
}

/** Connections of a tenant (or all, for the admin) with their outbox health. */
export async function listCrmConnections(db: Kysely<Database>, tenantId: string | null) {
  let q = db
    .selectFrom('crm_connections as c')
    .select([
      'c.id',
      'c.tenant_id',
      'c.crm',
      'c.account',
      'c.status',
      'c.created_at',
      sql<string>`(select count(*) from crm_outbox o where o.connection_id = c.id and o.status = 'pending')`.as('pending'),
      sql<string>`(select count(*) from crm_outbox o where o.connection_id = c.id and o.status = 'done')`.as('done'),
      sql<string>`(select count(*) from crm_outbox o where o.connection_id = c.id and o.status = 'dead')`.as('dead'),
      sql<string | null>`(select o.last_error from crm_outbox o where o.connection_id = c.id and o.status = 'dead' order by o.id desc limit 1)`.as('last_dead_reason'),
    ])
    .orderBy('c.created_at');
  if (tenantId !== null) q = q.where('c.tenant_id', '=', tenantId);
  const rows = await q.execute();
  return rows.map((r) => ({ ...r, pending: Number(r.pending), done: Number(r.done), dead: Number(r.dead), created_at: r.created_at.toISOString() }));
}
