import express, { type Request, type Response, type Router } from 'express';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import { hubSpotChannelEventTypeSchema, hubSpotOutgoingMessageEventSchema, verifyHubSpotWebhookV3 } from '@coex/connectors';
import type { Database } from '../db/schema.js';
import type { TokenCipher } from '../crypto.js';
import { publicUrlOf } from '../http/public-url.js';
import { inboxChannelOf, inboxReplyOf } from './hubspot-inbox.js';

/**
 * POST /webhooks/hubspot/inbox — the custom channel's `webhookUrl` (one URL for every portal that
 * installed the app). HubSpot signs it with signature v3 over this public URL and the raw body; the
 * portal is the payload's `portalId` (covered by the signature), mapped to a tenant through its active
 * HubSpot connection. A reply is only accepted for that connection's own channel account, so one
 * portal can never reach another tenant's threads.
 *
 * The answer is quick: the reply becomes an 'inbox_reply' row of the CRM outbox (unique per HubSpot
 * message id, so HubSpot's redeliveries change nothing) and the outbox job is queued in the same
 * transaction; the send and the status report happen there (hubspot-inbox.ts).
 */

export const HUBSPOT_INBOX_WEBHOOK_PATH = '/webhooks/hubspot/inbox';

export interface HubSpotInboxRouterOptions {
  db: Kysely<Database>;
  cipher: TokenCipher;
  logger: Logger;
  /** The HubSpot app's client secret (signature v3); unset → 503. */
  clientSecret?: string | undefined;
  /** The public origin HubSpot calls; HubSpot signs the full URL. Default: protocol and Host header. */
  publicBaseUrl?: string | undefined;
  /** Queues the connection's CRM outbox run inside `trx` (the CRM capability's job, crm/capability.ts). */
  wake: (connectionId: string, trx: Kysely<Database>) => Promise<void>;
  now?: () => number;
}

export function hubSpotInboxRouter(opts: HubSpotInboxRouterOptions): Router {
  const router = express.Router();
  const now = opts.now ?? Date.now;

  router.post(HUBSPOT_INBOX_WEBHOOK_PATH, express.raw({ type: () => true, limit: 256 * 1024 }), async (req: Request, res: Response) => {
    if (!opts.clientSecret) return void res.status(503).json({ error: 'HUBSPOT_CLIENT_SECRET is not configured' });
    const rawBody = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const verified = verifyHubSpotWebhookV3({ method: req.method, url: publicUrlOf(req, opts.publicBaseUrl), headers: req.headers, rawBody, now: now() }, opts.clientSecret);
    if (!verified.ok) {
      opts.logger.info({ reason: verified.reason }, 'HubSpot inbox webhook refused');
      return void res.status(401).json({ error: verified.reason });
    }
    let json: unknown;
    try {
      json = JSON.parse(rawBody.toString('utf8'));
    } catch {
      return void res.status(400).json({ error: 'the body must be JSON' });
    }
    // HubSpot sends one event per request; an array is accepted too, in case it batches.
    const events = Array.isArray(json) ? json : [json];
    let accepted = 0;
    let ignored = 0;
    for (const raw of events) {
      const kind = hubSpotChannelEventTypeSchema.safeParse(raw);
      if (!kind.success) return void res.status(400).json({ error: 'not a HubSpot custom channel event' });
      if (kind.data.type !== 'OUTGOING_CHANNEL_MESSAGE_CREATED') {
        // CHANNEL_ACCOUNT_CREATED / _UPDATED / _PURGED: acknowledged; setup goes through the CLI.
        opts.logger.info({ type: kind.data.type }, 'HubSpot inbox event acknowledged');
        ignored++;
        continue;
      }
      const parsed = hubSpotOutgoingMessageEventSchema.safeParse(raw);
      if (!parsed.success) return void res.status(400).json({ error: 'malformed OUTGOING_CHANNEL_MESSAGE_CREATED event', issues: parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })) });
      const event = parsed.data;
      const connection = await opts.db
        .selectFrom('crm_connections')
        .select(['id', 'tenant_id', 'crm', 'credentials_enc'])
        .where('crm', '=', 'hubspot')
        .where('account', '=', event.portalId)
        .where('status', '=', 'active')
        .executeTakeFirst();
      const channel = connection ? inboxChannelOf(opts.cipher, connection) : null;
      if (!connection || !channel || channel.channelId !== event.channelId || channel.channelAccountId !== event.message.channelAccountId) {
        // Answered 200: HubSpot would only redeliver it; nothing here can act on it.
        opts.logger.warn({ portalId: event.portalId, channelId: event.channelId, channelAccountId: event.message.channelAccountId }, 'HubSpot inbox message for no connected channel account: ignored');
        ignored++;
        continue;
      }
      // A message CoEx itself published (if HubSpot echoes those): never send it back to WhatsApp.
      const ours = await opts.db
        .selectFrom('crm_outbox')
        .select('id')
        .where('connection_id', '=', connection.id)
        .where('kind', '=', 'inbox')
        .where('crm_record_id', '=', event.message.id)
        .executeTakeFirst();
      if (ours) {
        ignored++;
        continue;
      }
      const reply = inboxReplyOf(event);
      await opts.db.transaction().execute(async (trx) => {
        const row = await trx
          .insertInto('crm_outbox')
          .values({ tenant_id: connection.tenant_id, connection_id: connection.id, kind: 'inbox_reply', ref_id: reply.messageId, payload: JSON.stringify(reply) })
          .onConflict((oc) => oc.columns(['connection_id', 'kind', 'ref_id']).doNothing())
          .returning('id')
          .executeTakeFirst();
        if (row) await opts.wake(connection.id, trx);
      });
      accepted++;
    }
    res.json({ accepted, ignored });
  });

  return router;
}
