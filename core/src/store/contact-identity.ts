import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database } from '../db/schema.js';
import type { ContactIdentity } from '../whatsapp/normalize.js';

type Trx = Transaction<Database> | Kysely<Database>;

/**
 * One customer, one contact row — whichever identity Meta sends.
 *
 * Since 2026 a WhatsApp user is identified by phone (`wa_id`), by business-scoped user id (BSUID,
 * `user_id`), or both; the phone may be missing for a username user the business has not talked to
 * for 30 days (coex-spec.md §1). Contacts are keyed by phone when known, else by `bsuid:<user_id>`.
 * Without care the same person becomes two contacts (and two threads): first seen by BSUID only,
 * later with their phone; or known by phone, later writing with the phone hidden.
 *
 *  - an identity with a phone and a BSUID takes over a BSUID-only row: re-keyed to the phone, or,
 *    when a phone row exists too, merged into it (messages, bot history, agent turns and campaign
 *    recipients move to the surviving thread);
 *  - an identity with a BSUID only resolves to the phone row that already carries that BSUID.
 */

export function contactKeyOf(c: Pick<ContactIdentity, 'waId' | 'userId'>): string {
  if (c.waId) return c.waId;
  if (c.userId) return `bsuid:${c.userId}`;
  return 'unknown';
}

/**
 * Reconciles stored contacts with the identities of a batch and returns, for each identity's own
 * key (contactKeyOf), the key of the row it belongs to.
 */
export async function resolveContactKeys(trx: Trx, phoneNumberId: string, identities: ContactIdentity[]): Promise<Map<string, string>> {
  const resolved = new Map<string, string>();
  for (const c of identities) resolved.set(contactKeyOf(c), contactKeyOf(c));
  const userIds = [...new Set(identities.flatMap((c) => (c.userId ? [c.userId] : [])))];
  if (userIds.length === 0) return resolved;

  // BSUIDs this batch itself pairs with a phone.
  const phoneOfUser = new Map<string, string>();
  for (const c of identities) if (c.userId && c.waId) phoneOfUser.set(c.userId, c.waId);
  const rows = await trx
    .selectFrom('contacts')
    .select(['id', 'contact_key', 'user_id'])
    .where('phone_number_id', '=', phoneNumberId)
    .where((eb) => eb.or([eb('user_id', 'in', userIds), eb('contact_key', 'in', [...userIds.map((u) => `bsuid:${u}`), ...phoneOfUser.values()])]))
    .execute();

  for (const [userId, waId] of phoneOfUser) {
    const userOnly = rows.find((r) => r.contact_key === `bsuid:${userId}`);
    if (!userOnly) continue;
    const phoneRow = rows.find((r) => r.contact_key === waId);
    if (phoneRow) await mergeContacts(trx, phoneRow.id, userOnly.id);
    else await trx.updateTable('contacts').set({ contact_key: waId, wa_id: waId, updated_at: sql`now()` }).where('id', '=', userOnly.id).execute();
  }
  for (const userId of userIds) {
    const phone = phoneOfUser.get(userId) ?? rows.find((r) => r.user_id === userId && !r.contact_key.startsWith('bsuid:'))?.contact_key;
    if (phone) resolved.set(`bsuid:${userId}`, phone);
  }
  return resolved;
}

/** Folds contact `dropId` (and its thread) into contact `keepId` of the same number, then deletes it. */
export async function mergeContacts(trx: Trx, keepId: string, dropId: string): Promise<void> {
  const [keepThread, dropThread] = await Promise.all(
    [keepId, dropId].map((contactId) =>
      trx.selectFrom('threads').select(['id', 'bot_state', 'bot_paused_until', 'last_customer_message_at', 'last_message_at']).where('contact_id', '=', contactId).executeTakeFirst(),
    ),
  );
  if (dropThread && !keepThread) {
    await trx.updateTable('threads').set({ contact_id: keepId, updated_at: sql`now()` }).where('id', '=', dropThread.id).execute();
  } else if (dropThread && keepThread) {
    await trx.updateTable('messages').set({ thread_id: keepThread.id }).where('thread_id', '=', dropThread.id).execute();
    await trx.updateTable('bot_events').set({ thread_id: keepThread.id }).where('thread_id', '=', dropThread.id).execute();
    await trx.updateTable('agent_turns').set({ thread_id: keepThread.id }).where('thread_id', '=', dropThread.id).execute();
    await trx.updateTable('campaign_recipients').set({ thread_id: keepThread.id }).where('thread_id', '=', dropThread.id).execute();
    // A person paused or switched off the agent on either thread: that holds for the merged one
    // (never talk over a person). The version bump makes any agent turn in flight give up.
    const humanHeld = keepThread.bot_state === 'active' && dropThread.bot_state !== 'active';
    await trx
      .updateTable('threads')
      .set({
        last_customer_message_at: sql`greatest(last_customer_message_at, ${dropThread.last_customer_message_at})`,
        last_message_at: sql`greatest(last_message_at, ${dropThread.last_message_at})`,
        ...(humanHeld ? { bot_state: dropThread.bot_state, bot_paused_until: dropThread.bot_paused_until } : {}),
        bot_version: sql`bot_version + 1`,
        updated_at: sql`now()`,
      })
      .where('id', '=', keepThread.id)
      .execute();
    await trx.deleteFrom('threads').where('id', '=', dropThread.id).execute();
  }
  const drop = await trx.selectFrom('contacts').selectAll().where('id', '=', dropId).executeTakeFirstOrThrow();
  await trx
    .updateTable('contacts')
    .set({
      user_id: sql`coalesce(user_id, ${drop.user_id})`,
      username: sql`coalesce(username, ${drop.username})`,
      country_code: sql`coalesce(country_code, ${drop.country_code})`,
      profile_name: sql`coalesce(profile_name, ${drop.profile_name})`,
      phone_book_name: sql`coalesce(phone_book_name, ${drop.phone_book_name})`,
      phone_book_first_name: sql`coalesce(phone_book_first_name, ${drop.phone_book_first_name})`,
      updated_at: sql`now()`,
    })
    .where('id', '=', keepId)
    .execute();
  await trx.deleteFrom('contacts').where('id', '=', dropId).execute();
}
