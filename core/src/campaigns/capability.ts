import type { Kysely } from 'kysely';
import { campaignRouter } from '../api/campaign-routes.js';
import type { Capability, CapabilityContext } from '../capability.js';
import type { Database } from '../db/schema.js';
import { optOutHook, type OptOutListener } from './opt-outs.js';
import { CampaignRunner, createCampaignSender } from './runner.js';
import { connectionSegmentSource } from './segment-factory.js';

export interface CampaignsDeps {
  /** Run the campaign runner with the worker (tests drive their own runners). */
  run: boolean;
  /** Queues the tenant's CRM writes inside `trx` (the consent change reaches each CRM). */
  wakeCrm(tenantId: string, trx: Kysely<Database>): Promise<void>;
}

export interface Campaigns extends Capability {
  readonly runner: CampaignRunner;
}

/**
 * Campaigns: the runner that sends them, their API (`/api/v1/campaigns`), and marketing consent:
 * opt-out / opt-in keywords and WhatsApp's own "Stop promotions" are recorded in the transaction
 * that applied the message, before the agent looks at it.
 */
export function campaignsCapability(ctx: CapabilityContext, deps: CampaignsDeps): Campaigns {
  const { db, cipher, graph, logger } = ctx;
  // A consent change is written to the tenant's CRMs: the outbox's catch-up finds the
  // opt_out_events row; the job is enqueued in the same transaction, so the CRM write cannot be
  // lost to a crash.
  const onOptOut: OptOutListener = async (trx, e) => {
    logger.info({ action: e.action, tenantId: e.tenantId, phoneNumberId: e.phoneNumberId, source: e.source }, 'marketing consent changed');
    await deps.wakeCrm(e.tenantId, trx);
  };
  const runner = new CampaignRunner({ db, sender: createCampaignSender(db, graph, logger), logger, concurrency: 4, onOptOut });
  let started = false;

  return {
    name: 'campaigns',
    runner,
    routes: ({ adminToken }) => ({
      // CSV bodies up to 8 MB, parsed by the router itself (before the API's 256 KB JSON parser).
      // Segments through the tenant's CRM connection: HubSpot, WooCommerce, Odoo or Zoho.
      routes: [campaignRouter({ db, adminToken, segmentSource: connectionSegmentSource(db, cipher) })],
    }),
    onApplied: [
      // Opt-out keywords ("STOP", "baraka") are recorded in the delivery's transaction.
      { stage: 'consent', hook: optOutHook({ onOptOut }) },
      {
        // WhatsApp's own consent signals (user_preferences, applied by store/apply.ts) take the same path to the CRMs.
        stage: 'consent',
        hook: async (outcome, trx) => {
          for (const change of outcome.consentChanges) await onOptOut(trx, change);
        },
      },
    ],
    startWorker: async () => {
      if (!deps.run) return;
      runner.start();
      started = true;
    },
    stop: async () => {
      if (started) await runner.stop();
    },
  };
}
