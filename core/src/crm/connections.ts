import { sql, type Kysely } from 'kysely';
import { CrmError, HubSpotConnector } from '@coex/connectors';
import type { Database } from '../db/schema.js';
import type { TokenCipher } from '../crypto.js';
import { accountOf, createConnector, crmCredentialsSchema, type CreateConnectorOptions, type CrmCredentials } from './registry.js';

/**
 * Why a connection was refused, with the HTTP status the API answers: 404 unknown tenant, 409 the
 * account belongs to another tenant, 422 the CRM refused the credentials (its own error in the
 * message), 502 the CRM could not be reached (network, timeout, 5xx).
 */
export class CrmConnectError extends Error {
  constructor(
    message: string,
    readonly code: 'unknown_tenant' | 'account_taken' | 'credentials_rejected' | 'crm_unreachable',
    readonly httpStatus: 404 | 409 | 422 | 502,
  ) {
    super(message);
    this.name = 'CrmConnectError';
  }
}

function connectFailure(error: unknown, crm: string): never {
  if (error instanceof CrmError) {
    if (error.retryable) throw new CrmConnectError(`could not reach ${crm}: ${error.message}`, 'crm_unreachable', 502);
    throw new CrmConnectError(`${crm} refused the credentials: ${error.message}`, 'credentials_rejected', 422);
  }
  throw error;
}

/**
 * Connects a tenant to a CRM account: the credentials are checked with one cheap call to the CRM
 * (refused at once rather than discovered later as dead letters), then stored encrypted. One CRM
 * account belongs to one tenant (the extension requests of that account resolve to it): the
 * database enforces it — the upsert only updates a row of the same tenant, so of two tenants
 * connecting the same account at once, one gets the row and the other a 409. HubSpot also gets its
 * custom properties (the idempotency keys of archived communications and notes) created here.
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
  const tenant = await db.selectFrom('tenants').select('id').where('id', '=', tenantId).executeTakeFirst();
  if (!tenant) throw new CrmConnectError(`no tenant '${tenantId}' (create it first: POST /api/v1/tenants or coex tenant create ${tenantId})`, 'unknown_tenant', 404);
  const taken = () => new CrmConnectError(`${credentials.crm} account ${account} is already connected to another tenant`, 'account_taken', 409);
  const owner = await db.selectFrom('crm_connections').select(['tenant_id', 'credentials_enc']).where('crm', '=', credentials.crm).where('account', '=', account).executeTakeFirst();
  if (owner && owner.tenant_id !== tenantId) throw taken();
  // A reinstall (new OAuth tokens) must not disconnect the HubSpot inbox set up on the connection.
  if (credentials.crm === 'hubspot' && !credentials.inboxChannel && owner?.credentials_enc) {
    const previous = crmCredentialsSchema.safeParse(JSON.parse(cipher.decrypt(owner.credentials_enc)));
    if (previous.success && previous.data.crm === 'hubspot' && previous.data.inboxChannel) credentials = { ...credentials, inboxChannel: previous.data.inboxChannel };
  }
  const connector = createConnector(credentials, connectorOptions);
  try {
    await connector.verifyCredentials();
    if (connector instanceof HubSpotConnector) {
      await connector.ensureProperties();
      // Opt-outs are written to contact properties of our own: create them now, while the installer's
      // token certainly has the schema scope, rather than on the first opt-out.
      await connector.ensureConsentProperties();
    }
  } catch (error) {
    connectFailure(error, credentials.crm);
  }
  let row: { id: string; crm: string; account: string } | undefined;
  try {
    row = await db
      .insertInto('crm_connections')
      .values({ tenant_id: tenantId, crm: credentials.crm, account, credentials_enc: cipher.encrypt(JSON.stringify(credentials)) })
      .onConflict((oc) =>
        oc
          .columns(['crm', 'account'])
          .doUpdateSet({ credentials_enc: sql`excluded.credentials_enc`, status: 'active', updated_at: sql`now()` })
          .where('crm_connections.tenant_id', '=', tenantId),
      )
      .returning(['id', 'crm', 'account'])
      .executeTakeFirst();
  } catch (error) {
    // The tenant was deleted between the check and the insert (foreign key).
    if ((error as { code?: unknown }).code === '23503') throw new CrmConnectError(`no tenant '${tenantId}'`, 'unknown_tenant', 404);
    throw error;
  }
  // No row: the conflicting row belongs to another tenant (it won a concurrent connect).
  if (!row) throw taken();
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

/**
 * Puts a connection's dead letters back in the queue (attempts reset, due now), e.g. after the CRM
 * was fixed. Returns how many; null when the connection is not the caller's. The caller wakes the outbox.
 */
export async function retryDeadLetters(db: Kysely<Database>, tenantId: string | null, connectionId: string): Promise<{ requeued: number; account: string } | null> {
  if (!/^[0-9a-f-]{36}$/i.test(connectionId)) return null;
  let q = db.selectFrom('crm_connections').select(['id', 'account']).where('id', '=', connectionId);
  if (tenantId !== null) q = q.where('tenant_id', '=', tenantId);
  const connection = await q.executeTakeFirst();
  if (!connection) return null;
  const r = await db
    .updateTable('crm_outbox')
    .set({ status: 'pending', attempts: 0, next_attempt_at: sql`now()` })
    .where('connection_id', '=', connectionId)
    .where('status', '=', 'dead')
    .executeTakeFirst();
  return { requeued: Number(r.numUpdatedRows), account: connection.account };
}
