import type { Kysely } from 'kysely';
import { z } from 'zod';
import type { Database, OptOutSource } from '../db/schema.js';
import type { LiveMessage } from '../store/apply.js';
import { isOptIn, isOptOut } from './opt-out.js';

/**
 * Marketing opt-outs per number and customer (wa_id). A row in `opt_outs` excludes the customer
 * from marketing campaigns of that number; every change is also appended to `opt_out_events`.
 * Every function takes the caller's transaction or handle: inside a delivery's transaction pass
 * `trx` (PGlite has one session; the outer handle would wait for the transaction forever).
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
  onOptOut?: OptOutListener | undefined;
}

/** Records an opt-out; returns false when the customer was already opted out (nothing changes). */
export async function recordOptOut(trx: Kysely<Database>, who: { tenantId: string; phoneNumberId: string; waId: string }, source: OptOutSource, opts: RecordOptions = {}): Promise<boolean> {
  const inserted = await trx
    .insertInto('opt_outs')
    .values({ phone_number_id: who.phoneNumberId, wa_id: who.waId, tenant_id: who.tenantId, source, detail: opts.detail ?? null, message_id: opts.messageId ?? null })
    .onConflict((oc) => oc.columns(['phone_number_id', 'wa_id']).doNothing())
    .returning('wa_id')
    .executeTakeFirst();
  if (!inserted) return false;
  await trx
    .insertInto('opt_out_events')
    .values({ phone_number_id: who.phoneNumberId, wa_id: who.waId, tenant_id: who.tenantId, action: 'opt_out', source, detail: opts.detail ?? null, message_id: opts.messageId ?? null })
    .execute();
  await opts.onOptOut?.(trx, { action: 'opt_out', ...who, source, detail: opts.detail ?? null, messageId: opts.messageId ?? null, threadId: opts.threadId ?? null });
  return true;
}

/** Clears an opt-out; returns false when there was none. */
export async function clearOptOut(trx: Kysely<Database>, who: { tenantId: string; phoneNumberId: string; waId: string }, source: OptOutSource, opts: RecordOptions = {}): Promise<boolean> {
  const deleted = await trx.deleteFrom('opt_outs').where('phone_number_id', '=', who.phoneNumberId).where('wa_id', '=', who.waId).returning('wa_id').executeTakeFirst();
  if (!deleted) return false;
  await trx
    .insertInto('opt_out_events')
    .values({ phone_number_id: who.phoneNumberId, wa_id: who.waId, tenant_id: who.tenantId, action: 'opt_in', source, detail: opts.detail ?? null, message_id: opts.messageId ?? null })
    .execute();
  await opts.onOptOut?.(trx, { action: 'opt_in', ...who, source, detail: opts.detail ?? null, messageId: opts.messageId ?? null, threadId: opts.threadId ?? null });
  return true;
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
  const common = { messageId: live.messageId, threadId: live.threadId, onOptOut: opts.onOptOut };
  const out = isOptOut(text, await extraOptOutWords(trx, live.tenantId));
  if (out.optOut) return (await recordOptOut(trx, who, 'keyword', { ...common, detail: out.matched })) ? 'opted_out' : null;
  const optIn = isOptIn(text);
  if (optIn.optIn && (await isOptedOut(trx, who.phoneNumberId, who.waId))) {
    return (await clearOptOut(trx, who, 'keyword', { ...common, detail: optIn.matched })) ? 'opted_in' : null;
  }
  return null;
}

/**
 * The inbox hook ready to register: `processor.onApplied(optOutHook({ onOptOut }))`. Reads each new
 * live message's text through `trx` (LiveMessage carries no text).
 */
export function optOutHook(opts: { onOptOut?: OptOutListener | undefined } = {}) {
  return async (outcome: { live: LiveMessage[] }, trx: Kysely<Database>): Promise<void> => {
    for (const m of outcome.live) {
      if (m.direction !== 'inbound' || m.origin !== 'customer' || m.type !== 'text') continue;
      const row = await trx.selectFrom('messages').select('text').where('id', '=', m.messageId).executeTakeFirst();
      await recordOptOutIfAny(trx, m, row?.text, opts);
    }
  };
}
