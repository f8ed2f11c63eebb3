import { sql, type Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Database } from '../db/schema.js';
import type { TokenCipher } from '../crypto.js';
import type { GraphClient, SmbSyncType } from './graph-client.js';
import { ensureWebhookFields } from './embedded-signup.js';
import { ensureTenant } from '../store/tenants.js';

/** Meta's throughput tiers (messages/second) by `throughput.level`; Coexistence numbers are fixed at 20. */
const TIER_MPS: Record<string, number> = { STANDARD: 80, HIGH: 1000, NOT_APPLICABLE: 80 };
export const COEXISTENCE_MPS = 20;


export interface OnboardInput {
  tenantId: string;
  /** The short-lived code from Embedded Signup v4 (FINISH_WHATSAPP_BUSINESS_APP_ONBOARDING). */
  code: string;
  wabaId: string;
  /** From the v4 finish event (`data.phone_number_id`); otherwise the WABA's Coexistence number is picked. */
  phoneNumberId?: string;
  appId: string;
  appSecret: string;
  overrideCallbackUri?: string;
  verifyToken?: string;
  /** Where Meta should post webhooks if the app has no WhatsApp subscription yet (PUBLIC_BASE_URL + /webhooks/whatsapp). */
  webhookCallbackUrl?: string;
  /** WHATSAPP_VERIFY_TOKEN: lets onboarding add missing webhook fields (Meta verifies the callback). */
  webhookVerifyToken?: string;
}

export interface OnboardStep {
  step: string;
  status: 'ok' | 'failed';
  requestId?: string | null;
  detail?: string;
}

export class OnboardingError extends Error {
  constructor(message: string, readonly steps: OnboardStep[]) {
    super(message);
    this.name = 'OnboardingError';
  }
}

export interface OnboardingDeps {
  db: Kysely<Database>;
  graph: GraphClient;
  cipher: TokenCipher;
  logger: Logger;
}

/**
 * Onboards a Coexistence number after Embedded Signup: code → business token, subscribe our app to the
 * WABA, find the number (Coexistence: is_on_biz_app), store it with its token encrypted and its fixed
 * 20 msg/s, then request contact sync and history sync (each may be requested once, within 24 hours).
 * No /register call: the number stays on the phone app. Every step is recorded with its outcome.
 */
