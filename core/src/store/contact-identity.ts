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

/**
 * First key of a number's advisory lock (second: `hashtext(phone_number_id)`). The worker's
 * transactions hold it shared for every number they apply; a contact merge takes it exclusively
 * first: a number's history lanes apply beside its own partition, and a merge that moved a thread's
 * messages and deleted it while another lane was still writing into that thread would fail on the
 * thread reference (docs/decisions/history-lanes.md).
 */
export const NUMBER_LOCK = 0x434f4558;

/** Folds contact `dropId` (and its thread) into contact `keepId` of the same number, then deletes it. */
export async function mergeContacts(trx: Trx, keepId: string, dropId: string): Promise<void> {
  await sql`select pg_advisory_xact_lock(${NUMBER_LOCK}, hashtext(phone_number_id)) from contacts where id = ${keepId}`.execute(trx);
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

// ---------------------------------------------------------------------------------------------
// BSUID changes (`user_changed_user_id`, coex-spec.md §11)
// ---------------------------------------------------------------------------------------------

/** Longest chain of successive BSUID changes followed (a loop in bad data must not hang a delivery). */
const MAX_USER_ID_HOPS = 8;

/** The current BSUID of each given one, following recorded changes (old → new → newer). */
export async function currentUserIds(trx: Trx, phoneNumberId: string, userIds: string[]): Promise<Map<string, string>> {
  const current = new Map(userIds.map((u) => [u, u] as const));
  let frontier = [...new Set(userIds)];
  for (let hop = 0; hop < MAX_USER_ID_HOPS && frontier.length > 0; hop++) {
    const rows = await trx
      .selectFrom('contact_user_id_changes')
      .select(['previous_user_id', 'new_user_id'])
      .where('phone_number_id', '=', phoneNumberId)
      .where('previous_user_id', 'in', frontier)
      .execute();
    if (rows.length === 0) break;
    const next = new Map(rows.map((r) => [r.previous_user_id, r.new_user_id] as const));
    for (const [original, now] of current) {
      const moved = next.get(now);
      if (moved) current.set(original, moved);
    }
    frontier = [...next.values()];
  }
  return current;
}

/**
 * Identities with their BSUID replaced by the customer's current one, so a message still carrying an
 * old id (delivered late, or redelivered) lands on the contact that followed the change.
 */
export async function followUserIdChanges(trx: Trx, phoneNumberId: string, identities: ContactIdentity[]): Promise<ContactIdentity[]> {
  const userIds = [...new Set(identities.flatMap((c) => (c.userId ? [c.userId] : [])))];
  if (userIds.length === 0) return identities;
  const current = await currentUserIds(trx, phoneNumberId, userIds);
  return identities.map((c) => (c.userId && current.get(c.userId) !== c.userId ? { ...c, userId: current.get(c.userId)! } : c));
}

/** Every BSUID linked to `userId` by recorded changes, in either direction. */
async function userIdFamily(trx: Trx, phoneNumberId: string, userId: string): Promise<string[]> {
  const family = new Set([userId]);
  let frontier = [userId];
  for (let hop = 0; hop < MAX_USER_ID_HOPS && frontier.length > 0; hop++) {
    const rows = await trx
      .selectFrom('contact_user_id_changes')
      .select(['previous_user_id', 'new_user_id'])
      .where('phone_number_id', '=', phoneNumberId)
      .where((eb) => eb.or([eb('previous_user_id', 'in', frontier), eb('new_user_id', 'in', frontier)]))
      .execute();
    frontier = rows.flatMap((r) => [r.previous_user_id, r.new_user_id]).filter((u) => !family.has(u));
    for (const u of frontier) family.add(u);
  }
  return [...family];
}

/**
 * `user_changed_user_id`: the customer keeps one contact (and so one thread, its CRM records, its
 * opt-out and bot state) under the new BSUID. Idempotent and order-independent:
 *  - the change is recorded, so later messages with the old id follow it (followUserIdChanges);
 *  - contacts already holding any id of the chain are folded into one (a message from the new id
 *    may have arrived first and created a second contact): the one with a phone wins, else the
 *    oldest; two contacts with different phones are never merged;
 *  - the survivor carries the newest id (and, when keyed by BSUID, is re-keyed to it).
 * Returns the surviving contact id (null when no contact exists yet: the record is enough).
 */
export async function applyUserIdChange(trx: Trx, change: { phoneNumberId: string; previousUserId: string; newUserId: string; wamid: string; timestamp: Date }): Promise<string | null> {
  const { phoneNumberId } = change;
  await trx
    .insertInto('contact_user_id_changes')
    .values({ phone_number_id: phoneNumberId, previous_user_id: change.previousUserId, new_user_id: change.newUserId, provider_timestamp: change.timestamp, wamid: change.wamid })
    .onConflict((oc) => oc.columns(['phone_number_id', 'previous_user_id']).doNothing())
    .execute();
  const latest = (await currentUserIds(trx, phoneNumberId, [change.previousUserId])).get(change.previousUserId) ?? change.newUserId;
  const family = await userIdFamily(trx, phoneNumberId, change.previousUserId);
  const rows = await trx
    .selectFrom('contacts')
    .select(['id', 'contact_key', 'wa_id', 'user_id', 'created_at'])
    .where('phone_number_id', '=', phoneNumberId)
    .where((eb) => eb.or([eb('user_id', 'in', family), eb('contact_key', 'in', family.map((u) => `bsuid:${u}`))]))
    .orderBy('created_at')
    .orderBy('id')
    .forUpdate()
    .execute();
  if (rows.length === 0) return null;
  const keep = rows.find((r) => r.wa_id) ?? rows[0]!;
  for (const other of rows) {
    if (other.id === keep.id) continue;
    // Different phones are different people: never merge them on a BSUID record.
    if (other.wa_id && keep.wa_id && other.wa_id !== keep.wa_id) continue;
    await mergeContacts(trx, keep.id, other.id);
  }
  await trx
    .updateTable('contacts')
    .set({
      user_id: latest,
      ...(keep.contact_key.startsWith('bsuid:') ? { contact_key: `bsuid:${latest}` } : {}),
      updated_at: sql`now()`,
    })
    .where('id', '=', keep.id)
    .execute();
  // A customer known only by BSUID has their marketing opt-out under that id: it follows too.
  if (!keep.wa_id) {
    for (const old of family.filter((u) => u !== latest)) {
      await sql`
        insert into opt_outs (phone_number_id, wa_id, tenant_id, source, detail, message_id, created_at)
        select phone_number_id, ${latest}, tenant_id, source, detail, message_id, created_at from opt_outs
         where phone_number_id = ${phoneNumberId} and wa_id = ${old}
        on conflict do nothing`.execute(trx);
      await trx.deleteFrom('opt_outs').where('phone_number_id', '=', phoneNumberId).where('wa_id', '=', old).execute();
    }
  }
  return keep.id;
}
