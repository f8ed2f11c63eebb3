import { sql, type Kysely } from 'kysely';
import { z } from 'zod';
import type { Database, OptOutSource } from '../db/schema.js';
import type { LiveMessage } from '../store/apply.js';
import { keywordIntent } from '../language/opt-out-keywords.js';

/**
 * Marketing opt-outs per number and customer (wa_id). A row in `opt_outs` excludes the customer
 * from marketing campaigns of that number; every change is also appended to `opt_out_events`.
 * Every function takes the caller's transaction or handle: inside a delivery's transaction pass
 * `trx` (what the delivery's transaction wrote is visible there).
 */

export interface OptOutEvent {
  action: 'opt_out' | 'opt_in';
  tenantId: string;
  phoneNumberId: string;
  waId: string;
  source: OptOutSource;
  /** The keyword matched, the Meta error, or who called the API. */
  detail: string | null;
  messageId: string | null;
  threadId: string | null;
}

/**
 * Runs in the same transaction as the change, e.g. to enqueue the CRM update ("do not contact"
 * property) so it exists exactly when the opt-out does.
 */
export type OptOutListener = (trx: Kysely<Database>, event: OptOutEvent) => Promise<void>;

export interface RecordOptions {
  detail?: string | null;
  messageId?: string | null;
  threadId?: string | null;
  /** When the customer gave the signal (the message's or webhook's time); default now. */
  signalAt?: Date | null;
  onOptOut?: OptOutListener | undefined;
}

/** Sources that mean "the customer told WhatsApp itself": campaigns report them as "opted out in WhatsApp". */
export const WHATSAPP_CONSENT_SOURCES: readonly OptOutSource[] = ['whatsapp', '131050'];

export interface ConsentSignal {
  action: 'opt_out' | 'opt_in';
  source: OptOutSource;
  /** When the customer gave it; the latest signal from any source wins. */
  signalAt: Date;
  detail?: string | null;
  messageId?: string | null;
  threadId?: string | null;
  /** Webhook signals: a repeated delivery with the same key records nothing. */
  dedupeKey?: string | null;
}

/**
 * - changed: the customer's state changed (opted out, or back in);
 * - source_updated: same state, now also stated through another source (kept, and told to the CRMs);
 * - unchanged: same state, same source (a repeated webhook signal is kept in the history only);
 * - superseded: older than the latest signal already applied: kept in the history only;
 * - duplicate: this exact webhook signal was recorded before.
 */
export type ConsentOutcome = 'changed' | 'source_updated' | 'unchanged' | 'superseded' | 'duplicate';

type Who = { tenantId: string; phoneNumberId: string; waId: string };

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

/** A 131050 refusal is WhatsApp reporting the same "stop" the `user_preferences` webhook does. */
function sameSignalFamily(a: string | null, b: OptOutSource): boolean {
  if (a === b) return true;
  const whatsapp = WHATSAPP_CONSENT_SOURCES as readonly string[];
  return a !== null && whatsapp.includes(a) && whatsapp.includes(b);
}

/**
 * Records one marketing consent signal in the contact's history and applies it when it is the
 * latest: a "stop" in WhatsApp at 10:05 wins over a START keyword at 10:00 even when the webhook
 * arrives last, and a late webhook older than the keyword changes nothing. Runs in the caller's
 * transaction; `onOptOut` runs for every applied signal (the CRM consent path).
 */
