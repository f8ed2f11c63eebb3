import type { Router } from 'express';
import type { Kysely } from 'kysely';
import type { Capability, CapabilityContext } from '../capability.js';
import type { Database } from '../db/schema.js';
import { oauthNotConfiguredRouter } from '../http/not-configured.js';
import type { QueueSpec } from '../jobs.js';
import { hubSpotInboxRouter } from './hubspot-inbox-routes.js';
import { oauthRouter } from './oauth-routes.js';
import { CrmOutbox } from './outbox.js';
import { persistentConnectorFactory } from './token-store.js';

/** One run of a connection's outbox; `stately` with the connection as singleton key: one pending run per connection. */
export const CRM_QUEUE: QueueSpec = { name: 'coex-crm', options: { policy: 'stately', retryLimit: 1000, retryDelay: 5, retryBackoff: true, retryDelayMax: 900, expireInSeconds: 900 } };

/** How often every active CRM connection's outbox is looked at (transcripts, bot states, retries). */
export const CRM_SWEEP_MS = 10_000;

export interface Crm extends Capability {
  readonly outbox: CrmOutbox;
  /** Queues a run of one connection's outbox, inside `trx` when given (one pending run per connection). */
  wake(connectionId: string, trx?: Kysely<Database>): Promise<void>;
  /** Queues a run of each active connection of a tenant, inside `trx`. */
  wakeTenant(tenantId: string, trx: Kysely<Database>): Promise<void>;
  /** Asks every active connection's outbox to look for new work now. */
  wakeAll(): Promise<void>;
}

/**
 * CRM: the durable outbox that archives conversations into each tenant's CRMs (one job run per
 * connection, a periodic sweep), the OAuth installs and the HubSpot inbox channel's webhook.
 */
export function crmCapability(ctx: CapabilityContext): Crm {
  const { config, db, cipher, logger, jobs } = ctx;
  const outbox = new CrmOutbox({ db, cipher, logger, connectorFor: persistentConnectorFactory({ db, cipher, logger }), inboxSender: ctx.sender });
  const wake = (connectionId: string, trx?: Kysely<Database>): Promise<void> => jobs.enqueue(CRM_QUEUE, { connectionId }, { ...(trx ? { trx } : {}), singletonKey: connectionId });
  const activeConnections = (q: Kysely<Database>) => q.selectFrom('crm_connections').select(['id', 'tenant_id']).where('status', '=', 'active');
  const wakeAll = async (): Promise<void> => {
    for (const c of await activeConnections(db).execute()) await wake(c.id);
  };

  return {
    name: 'crm',
    outbox,
    wake,
    wakeTenant: async (tenantId, trx) => {
      for (const c of await activeConnections(trx).where('tenant_id', '=', tenantId).execute()) await wake(c.id, trx);
    },
    wakeAll,
    queues: [CRM_QUEUE],
    routes: ({ adminToken }) => {
      const routes: Router[] = [];
      if (config.PUBLIC_BASE_URL && ((config.HUBSPOT_CLIENT_ID && config.HUBSPOT_CLIENT_SECRET) || (config.ZOHO_CLIENT_ID && config.ZOHO_CLIENT_SECRET))) {
        routes.push(
          oauthRouter({
            db,
            cipher,
            logger,
            publicBaseUrl: config.PUBLIC_BASE_URL,
            ...(adminToken ? { adminToken } : {}),
            ...(config.HUBSPOT_CLIENT_ID && config.HUBSPOT_CLIENT_SECRET ? { hubspot: { clientId: config.HUBSPOT_CLIENT_ID, clientSecret: config.HUBSPOT_CLIENT_SECRET, scopes: config.HUBSPOT_OAUTH_SCOPES.split(/\s+/).filter(Boolean), optionalScopes: config.HUBSPOT_OAUTH_OPTIONAL_SCOPES.split(/\s+/).filter(Boolean) } } : {}),
            ...(config.ZOHO_CLIENT_ID && config.ZOHO_CLIENT_SECRET ? { zoho: { clientId: config.ZOHO_CLIENT_ID, clientSecret: config.ZOHO_CLIENT_SECRET } } : {}),
          }),
        );
      }
      return {
        // HubSpot inbox replies (custom channel webhook, signature v3 over the raw body).
        rawBody: [
          hubSpotInboxRouter({
            db,
            cipher,
            logger,
            ...(config.HUBSPOT_CLIENT_SECRET ? { clientSecret: config.HUBSPOT_CLIENT_SECRET } : {}),
            ...(config.PUBLIC_BASE_URL ? { publicBaseUrl: config.PUBLIC_BASE_URL } : {}),
            wake,
          }),
        ],
        routes,
        // Says which settings an OAuth install lacks, for the installs the OAuth router did not serve.
        fallback: [oauthNotConfiguredRouter(config)],
      };
    },
    onApplied: [
      {
        // CRM archive: wake the outbox of every connection of the tenants this delivery touched.
        stage: 'follow-up',
        hook: async (outcome, trx) => {
          const tenants = new Set([...outcome.live, ...outcome.historyMedia].map((m) => m.tenantId));
          if (outcome.messagesInserted > 0 || outcome.pausedThreads.length > 0 || outcome.statusesRecorded > 0) {
            const rows = await activeConnections(trx).execute();
            for (const c of rows) if (tenants.size === 0 || tenants.has(c.tenant_id)) await wake(c.id, trx);
          }
        },
      },
    ],
    startWorker: async (scope) => {
      await jobs.work<{ connectionId: string }>(CRM_QUEUE, async (data) => {
        const r = await outbox.drain(data.connectionId);
        // The next run for what is left comes under its own key: under the queue's `stately` policy a run
        // waiting for a later time holds its key, and with the wake's key it swallowed every wake and
        // sweep meanwhile — new work waited behind a retry (up to a CRM's Retry-After, minutes).
        if (r.nextDueSeconds !== null) await jobs.enqueue(CRM_QUEUE, { connectionId: data.connectionId }, { singletonKey: `${data.connectionId}:later`, startAfterSeconds: Math.max(1, Math.ceil(r.nextDueSeconds)) });
      }, 1);
      scope.every(CRM_SWEEP_MS, 'CRM sweep', wakeAll);
    },
  };
}
