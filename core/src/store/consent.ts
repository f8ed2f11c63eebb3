import type { Kysely } from 'kysely';
import type { Database, OptOutSource } from '../db/schema.js';

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

/** The customer of a number whose consent changes. */
export type Who = { tenantId: string; phoneNumberId: string; waId: string };

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
