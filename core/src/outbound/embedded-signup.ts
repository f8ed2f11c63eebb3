import { z } from 'zod';
import type { GraphClient } from './graph-client.js';

/**
 * Embedded Signup v4 for Coexistence numbers (coex-spec.md §9 and §11; Meta: "Embedded signup v2 will
 * be deprecated on October 15, 2026. Migrate your integration to v4").
 *
 * What the page does (another component builds it on the onboarding API): load the Facebook JS SDK,
 * call FB.login with the app's Facebook Login for Business configuration — choosing products in that
 * configuration is what selects v4 — and `extras` below, listen to `message` events from
 * https://www.facebook.com, and hand the finish event and the short-lived `code` to
 * POST /api/v1/onboarding as they are. v4 uses the "phone number first" flow; the Coexistence variant
 * keeps `featureType: "whatsapp_business_app_onboarding"` and finishes with
 * FINISH_WHATSAPP_BUSINESS_APP_ONBOARDING carrying `waba_id` and `phone_number_id`.
 */
export const EMBEDDED_SIGNUP = {
  version: 'v4',
  /** The session-info (message event) format: v3 and later send `version: 3` events. */
  sessionInfoVersion: '3',
  featureType: 'whatsapp_business_app_onboarding',
  /** Only messages from this origin are Meta's. */
  messageOrigin: 'https://www.facebook.com',
  /** FB.login options besides `config_id`. */
  loginOptions: { response_type: 'code', override_default_response_type: true },
} as const;

/** The `extras` object of FB.login for a Coexistence onboarding. */
export function embeddedSignupExtras(): { setup: Record<string, never>; featureType: string; sessionInfoVersion: string } {
  return { setup: {}, featureType: EMBEDDED_SIGNUP.featureType, sessionInfoVersion: EMBEDDED_SIGNUP.sessionInfoVersion };
}

const numericId = z.string().regex(/^\d+$/);

/** The session-info message event the page receives (JSON-parsed `event.data`). */
export const sessionEventSchema = z.looseObject({
  type: z.literal('WA_EMBEDDED_SIGNUP'),
  event: z.string().min(1),
  version: z.union([z.string(), z.number()]).optional(),
  data: z
    .looseObject({
      waba_id: numericId.optional(),
      phone_number_id: numericId.optional(),
      business_id: numericId.optional(),
      current_step: z.string().optional(),
      error_message: z.string().optional(),
      error_id: z.union([z.string(), z.number()]).optional(),
      session_id: z.string().optional(),
    })
    .default({}),
});
export type SessionEvent = z.infer<typeof sessionEventSchema>;

export type SessionOutcome =
  | { kind: 'finish'; coexistence: boolean; wabaId: string; phoneNumberId: string | null; event: string }
  | { kind: 'cancelled'; currentStep: string | null }
  | { kind: 'error'; message: string; errorId: string | null; sessionId: string | null }
  | { kind: 'invalid'; reason: string };

/**
 * What a finish/cancel event means for onboarding. FINISH_WHATSAPP_BUSINESS_APP_ONBOARDING is the
 * Coexistence finish (not FINISH); FINISH / FINISH_ONLY_WABA are the other flows, onboarded the same
 * way (the number is then recorded as not on the Business App). v4 sends `phone_number_id` with the
 * finish; without it (older flows) the number is looked up on the WABA.
 */
export function interpretSessionEvent(e: SessionEvent): SessionOutcome {
  switch (e.event) {
    case 'FINISH_WHATSAPP_BUSINESS_APP_ONBOARDING':
    case 'FINISH':
    case 'FINISH_ONLY_WABA':
      if (!e.data.waba_id) return { kind: 'invalid', reason: `${e.event} without data.waba_id` };
      return { kind: 'finish', coexistence: e.event === 'FINISH_WHATSAPP_BUSINESS_APP_ONBOARDING', wabaId: e.data.waba_id, phoneNumberId: e.data.phone_number_id ?? null, event: e.event };
    case 'CANCEL':
      // An error is reported as a CANCEL carrying error_message; an abandoned flow carries current_step.
      if (e.data.error_message) return { kind: 'error', message: e.data.error_message, errorId: e.data.error_id === undefined ? null : String(e.data.error_id), sessionId: e.data.session_id ?? null };
      return { kind: 'cancelled', currentStep: e.data.current_step ?? null };
    default:
      return { kind: 'invalid', reason: `unexpected Embedded Signup event ${e.event}` };
  }
}

/**
 * The WhatsApp webhook fields CoEx needs. `standby` and `messaging_handovers` are not in the usual
 * WhatsApp field list (Meta Business Agent / Conversation Routing): without them, conversations another
 * handler holds are lost silently.
 */
export const REQUIRED_WEBHOOK_FIELDS = ['messages', 'smb_message_echoes', 'history', 'smb_app_state_sync', 'account_update', 'user_preferences', 'standby', 'messaging_handovers'] as const;

export type WebhookFieldsResult =
  | { status: 'ok'; added: string[]; fields: string[] }
  | { status: 'failed'; missing: string[]; detail: string };

/**
 * Makes sure the app's `whatsapp_business_account` webhook subscription includes every field CoEx
 * needs, adding the missing ones (the union is posted, so nothing already subscribed is dropped).
 * The callback is the existing subscription's, else `callbackUrl`; Meta verifies it with `verifyToken`.
 */
export async function ensureWebhookFields(
  graph: GraphClient,
  app: { appId: string; appSecret: string },
  opts: { callbackUrl?: string | undefined; verifyToken?: string | undefined },
): Promise<WebhookFieldsResult> {
  const appToken = `${app.appId}|${app.appSecret}`;
  let current: { callbackUrl: string | null; fields: string[] } | undefined;
  try {
    const subs = await graph.listAppSubscriptions(app.appId, appToken);
    const waba = subs.find((s) => s.object === 'whatsapp_business_account');
    current = waba ? { callbackUrl: waba.callbackUrl, fields: waba.fields } : undefined;
  } catch (error) {
    return { status: 'failed', missing: [...REQUIRED_WEBHOOK_FIELDS], detail: `could not read the app's webhook fields (${error instanceof Error ? error.message : String(error)}): subscribe ${REQUIRED_WEBHOOK_FIELDS.join(', ')} in the App Dashboard` };
  }
  const have = new Set(current?.fields ?? []);
  const missing = REQUIRED_WEBHOOK_FIELDS.filter((f) => !have.has(f));
  if (missing.length === 0) return { status: 'ok', added: [], fields: [...have] };
  const callbackUrl = current?.callbackUrl ?? opts.callbackUrl;
  if (!callbackUrl || !opts.verifyToken) {
    return { status: 'failed', missing, detail: `the app is not subscribed to ${missing.join(', ')}; subscribe them in the App Dashboard (WhatsApp → Configuration → Webhook fields)${!callbackUrl ? ' or set PUBLIC_BASE_URL' : ''}${!opts.verifyToken ? ' (WHATSAPP_VERIFY_TOKEN is needed to do it here)' : ''}` };
  }
  const fields = [...new Set([...have, ...REQUIRED_WEBHOOK_FIELDS])];
  try {
    await graph.subscribeAppWebhooks(app.appId, { object: 'whatsapp_business_account', callbackUrl, fields, verifyToken: opts.verifyToken }, appToken);
  } catch (error) {
    return { status: 'failed', missing, detail: `subscribing ${missing.join(', ')} failed (${error instanceof Error ? error.message : String(error)}): subscribe them in the App Dashboard` };
  }
  return { status: 'ok', added: missing, fields };
}