export async function recordConsentSignal(trx: Kysely<Database>, who: Who, signal: ConsentSignal, opts: { onOptOut?: OptOutListener | undefined } = {}): Promise<ConsentOutcome> {
  const dedupeKey = signal.dedupeKey ?? null;
  if (dedupeKey) {
    const seen = await trx.selectFrom('opt_out_events').select('id').where('phone_number_id', '=', who.phoneNumberId).where('dedupe_key', '=', dedupeKey).executeTakeFirst();
    if (seen) return 'duplicate';
  }
  const latest = await trx
    .selectFrom('opt_out_events')
    .select(['action', 'source', 'signal_at'])
    .where('phone_number_id', '=', who.phoneNumberId)
    .where('wa_id', '=', who.waId)
    .where('applied', '=', true)
    .orderBy('signal_at', 'desc')
    .orderBy('id', 'desc')
    .limit(1)
    .executeTakeFirst();
  const current = await trx.selectFrom('opt_outs').select(['source']).where('phone_number_id', '=', who.phoneNumberId).where('wa_id', '=', who.waId).executeTakeFirst();
  const currentAction: 'opt_out' | 'opt_in' = current ? 'opt_out' : 'opt_in';
  const currentSource = current?.source ?? latest?.source ?? null;

  const append = async (applied: boolean): Promise<void> => {
    await trx
      .insertInto('opt_out_events')
      .values({
        phone_number_id: who.phoneNumberId,
        wa_id: who.waId,
        tenant_id: who.tenantId,
        action: signal.action,
        source: signal.source,
        detail: signal.detail ?? null,
        message_id: signal.messageId ?? null,
        signal_at: signal.signalAt,
        applied,
        dedupe_key: dedupeKey,
      })
      .execute();
  };
  const notify = (): Promise<void> | undefined =>
    opts.onOptOut?.(trx, { action: signal.action, ...who, source: signal.source, detail: signal.detail ?? null, messageId: signal.messageId ?? null, threadId: signal.threadId ?? null });

  if (latest && signal.signalAt.getTime() < latest.signal_at.getTime()) {
    await append(false);
    return 'superseded';
  }
  if (signal.action === currentAction) {
    if (sameSignalFamily(currentSource, signal.source) || (signal.source === 'keyword' && currentAction === 'opt_in')) {
      // A keyword repeat leaves no trace (as before); a repeated webhook signal is history only.
      if (dedupeKey) await append(false);
      return 'unchanged';
    }
    if (signal.action === 'opt_out') {
      await trx
        .updateTable('opt_outs')
        .set({ source: signal.source, detail: signal.detail ?? null, message_id: signal.messageId ?? null, signal_at: signal.signalAt })
        .where('phone_number_id', '=', who.phoneNumberId)
        .where('wa_id', '=', who.waId)
        .execute();
    }
    await append(true);
    await notify();
    return 'source_updated';
  }
  if (signal.action === 'opt_out') {
    await trx
      .insertInto('opt_outs')
      .values({ phone_number_id: who.phoneNumberId, wa_id: who.waId, tenant_id: who.tenantId, source: signal.source, detail: signal.detail ?? null, message_id: signal.messageId ?? null, signal_at: signal.signalAt })
      .execute();
  } else {
    await trx.deleteFrom('opt_outs').where('phone_number_id', '=', who.phoneNumberId).where('wa_id', '=', who.waId).execute();
  }
  await append(true);
  await notify();
  return 'changed';
}

/** Records an opt-out; returns false when the customer was already opted out by the same source (nothing changes). */
export async function recordOptOut(trx: Kysely<Database>, who: Who, source: OptOutSource, opts: RecordOptions = {}): Promise<boolean> {
  const outcome = await recordConsentSignal(
    trx,
    who,
    { action: 'opt_out', source, signalAt: opts.signalAt ?? new Date(), detail: opts.detail ?? null, messageId: opts.messageId ?? null, threadId: opts.threadId ?? null },
    { onOptOut: opts.onOptOut },
  );
  return outcome === 'changed' || outcome === 'source_updated';
}

/** Clears an opt-out; returns false when there was none. */
export async function clearOptOut(trx: Kysely<Database>, who: Who, source: OptOutSource, opts: RecordOptions = {}): Promise<boolean> {
  if (!(await isOptedOut(trx, who.phoneNumberId, who.waId))) return false;
  const outcome = await recordConsentSignal(
    trx,
    who,
    { action: 'opt_in', source, signalAt: opts.signalAt ?? new Date(), detail: opts.detail ?? null, messageId: opts.messageId ?? null, threadId: opts.threadId ?? null },
    { onOptOut: opts.onOptOut },
  );
  return outcome === 'changed';
}

export async function isOptedOut(db: Kysely<Database>, phoneNumberId: string, waId: string): Promise<boolean> {
  const row = await db.selectFrom('opt_outs').select('wa_id').where('phone_number_id', '=', phoneNumberId).where('wa_id', '=', waId).executeTakeFirst();
  return row !== undefined;
}

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