export async function onboardNumber(deps: OnboardingDeps, input: OnboardInput): Promise<{ phoneNumberId: string; isCoexistence: boolean; steps: OnboardStep[] }> {
  const steps: OnboardStep[] = [];
  const record = async (s: OnboardStep, phoneNumberId: string | null) => {
    steps.push(s);
    await deps.db
      .insertInto('onboarding_steps')
      .values({ tenant_id: input.tenantId, waba_id: input.wabaId, phone_number_id: phoneNumberId, step: s.step, status: s.status, request_id: s.requestId ?? null, detail: s.detail ? JSON.stringify({ detail: s.detail }) : null })
      .execute();
  };
  const fail = async (step: string, error: unknown, phoneNumberId: string | null): Promise<never> => {
    const detail = error instanceof Error ? error.message : String(error);
    await record({ step, status: 'failed', detail }, phoneNumberId);
    throw new OnboardingError(`onboarding failed at ${step}: ${detail}`, steps);
  };

  await ensureTenant(deps.db, input.tenantId);
  let token: string;
  try {
    token = (await deps.graph.exchangeCode({ appId: input.appId, appSecret: input.appSecret, code: input.code })).accessToken;
    await record({ step: 'exchange_code', status: 'ok' }, null);
  } catch (error) {
    return fail('exchange_code', error, null);
  }
  try {
    await deps.graph.subscribeApp(input.wabaId, { accessToken: token, ...(input.overrideCallbackUri ? { overrideCallbackUri: input.overrideCallbackUri } : {}), ...(input.verifyToken ? { verifyToken: input.verifyToken } : {}) });
    await record({ step: 'subscribe_app', status: 'ok' }, null);
  } catch (error) {
    return fail('subscribe_app', error, null);
  }
  // App-level webhook fields: standby and messaging_handovers are easy to miss (not in the usual
  // list), and without them Meta's agent's conversations are lost silently. Recorded, not fatal.
  const fields = await ensureWebhookFields(deps.graph, { appId: input.appId, appSecret: input.appSecret }, { callbackUrl: input.webhookCallbackUrl, verifyToken: input.webhookVerifyToken });
  await record(
    fields.status === 'ok'
      ? { step: 'webhook_fields', status: 'ok', detail: fields.added.length ? `subscribed ${fields.added.join(', ')}` : 'all required fields subscribed' }
      : { step: 'webhook_fields', status: 'failed', detail: fields.detail },
    null,
  );
  let phoneNumberId: string;
  try {
    const numbers = await deps.graph.listPhoneNumbers(input.wabaId, { accessToken: token });
    const chosen = input.phoneNumberId ? numbers.find((n) => n.id === input.phoneNumberId) : (numbers.find((n) => n.isOnBizApp) ?? (numbers.length === 1 ? numbers[0] : undefined));
    if (!chosen) throw new Error(input.phoneNumberId ? `number ${input.phoneNumberId} is not in WABA ${input.wabaId}` : `WABA ${input.wabaId} has ${numbers.length} numbers and none is on the Business App: pass phone_number_id`);
    phoneNumberId = chosen.id;
    await record({ step: 'find_number', status: 'ok', detail: chosen.displayPhoneNumber ?? chosen.id }, phoneNumberId);
  } catch (error) {
    return fail('find_number', error, input.phoneNumberId ?? null);
  }
  const info = await deps.graph.getPhoneNumber(phoneNumberId, ['is_on_biz_app', 'platform_type', 'display_phone_number', 'verified_name', 'throughput'], { accessToken: token }).catch((error: unknown) => fail('number_info', error, phoneNumberId));
  const isCoexistence = info.isOnBizApp === true;
  const mps = isCoexistence ? COEXISTENCE_MPS : (TIER_MPS[info.throughput?.level ?? 'STANDARD'] ?? 80);
  const display = info.displayPhoneNumber ? info.displayPhoneNumber.replace(/\D/g, '') : null;
  await deps.db
    .insertInto('whatsapp_numbers')
    .values({ phone_number_id: phoneNumberId, tenant_id: input.tenantId, waba_id: input.wabaId, display_phone_number: display, verified_name: info.verifiedName ?? null, is_coexistence: isCoexistence, throughput_mps: mps, access_token_enc: deps.cipher.encrypt(token), connection_status: 'connected', connection_changed_at: new Date() })
    .onConflict((oc) =>
      oc.column('phone_number_id').doUpdateSet({
        tenant_id: input.tenantId,
        waba_id: input.wabaId,
        display_phone_number: sql`coalesce(excluded.display_phone_number, whatsapp_numbers.display_phone_number)`,
        verified_name: sql`excluded.verified_name`,
        is_coexistence: isCoexistence,
        throughput_mps: mps,
        access_token_enc: sql`excluded.access_token_enc`,
        connection_status: 'connected',
        connection_reason: null,
        connection_changed_at: sql`now()`,
        updated_at: sql`now()`,
      }),
    )
    .execute();
  // Messages received before onboarding landed under the default tenant: they move with the number.
  for (const table of ['contacts', 'threads', 'messages'] as const) {
    await deps.db.updateTable(table).set({ tenant_id: input.tenantId }).where('phone_number_id', '=', phoneNumberId).execute();
  }
  await deps.db.insertInto('sync_state').values({ phone_number_id: phoneNumberId }).onConflict((oc) => oc.doNothing()).execute();
  await record({ step: 'store_number', status: 'ok', detail: isCoexistence ? `coexistence, ${mps} msg/s` : `not on the Business App (${info.platformType ?? 'unknown platform'}), ${mps} msg/s` }, phoneNumberId);

  if (isCoexistence) {
    // Contacts first (names for the history threads), then history. A failure is recorded, not fatal.
    for (const type of ['smb_app_state_sync', 'history'] as const) await requestSync(deps, input.tenantId, phoneNumberId, type, token).then((s) => steps.push(s));
  }
  deps.logger.info({ tenantId: input.tenantId, phoneNumberId, isCoexistence }, 'number onboarded');
  return { phoneNumberId, isCoexistence, steps };
}

/** Requests contact or history sync for a number and records the request id (or the refusal). */
export async function requestSync(deps: OnboardingDeps, tenantId: string, phoneNumberId: string, type: SmbSyncType, accessToken?: string): Promise<OnboardStep> {
  const step = type === 'history' ? 'request_history_sync' : 'request_contact_sync';
  try {
    const { requestId } = await deps.graph.requestSmbAppData(phoneNumberId, type, accessToken ? { accessToken } : {});
    await deps.db
      .updateTable('sync_state')
      .set(type === 'history' ? { history_status: 'requested', history_request_id: requestId, history_requested_at: sql`now()` } : { contacts_status: 'requested', contacts_request_id: requestId, contacts_requested_at: sql`now()` })
      .where('phone_number_id', '=', phoneNumberId)
      .where(type === 'history' ? 'history_status' : 'contacts_status', 'in', ['not_requested', 'request_failed'])
      .execute();
    await deps.db.insertInto('onboarding_steps').values({ tenant_id: tenantId, phone_number_id: phoneNumberId, step, status: 'ok', request_id: requestId }).execute();
    return { step, status: 'ok', requestId };
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    await deps.db
      .updateTable('sync_state')
      .set(type === 'history' ? { history_status: 'request_failed', history_error: JSON.stringify({ request: detail }) } : { contacts_status: 'request_failed' })
      .where('phone_number_id', '=', phoneNumberId)
      .where(type === 'history' ? 'history_status' : 'contacts_status', 'in', ['not_requested', 'request_failed'])
      .execute();
    await deps.db.insertInto('onboarding_steps').values({ tenant_id: tenantId, phone_number_id: phoneNumberId, step, status: 'failed', detail: JSON.stringify({ detail }) }).execute();
    return { step, status: 'failed', detail };
  }
}
