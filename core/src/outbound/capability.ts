import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Capability, CapabilityContext } from '../capability.js';
import type { Config } from '../config.js';
import type { TokenCipher } from '../crypto.js';
import type { Database } from '../db/schema.js';
import type { QueueSpec } from '../jobs.js';
import { onboardingPageRouter } from '../onboarding-page/routes.js';
import { GraphClient } from './graph-client.js';
import { onboardNumber, requestSync } from './onboarding.js';
import { DbPacer } from './pacer.js';
import { SendService } from './send-service.js';
import { TemplateCatalog } from './templates.js';

/** Sends whose Graph call failed transiently, retried later (SendService's retry scheduler). */
export const SEND_RETRY_QUEUE: QueueSpec = { name: 'coex-send-retry', options: { retryLimit: 3, retryDelay: 30, retryBackoff: true, expireInSeconds: 120 } };

/**
 * The Graph API client and the send path every capability shares (the root puts them in the
 * context). A number onboarded through Embedded Signup sends with its own stored token, any other
 * with WHATSAPP_ACCESS_TOKEN.
 */
export function outboundServices(config: Config, db: Kysely<Database>, cipher: TokenCipher, logger: Logger): { graph: GraphClient; sender: SendService } {
  const graph = new GraphClient({
    baseUrl: config.GRAPH_API_BASE_URL,
    version: config.GRAPH_API_VERSION,
    userAgent: 'CoEx/0.1 (+https://github.com/coex)',
    tokenProvider: async (phoneNumberId) => {
      if (phoneNumberId) {
        const row = await db.selectFrom('whatsapp_numbers').select('access_token_enc').where('phone_number_id', '=', phoneNumberId).executeTakeFirst();
        if (row?.access_token_enc) return cipher.decrypt(row.access_token_enc);
      }
      if (config.WHATSAPP_ACCESS_TOKEN) return config.WHATSAPP_ACCESS_TOKEN;
      throw new Error(`no access token for ${phoneNumberId ?? 'this call'}: onboard the number or set WHATSAPP_ACCESS_TOKEN`);
    },
  });
  return { graph, sender: new SendService(db, graph, new DbPacer(db), logger) };
}

/** Embedded Signup completion and sync requests, for `POST /api/v1/onboarding` and the sync routes. */
export interface OnboardingService {
  onboard(a: { tenantId: string; code: string; wabaId: string; phoneNumberId?: string | undefined }): Promise<unknown>;
  requestSync(a: { tenantId: string; phoneNumberId: string; type: 'history' | 'contacts' }): Promise<unknown>;
  appId: string;
  configId: string | undefined;
  graphVersion: string;
}

export interface Outbound extends Capability {
  /** Approved templates from Meta, cached per WABA (the extension API lists them). */
  readonly templates: TemplateCatalog;
  /** Absent when META_APP_ID or WHATSAPP_APP_SECRET is not set. */
  readonly onboarding: OnboardingService | undefined;
}

/**
 * Outbound: retries of failed sends, Embedded Signup onboarding (the API's service and the
 * `/onboarding` page) and the template catalog. The Graph client and SendService themselves are
 * shared services (`outboundServices`).
 */
export function outboundCapability(ctx: CapabilityContext): Outbound {
  const { config, db, graph, cipher, logger, jobs, sender } = ctx;
  sender.setRetryScheduler((messageId, delayMs) => jobs.enqueue(SEND_RETRY_QUEUE, { messageId }, { startAfterSeconds: Math.max(1, Math.ceil(delayMs / 1000)) }));
  const onboardingDeps = { db, graph, cipher, logger };
  const appId = config.META_APP_ID;
  const appSecret = config.WHATSAPP_APP_SECRET;
  const onboarding: OnboardingService | undefined =
    appId && appSecret
      ? {
          onboard: (a) =>
            onboardNumber(onboardingDeps, {
              tenantId: a.tenantId,
              code: a.code,
              wabaId: a.wabaId,
              ...(a.phoneNumberId ? { phoneNumberId: a.phoneNumberId } : {}),
              appId,
              appSecret,
              ...webhookSubscription(config),
            }),
          appId,
          configId: config.META_CONFIG_ID,
          graphVersion: config.GRAPH_API_VERSION,
          requestSync: (a) => requestSync(onboardingDeps, a.tenantId, a.phoneNumberId, a.type === 'history' ? 'history' : 'smb_app_state_sync'),
        }
      : undefined;

  return {
    name: 'outbound',
    templates: new TemplateCatalog({ graph }),
    onboarding,
    queues: [SEND_RETRY_QUEUE],
    routes: () => ({ routes: [onboardingPageRouter({ config })] }),
    startWorker: async () => {
      await jobs.work<{ messageId: string }>(SEND_RETRY_QUEUE, async (data) => {
        await sender.resend(data.messageId);
      }, 1);
    },
  };
}

/** Where onboarding may point the app's WhatsApp webhook subscription (fields added when missing). */
export function webhookSubscription(config: Config): { webhookCallbackUrl?: string; webhookVerifyToken?: string } {
  return {
    ...(config.PUBLIC_BASE_URL ? { webhookCallbackUrl: new URL('/webhooks/whatsapp', config.PUBLIC_BASE_URL).toString() } : {}),
    ...(config.WHATSAPP_VERIFY_TOKEN ? { webhookVerifyToken: config.WHATSAPP_VERIFY_TOKEN } : {}),
  };
}
