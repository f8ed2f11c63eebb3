import { adminRouter } from '../api/admin-routes.js';
import { inboxRouter } from '../api/inbox-routes.js';
import { apiRouter, type ApiOptions } from '../api/routes.js';
import type { Capability, CapabilityContext } from '../capability.js';
import { consoleRouter } from '../console/routes.js';

export interface AdminDeps {
  /** Embedded Signup completion and sync requests (outbound); absent when not configured. */
  onboarding?: ApiOptions['onboarding'] | undefined;
  /** Wakes a connection's CRM outbox (its dead letters were queued again). */
  wakeCrm(connectionId: string): Promise<unknown>;
  /** Replaces the send path of `POST /api/v1/threads/:id/messages` (tests). */
  sendReply?: ApiOptions['sendReply'] | undefined;
}

/**
 * Administration: the `/api/v1` API (threads, replies, bot toggles, onboarding, tenants and
 * numbers, CRM connections, the inbox's state) behind the admin or a tenant token, and the
 * operator console (`/console`).
 */
export function adminCapability(ctx: CapabilityContext, deps: AdminDeps): Capability {
  const { config, db, cipher, sender } = ctx;
  const sendReply: ApiOptions['sendReply'] =
    deps.sendReply ??
    (async (args) => {
      const outcome = await sender.send({ threadId: args.threadId, tenantId: args.tenantId, origin: 'api', actor: args.actor, message: args.message, ...(args.clientRef ? { clientRef: args.clientRef } : {}) });
      if (outcome.status !== 'sent') throw new Error(`send cancelled: ${outcome.reason}`);
      return { id: outcome.messageId, wamid: outcome.wamid, status: outcome.messageStatus, duplicate: outcome.duplicate };
    });
  return {
    name: 'admin',
    routes: ({ adminToken, gaps }) => ({
      routes: [inboxRouter({ db, adminToken }), adminRouter({ db, adminToken, wakeCrm: deps.wakeCrm }), consoleRouter({ db, config, adminToken, gaps, wakeCrm: deps.wakeCrm })],
      // Its JSON parser (256 KB) and bearer auth cover all of /api/v1: after the routers with their own.
      fallback: [apiRouter({ db, adminToken, sendReply, cipher, ...(deps.onboarding ? { onboarding: deps.onboarding } : {}) })],
    }),
  };
}
