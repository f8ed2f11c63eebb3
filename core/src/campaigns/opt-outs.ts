import type { Kysely } from 'kysely';
import { z } from 'zod';
import type { Database } from '../db/schema.js';
import type { LiveMessage } from '../store/apply.js';
import { keywordIntent } from '../language/opt-out-keywords.js';
import { WHATSAPP_CONSENT_SOURCES, clearOptOut, isOptedOut, recordOptOut, type OptOutListener } from '../store/consent.js';

/**
 * Marketing opt-outs as the campaigns see them: keywords in live messages (the `consent` hook), the
 * reasons a recipient is skipped, a tenant's own words. The consent records themselves (`opt_outs`,
 * `opt_out_events`, the latest signal wins) are in ../store/consent.ts: the ingestion writes
 * WhatsApp's own signals there in a delivery's transaction.
 */
export {
  WHATSAPP_CONSENT_SOURCES,
  clearOptOut,
  isOptedOut,
  recordConsentSignal,
  recordOptOut,
  type ConsentOutcome,
  type ConsentSignal,
  type OptOutEvent,
  type OptOutListener,
  type RecordOptions,
} from '../store/consent.js';

/**
 * Why a marketing recipient is skipped: 'opted_out_whatsapp' when the customer stopped marketing
 * in WhatsApp itself (or Meta answered 131050), 'opted_out' for a keyword, the API or a CRM.
 */
export function optOutSkipReason(source: string): 'opted_out' | 'opted_out_whatsapp' {
  return (WHATSAPP_CONSENT_SOURCES as readonly string[]).includes(source) ? 'opted_out_whatsapp' : 'opted_out';
}

/** Words for a skip reason in reports (API, CLI, CRM UIs). */
export const SKIP_REASON_LABELS: Record<string, string> = {
  opted_out: 'opted out (keyword, API or CRM)',
  opted_out_whatsapp: 'opted out in WhatsApp',
  marketing_limit_24h: 'Meta marketing limit (131049) in the last 24 hours',
};

/** Tenant settings may add their own keywords: `{ "campaigns": { "opt_out_words": ["halt"] } }`. */
const tenantSettingsSchema = z.looseObject({
  campaigns: z.looseObject({ opt_out_words: z.array(z.string().min(1).max(100)).max(100).optional() }).optional(),
});

async function extraOptOutWords(trx: Kysely<Database>, tenantId: string): Promise<string[]> {
  const row = await trx.selectFrom('tenants').select('settings').where('id', '=', tenantId).executeTakeFirst();
  const parsed = tenantSettingsSchema.safeParse(row?.settings ?? {});
  return parsed.success ? (parsed.data.campaigns?.opt_out_words ?? []) : [];
}

/**
 * For the inbox hook, inside the delivery's transaction: a customer's text that is an opt-out
 * keyword message ("STOP", "baraka", "توقف") records an opt-out; an opt-in message ("START",
 * "bghit nrje3") clears one, but only for a customer who is opted out ("bghit nrje3" also means
 * "I want to return [an item]"). Returns what happened.
 */
export async function recordOptOutIfAny(
  trx: Kysely<Database>,
  live: Pick<LiveMessage, 'messageId' | 'threadId' | 'tenantId' | 'phoneNumberId' | 'direction' | 'origin'>,
  text: string | null | undefined,
  opts: { onOptOut?: OptOutListener | undefined } = {},
): Promise<'opted_out' | 'opted_in' | null> {
  if (live.direction !== 'inbound' || live.origin !== 'customer' || !text) return null;
  const contact = await trx
    .selectFrom('threads')
    .innerJoin('contacts', 'contacts.id', 'threads.contact_id')
    .select(['contacts.wa_id', 'contacts.user_id'])
    .where('threads.id', '=', live.threadId)
    .executeTakeFirst();
  // Keyed by phone; a customer known only by BSUID (WhatsApp username) by that id.
  const key = contact?.wa_id ?? contact?.user_id;
  if (!key) return null;
  const who = { tenantId: live.tenantId, phoneNumberId: live.phoneNumberId, waId: key };
  // The keyword counts from the moment the customer wrote it (ordered against WhatsApp's own signals).
  const sent = await trx.selectFrom('messages').select('provider_timestamp').where('id', '=', live.messageId).executeTakeFirst();
  const common = { messageId: live.messageId, threadId: live.threadId, signalAt: sent?.provider_timestamp ?? null, onOptOut: opts.onOptOut };
  const { optOut: out, optIn } = keywordIntent(text, await extraOptOutWords(trx, live.tenantId));
  if (out.optOut) return (await recordOptOut(trx, who, 'keyword', { ...common, detail: out.matched })) ? 'opted_out' : null;
  if (optIn.optIn && (await isOptedOut(trx, who.phoneNumberId, who.waId))) {
    return (await clearOptOut(trx, who, 'keyword', { ...common, detail: optIn.matched })) ? 'opted_in' : null;
  }
  return null;
}

/**
 * The inbox hook ready to register: `processor.onApplied(optOutHook({ onOptOut }))`. Checks each new
 * live customer text (LiveMessage carries it as stored) against the keywords.
 */
export function optOutHook(opts: { onOptOut?: OptOutListener | undefined } = {}) {
  return async (outcome: { live: LiveMessage[] }, trx: Kysely<Database>): Promise<void> => {
    const texts = outcome.live.filter((m) => m.direction === 'inbound' && m.origin === 'customer' && m.type === 'text');
    if (texts.length === 0) return;
    // A batch of the inbox holds up to hundreds of messages: the tenant's keywords once, and queries
    // only for the rare message that is a keyword.
    const wordsOf = new Map<string, string[]>();
    for (const m of texts) {
      const text = m.text;
      if (!text) continue;
      let words = wordsOf.get(m.tenantId);
      if (!words) wordsOf.set(m.tenantId, (words = await extraOptOutWords(trx, m.tenantId)));
      const intent = keywordIntent(text, words);
      if (!intent.optOut.optOut && !intent.optIn.optIn) continue;
      await recordOptOutIfAny(trx, m, text, opts);
    }
  };
}
