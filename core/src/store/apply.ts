import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database } from '../db/schema.js';
import type { AccountNotice, ContactIdentity, DomainEvent, MarketingPreferenceEvent } from '../whatsapp/normalize.js';
import { recordConsentSignal, type OptOutEvent } from './consent.js';
import { contactKeyOf, resolveContactKeys, followUserIdChanges, applyUserIdChange } from './contact-identity.js';
import { classifyCreationType, creationTypeOf } from '../whatsapp/routing.js';
import { controlAssignments, setControl } from './thread-control.js';
import { ensureTenant } from './tenants.js';

/**
 * Applies normalized webhook events to the conversation store inside one transaction. Every write
 * is idempotent and order-independent: messages merge on (phone_number_id, wamid), statuses are
 * kept apart and folded in by rank whenever either side arrives, edits/revokes wait for their
 * target, history chunks count once by content hash.
 */

type Trx = Transaction<Database> | Kysely<Database>;

/** Status order; a status never moves a message backwards. */
export const STATUS_RANK: Record<string, number> = {
  pending: 0,
  accepted: 1,
  held_for_quality_assessment: 1,
  sent: 2,
  delivered: 3,
  read: 4,
  played: 5,
  failed: 6,
};

/** Rows per INSERT when importing history (about 30 parameters a row). */
const MESSAGE_BATCH = 1000;

export interface LiveMessage {
  messageId: string;
  threadId: string;
  tenantId: string;
  phoneNumberId: string;
  wamid: string;
  direction: 'inbound' | 'outbound';
  origin: string;
  type: string;
  voice: boolean;
  mediaId: string | null;
  /** The message's text as stored (body, caption, title), for the keyword checks that follow. */
  text: string | null;
  /** Received on `standby`: another handler owned the thread; never answered by CoEx's agent. */
  standby?: boolean;
}

export interface ApplyOutcome {
  messagesInserted: number;
  messagesMerged: number;
  statusesRecorded: number;
  mutations: number;
  historyChunks: number;
  contactsSynced: number;
  accountEvents: number;
  unknown: number;
  /** New live messages (not history), for the agent, media and CRM follow-ups. */
  live: LiveMessage[];
  /** New history messages carrying media (placeholders filled by follow-ups included). */
  historyMedia: LiveMessage[];
  /** Threads whose agent was paused by human activity in this delivery. */
  pausedThreads: string[];
  /** Marketing consent changes applied from WhatsApp's own signals (`user_preferences`), for the CRM consent path. */
  consentChanges: OptOutEvent[];
  /** Account states and warnings Meta announced (ban, violation, restriction), for the logs. */
  accountNotices: AccountStateChange[];
  /** Echo `message_creation_type` values not known (treated as a person; counted in /metrics). */
  unknownCreationTypes: string[];
}

export interface AccountStateChange {
  phoneNumberId: string | null;
  wabaId: string;
  event: string;
  effect: AccountEffect['effect'];
  detail: string | null;
  warning: string | null;
}

export function emptyOutcome(): ApplyOutcome {
  return {
    messagesInserted: 0,
    messagesMerged: 0,
    statusesRecorded: 0,
    mutations: 0,
    historyChunks: 0,
    contactsSynced: 0,
    accountEvents: 0,
    unknown: 0,
    live: [],
    historyMedia: [],
    pausedThreads: [],
    consentChanges: [],
    accountNotices: [],
    unknownCreationTypes: [],
  };
}

export interface ApplyOptions {
  /** Tenant that numbers seen for the first time are attached to. */
  defaultTenantId: string;
  inboxId?: string | null;
  /** The delivery an event came from, when one call applies several (batched inbox). */
  inboxIdOf?: (event: DomainEvent) => string | null;
  /** Called once a messages INSERT is on its way to the database (EventStreamApplier prepares the next slice meanwhile). */
  onBulkWrite?: () => void;
  /**
   * Where a number seen for the first time (and a display number learnt late) is written and committed
   * at once, outside the apply's transaction: the worker's lanes of one number (its partition and its
   * history lanes) would otherwise each wait for the first one's whole transaction to create it.
   */
  outside?: Kysely<Database>;
}

/** Adds `b` into `a` (outcomes of several apply calls in one transaction). */
export function mergeOutcome(a: ApplyOutcome, b: ApplyOutcome): ApplyOutcome {
  a.messagesInserted += b.messagesInserted;
  a.messagesMerged += b.messagesMerged;
  a.statusesRecorded += b.statusesRecorded;
  a.mutations += b.mutations;
  a.historyChunks += b.historyChunks;
  a.contactsSynced += b.contactsSynced;
  a.accountEvents += b.accountEvents;
  a.unknown += b.unknown;
  a.live.push(...b.live);
  a.historyMedia.push(...b.historyMedia);
  a.pausedThreads.push(...b.pausedThreads);
  a.consentChanges.push(...b.consentChanges);
  a.accountNotices.push(...b.accountNotices);
  a.unknownCreationTypes.push(...b.unknownCreationTypes);
  return a;
}

const json = (v: unknown): string => JSON.stringify(v ?? null);

export { contactKeyOf };

/**
 * Records the WABA of numbers that do not know it yet (number → WABA; an onboarded number keeps its
 * own), in one statement.
 */
export async function recordWabaIds(trx: Trx, wabaOf: Map<string, string>): Promise<void> {
  const known = [...wabaOf].filter(([, wabaId]) => /^\d{1,32}$/.test(wabaId));
  if (known.length === 0) return;
  await sql`
    update whatsapp_numbers n set waba_id = v.waba_id
    from unnest(${known.map(([n]) => n)}::text[], ${known.map(([, w]) => w)}::text[]) as v(phone_number_id, waba_id)
    where n.phone_number_id = v.phone_number_id and n.waba_id is null`.execute(trx);
}

/** Makes sure the tenant and the number exist; returns the number's tenant. */
export async function ensureNumber(trx: Trx, phoneNumberId: string, displayPhoneNumber: string | null, defaultTenantId: string, outside?: Kysely<Database>): Promise<string> {
  return (await ensureNumbers(trx, new Map([[phoneNumberId, displayPhoneNumber]]), defaultTenantId, outside)).get(phoneNumberId)!;
}

/**
 * ensureNumber for several numbers (number → the display number a delivery names): one read; writes
 * only for new numbers (together: the tenant, the numbers and their sync state one statement each) and
 * for a display number learnt late. Returns each number's tenant.
 */
async function ensureNumbers(trx: Trx, displayOf: Map<string, string | null>, defaultTenantId: string, outside?: Kysely<Database>): Promise<Map<string, string>> {
  const writer = outside ?? trx;
  const rows = await trx
    .selectFrom('whatsapp_numbers')
    .select(['phone_number_id', 'tenant_id', sql<boolean>`display_phone_number is null`.as('lacks_display')])
    .where(sql<boolean>`phone_number_id = any(${[...displayOf.keys()]}::text[])`)
    .execute();
  const known = new Map(rows.map((r) => [r.phone_number_id, r] as const));
  const tenantOf = new Map<string, string>();
  const created: Array<{ phone_number_id: string; tenant_id: string; display_phone_number: string | null }> = [];
  for (const [phoneNumberId, displayPhoneNumber] of displayOf) {
    const existing = known.get(phoneNumberId);
    if (!existing) {
      created.push({ phone_number_id: phoneNumberId, tenant_id: defaultTenantId, display_phone_number: displayPhoneNumber });
      continue;
    }
    // Written once: every delivery names the display number, and a no-op UPDATE per batch still cost
    // a statement and a row lock.
    if (displayPhoneNumber && existing.lacks_display) {
      await writer
        .updateTable('whatsapp_numbers')
        .set({ display_phone_number: displayPhoneNumber })
        .where('phone_number_id', '=', phoneNumberId)
        .where('display_phone_number', 'is', null)
        .execute();
    }
    tenantOf.set(phoneNumberId, existing.tenant_id);
  }
  if (created.length === 0) return tenantOf;
  // In one order, so that two transactions creating some of the same numbers cannot deadlock.
  created.sort((a, b) => (a.phone_number_id < b.phone_number_id ? -1 : 1));
  await ensureTenant(writer, defaultTenantId);
  // Created meanwhile by another transaction: that row's tenant is kept (and returned).
  const inserted = await writer
    .insertInto('whatsapp_numbers')
    .values(created)
    .onConflict((oc) => oc.column('phone_number_id').doUpdateSet({ updated_at: sql`whatsapp_numbers.updated_at` }))
    .returning(['phone_number_id', 'tenant_id'])
    .execute();
  await writer
    .insertInto('sync_state')
    .values(created.map((c) => ({ phone_number_id: c.phone_number_id })))
    .onConflict((oc) => oc.doNothing())
    .execute();
  for (const row of inserted) tenantOf.set(row.phone_number_id, row.tenant_id);
  return tenantOf;
}

/**
 * Upserts contacts (deduplicated by key) and returns contactKeyOf(identity) → contact id. A phone and
 * a BSUID of one person end up on one row (contact-identity.ts).
 */
export async function upsertContacts(trx: Trx, tenantId: string, phoneNumberId: string, asReceived: ContactIdentity[]): Promise<Map<string, string>> {
  return (await upsertContactsOfNumbers(trx, [{ tenantId, phoneNumberId, contacts: asReceived }])).get(phoneNumberId) ?? new Map();
}

/** Contacts of one number, as a batch names them. */
interface NumberContacts {
  tenantId: string;
  phoneNumberId: string;
  contacts: ContactIdentity[];
}

/** `phone_number_id` + key: the identity of a row unique per number (a contact key, a wamid). */
const perNumber = (phoneNumberId: string, key: string): string => `${phoneNumberId}\u0001${key}`;

/**
 * upsertContacts for several numbers in one read and one write: per number, contactKeyOf(identity as
 * received) → contact id.
 */
async function upsertContactsOfNumbers(trx: Trx, numbers: NumberContacts[]): Promise<Map<string, Map<string, string>>> {
  const wanted = new Map<string, { tenantId: string; phoneNumberId: string; key: string; c: ContactIdentity }>();
  const resolved: Array<{ n: NumberContacts; identities: ContactIdentity[]; keyOf: Map<string, string> }> = [];
  for (const n of numbers) {
    // A BSUID the customer changed away from resolves to their current one (user_changed_user_id).
    // Both read only for identities with a BSUID.
    const identities = await followUserIdChanges(trx, n.phoneNumberId, n.contacts);
    const keyOf = await resolveContactKeys(trx, n.phoneNumberId, identities);
    resolved.push({ n, identities, keyOf });
    for (const c of identities) {
      const key = keyOf.get(contactKeyOf(c)) ?? contactKeyOf(c);
      const prev = wanted.get(perNumber(n.phoneNumberId, key))?.c;
      const merged = {
        waId: c.waId ?? prev?.waId ?? null,
        userId: c.userId ?? prev?.userId ?? null,
        username: c.username ?? prev?.username ?? null,
        countryCode: c.countryCode ?? prev?.countryCode ?? null,
        profileName: c.profileName ?? prev?.profileName ?? null,
      };
      wanted.set(perNumber(n.phoneNumberId, key), { tenantId: n.tenantId, phoneNumberId: n.phoneNumberId, key, c: merged });
    }
  }
  const idOf = new Map<string, string>();
  if (wanted.size > 0) {
    // Most messages come from known customers whose details did not change: read them first, and write
    // only new contacts and changed details (an upsert per contact was most of a batch's contact cost).
    const all = [...wanted.values()];
    const known = await trx
      .selectFrom('contacts')
      .select(['id', 'phone_number_id', 'contact_key', 'wa_id', 'user_id', 'username', 'country_code', 'profile_name'])
      .where(sql<boolean>`(phone_number_id, contact_key) in (select * from unnest(${all.map((w) => w.phoneNumberId)}::text[], ${all.map((w) => w.key)}::text[]))`)
      .execute();
    const knownOf = new Map(known.map((r) => [perNumber(r.phone_number_id, r.contact_key), r] as const));
    const toWrite: typeof all = [];
    for (const [id, w] of wanted) {
      const row = knownOf.get(id);
      if (row && !detailsChange(row, w.c)) idOf.set(id, row.id);
      else toWrite.push(w);
    }
    if (toWrite.length > 0) {
      // New contacts and changed details; a contact another transaction created meanwhile is merged.
      // In one order (number, key), so that two writers of the same contacts cannot deadlock.
      toWrite.sort((a, b) => (perNumber(a.phoneNumberId, a.key) < perNumber(b.phoneNumberId, b.key) ? -1 : 1));
      // One array parameter a column (unnest), not one parameter a value: for 2,000 new customers the
      // query builder's per-value nodes and the driver's 16,000 parameters cost the worker ~15 µs of CPU
      // a customer (docs/benchmarks.md, fifth session).
      const col = <T>(f: (w: (typeof toWrite)[number]) => T): T[] => toWrite.map(f);
      const { rows: written } = await sql<{ id: string; phone_number_id: string; contact_key: string }>`
        insert into contacts (tenant_id, phone_number_id, contact_key, wa_id, user_id, username, country_code, profile_name)
        select * from unnest(${col((w) => w.tenantId)}::text[], ${col((w) => w.phoneNumberId)}::text[], ${col((w) => w.key)}::text[],
          ${col((w) => w.c.waId)}::text[], ${col((w) => w.c.userId)}::text[], ${col((w) => w.c.username)}::text[],
          ${col((w) => w.c.countryCode)}::text[], ${col((w) => w.c.profileName)}::text[])
        on conflict (phone_number_id, contact_key) do update set
          wa_id = coalesce(excluded.wa_id, contacts.wa_id),
          user_id = coalesce(excluded.user_id, contacts.user_id),
          username = coalesce(excluded.username, contacts.username),
          country_code = coalesce(excluded.country_code, contacts.country_code),
          profile_name = coalesce(excluded.profile_name, contacts.profile_name),
          updated_at = now()
        returning id, phone_number_id, contact_key`.execute(trx);
      for (const r of written) idOf.set(perNumber(r.phone_number_id, r.contact_key), r.id);
    }
  }
  const result = new Map<string, Map<string, string>>();
  for (const { n, identities, keyOf } of resolved) {
    const ids = new Map<string, string>();
    for (const [own, key] of keyOf) {
      const id = idOf.get(perNumber(n.phoneNumberId, key));
      if (id) ids.set(own, id);
    }
    // Callers look contacts up by the identity as received (its old BSUID included).
    n.contacts.forEach((c, i) => {
      const id = ids.get(contactKeyOf(identities[i]!));
      if (id) ids.set(contactKeyOf(c), id);
    });
    result.set(n.phoneNumberId, ids);
  }
  return result;
}

/** Would writing `c` change the stored contact? (A detail given and different from the stored one.) */
function detailsChange(
  row: { wa_id: string | null; user_id: string | null; username: string | null; country_code: string | null; profile_name: string | null },
  c: ContactIdentity,
): boolean {
  return (
    (c.waId !== null && c.waId !== row.wa_id) ||
    (c.userId !== null && c.userId !== row.user_id) ||
    (c.username !== null && c.username !== row.username) ||
    (c.countryCode !== null && c.countryCode !== row.country_code) ||
    (c.profileName !== null && c.profileName !== row.profile_name)
  );
}

/** Upserts threads for contacts and returns contact id → thread id. */
export async function upsertThreads(trx: Trx, tenantId: string, phoneNumberId: string, contactIds: string[]): Promise<Map<string, string>> {
  return (await findOrCreateThreads(trx, contactIds.map((contactId) => ({ tenantId, phoneNumberId, contactId })))).ids;
}

/** What a thread created by a batch of messages starts with (the batch's clocks and control signal). */
interface ThreadStart {
  last: Date;
  customer: Date | null;
  control: { signal: 'coex' | 'elsewhere'; at: Date } | null;
}

/** The thread wanted for a contact of a number, and what it starts with if it is new. */
interface ThreadOf {
  tenantId: string;
  phoneNumberId: string;
  contactId: string;
  start?: ThreadStart | undefined;
}

/**
 * Threads of the contacts (contact id → thread id; a contact belongs to one number), of any numbers,
 * and which of them this call created. A new thread is inserted with its start values, not inserted
 * bare and updated in the same transaction: that second row version re-ran every foreign-key check of
 * the fresh row.
 */
async function findOrCreateThreads(trx: Trx, wanted: ThreadOf[]): Promise<{ ids: Map<string, string>; created: Set<string> }> {
  const unique = [...new Map(wanted.map((w) => [w.contactId, w] as const)).values()];
  const ids = new Map<string, string>();
  const created = new Set<string>();
  if (unique.length === 0) return { ids, created };
  const read = async (of: ThreadOf[]): Promise<void> => {
    const rows = await trx
      .selectFrom('threads')
      .select(['id', 'contact_id'])
      .where(sql<boolean>`(phone_number_id, contact_id) in (select * from unnest(${of.map((w) => w.phoneNumberId)}::text[], ${of.map((w) => w.contactId)}::uuid[]))`)
      .execute();
    for (const r of rows) ids.set(r.contact_id, r.id);
  };
  // Existing threads are read; only new ones are inserted (an upsert per thread, even one that
  // writes nothing, cost a speculative insertion per message).
  await read(unique);
  const missing = unique.filter((w) => !ids.has(w.contactId)).sort((a, b) => (a.contactId < b.contactId ? -1 : 1));
  if (missing.length > 0) {
    // A fresh thread holds CoEx's defaults (control with CoEx, bot version 0) unless its first messages
    // say otherwise: the rule of controlAssignments() (thread-control.ts) applied to them — a `messages`
    // signal keeps CoEx, a `standby` one hands it to Meta's agent. One array parameter a column, as
    // for contacts.
    const elsewhere = (w: ThreadOf): boolean => w.start?.control?.signal === 'elsewhere';
    const col = <T>(f: (w: ThreadOf) => T): T[] => missing.map(f);
    const { rows } = await sql<{ id: string; contact_id: string }>`
      insert into threads (tenant_id, phone_number_id, contact_id, last_message_at, last_customer_message_at, control_holder, control_event_at, bot_version)
      select * from unnest(${col((w) => w.tenantId)}::text[], ${col((w) => w.phoneNumberId)}::text[], ${col((w) => w.contactId)}::uuid[],
        ${col((w) => w.start?.last.toISOString() ?? null)}::timestamptz[], ${col((w) => w.start?.customer?.toISOString() ?? null)}::timestamptz[],
        ${col((w) => (elsewhere(w) ? 'meta_agent' : 'coex'))}::text[], ${col((w) => w.start?.control?.at.toISOString() ?? null)}::timestamptz[],
        ${col((w) => (elsewhere(w) ? 1 : 0))}::bigint[])
      on conflict (phone_number_id, contact_id) do nothing
      returning id, contact_id`.execute(trx);
    for (const r of rows) {
      ids.set(r.contact_id, r.id);
      created.add(r.id);
    }
    // Created meanwhile by another transaction (a send to a new customer): read it.
    const raced = missing.filter((w) => !ids.has(w.contactId));
    if (raced.length > 0) await read(raced);
  }
  return { ids, created };
}

type MessageEvent = Extract<DomainEvent, { kind: 'message' }>;

/** A message of a number, by its wamid. */
interface NumberWamid {
  phoneNumberId: string;
  wamid: string;
}

/** The rows of `table` whose (phone_number_id, `column`) is one of `keys`: one array parameter each. */
const amongKeys = (column: string, keys: NumberWamid[]) =>
  sql<boolean>`(phone_number_id, ${sql.ref(column)}) in (select * from unnest(${keys.map((k) => k.phoneNumberId)}::text[], ${keys.map((k) => k.wamid)}::text[]))`;

/** Folds recorded statuses into messages whose rank is lower (status-before-message, any order). */
export async function reconcileStatuses(trx: Trx, phoneNumberId: string, wamids: string[]): Promise<void> {
  await reconcileStatusesOf(trx, wamids.map((wamid) => ({ phoneNumberId, wamid })));
}

/** reconcileStatuses for messages of any numbers, in one statement. */
async function reconcileStatusesOf(trx: Trx, keys: NumberWamid[]): Promise<void> {
  if (keys.length === 0) return;
  const changed = await sql<{ id: string }>`
    update messages m set status = s.status, status_rank = s.status_rank, status_at = s.provider_timestamp,
      error = coalesce(s.errors, m.error), updated_at = now()
    from (
      select distinct on (phone_number_id, wamid) phone_number_id, wamid, status, status_rank, provider_timestamp, errors
      from message_statuses
      where ${amongKeys('wamid', keys)}
      order by phone_number_id, wamid, status_rank desc
    ) s
    where m.phone_number_id = s.phone_number_id and m.wamid = s.wamid and s.status_rank > m.status_rank
    returning m.id`.execute(trx);
  if (changed.rows.length > 0) {
    // The CRM record of an already archived message shows the new status: archive it again
    // (connectors upsert by message id, so it is updated in place, never duplicated).
    await sql`
      update crm_outbox o set status = 'pending', attempts = 0, next_attempt_at = now()
      from crm_connections c
      where o.connection_id = c.id and c.crm = 'hubspot' and o.kind = 'archive' and o.status = 'done'
        and o.ref_id in (${sql.join(changed.rows.map((r) => r.id))})`.execute(trx);
  }
}

/** Applies recorded edits/revokes whose target is among these wamids (either may come first). */
export async function reconcileMutations(trx: Trx, phoneNumberId: string, wamids: string[]): Promise<void> {
  await reconcileMutationsOf(trx, wamids.map((wamid) => ({ phoneNumberId, wamid })));
}

/** reconcileMutations for messages of any numbers: one read, a write per recorded edit or revoke. */
async function reconcileMutationsOf(trx: Trx, keys: NumberWamid[]): Promise<void> {
  if (keys.length === 0) return;
  const pending = await trx.selectFrom('message_mutations').selectAll().where(amongKeys('target_wamid', keys)).orderBy('provider_timestamp').execute();
  for (const mu of pending) {
    if (mu.kind === 'revoke') {
      await trx.updateTable('messages').set({ revoked_at: mu.provider_timestamp, updated_at: sql`now()` }).where('phone_number_id', '=', mu.phone_number_id).where('wamid', '=', mu.target_wamid).execute();
    } else {
      await trx
        .updateTable('messages')
        .set({ text: mu.new_text, edited_at: mu.provider_timestamp, updated_at: sql`now()` })
        .where('phone_number_id', '=', mu.phone_number_id)
        .where('wamid', '=', mu.target_wamid)
        .where((eb) => eb.or([eb('edited_at', 'is', null), eb('edited_at', '<', mu.provider_timestamp)]))
        .execute();
    }
  }
}

/** Pauses the agent of a thread because a human acted (app echo, CRM reply): bumps bot_version. */
export async function pauseForHuman(trx: Trx, threadId: string, cause: string, at: Date, actor: string | null = null): Promise<boolean> {
  const thread = await trx
    .selectFrom('threads')
    .innerJoin('tenants', 'tenants.id', 'threads.tenant_id')
    .select(['threads.bot_state', 'threads.bot_paused_until', 'tenants.quiet_period_seconds'])
    .where('threads.id', '=', threadId)
    // FOR NO KEY UPDATE: only non-key columns change, and a FOR UPDATE lock would also wait for (and
    // deadlock with) transactions holding the thread's foreign-key share lock — any insert of a message.
    .forNoKeyUpdate('threads')
    .executeTakeFirst();
  if (!thread || thread.bot_state === 'off') return false;
  // The quiet period runs from the human act itself (the echo's own time), not from when the webhook
  // happened to be processed: a late delivery must not stretch the pause. The version bump below still
  // cancels any reply generated meanwhile.
  const until = new Date(at.getTime() + thread.quiet_period_seconds * 1000);
  const keepLater = thread.bot_state === 'paused' && (thread.bot_paused_until === null || thread.bot_paused_until > until);
  await trx
    .updateTable('threads')
    .set({
      bot_state: 'paused',
      bot_paused_until: keepLater ? thread.bot_paused_until : until,
      bot_version: sql`bot_version + 1`,
      updated_at: sql`now()`,
    })
    .where('id', '=', threadId)
    .execute();
  await trx
    .insertInto('bot_events')
    .values({ thread_id: threadId, from_state: thread.bot_state, to_state: 'paused', cause, actor, paused_until: keepLater ? thread.bot_paused_until : until, seq: sql`nextval('activity_seq')` })
    .execute();
  return true;
}

/**
 * Writes a batch of messages, of one number or many, in a fixed number of statements: contacts,
 * threads, messages and the threads' clocks each as one multi-row statement for the whole batch (a
 * worker applies many numbers' deliveries in one transaction, a few messages each).
 */
async function applyMessages(trx: Trx, events: MessageEvent[], opts: ApplyOptions, outcome: ApplyOutcome): Promise<void> {
  if (events.length === 0) return;
  const displayOf = new Map<string, string | null>();
  for (const e of events) if (!displayOf.get(e.phoneNumberId)) displayOf.set(e.phoneNumberId, e.displayPhoneNumber);
  const tenantOf = await ensureNumbers(trx, displayOf, opts.defaultTenantId, opts.outside);

  const contactsByNumber = new Map<string, ContactIdentity[]>();
  for (const e of events) {
    const list = contactsByNumber.get(e.phoneNumberId);
    if (list) list.push(e.contact);
    else contactsByNumber.set(e.phoneNumberId, [e.contact]);
  }
  const contactIds = await upsertContactsOfNumbers(
    trx,
    [...contactsByNumber].map(([phoneNumberId, contacts]) => ({ tenantId: tenantOf.get(phoneNumberId)!, phoneNumberId, contacts })),
  );
  const contactOf = (e: MessageEvent): string => contactIds.get(e.phoneNumberId)!.get(contactKeyOf(e.contact))!;

  // Deduplicate within the batch (Meta repeats messages inside one delivery too); last copy wins.
  const byWamid = new Map<string, MessageEvent>();
  for (const e of events) byWamid.set(perNumber(e.phoneNumberId, e.message.wamid), e);
  const batch = [...byWamid.values()];

  // Thread clocks — last activity, and the customer's last live message (the 24-hour window) — and
  // who holds the thread, from the field its latest live customer message came on
  // (thread-control.ts: `messages` → CoEx, `standby` → someone else). Per contact: new threads are
  // created with them, known ones updated in one statement below.
  const clocks = new Map<string, ThreadStart>();
  const wantedThreads = new Map<string, ThreadOf>();
  for (const e of batch) {
    const id = contactOf(e);
    const at = e.message.timestamp;
    const c = clocks.get(id) ?? { last: at, customer: null, control: null };
    if (at > c.last) c.last = at;
    if (e.live && e.origin === 'customer' && (!c.customer || at > c.customer)) c.customer = at;
    if (e.live && e.origin === 'customer' && e.direction === 'inbound' && (!c.control || at >= c.control.at)) c.control = { signal: e.standby ? 'elsewhere' : 'coex', at };
    clocks.set(id, c);
    wantedThreads.set(id, { tenantId: tenantOf.get(e.phoneNumberId)!, phoneNumberId: e.phoneNumberId, contactId: id, start: c });
  }
  // Every contact of the batch has its thread (also one whose only message was a repeated copy).
  for (const [phoneNumberId, ids] of contactIds) {
    for (const id of ids.values()) if (!wantedThreads.has(id)) wantedThreads.set(id, { tenantId: tenantOf.get(phoneNumberId)!, phoneNumberId, contactId: id });
  }
  const { ids: threadIds, created } = await findOrCreateThreads(trx, [...wantedThreads.values()]);
  const threadOf = (e: MessageEvent): string => threadIds.get(contactOf(e))!;

  // One array per column, spread by unnest(): a few parameters instead of ~25 per row, so a history
  // chunk's statement is neither built node by node (Kysely), nor bound and planned value by value.
  // The payloads go as one JSON array (one JSON.stringify, parsed by PostgreSQL's JSON parser) rather
  // than a text[] of JSON strings, whose array literal pg escapes quote by quote.
  const column = <T>(f: (e: MessageEvent) => T): T[] => batch.map(f);
  // Every row comes back from the upsert, but only those a follow-up needs are sent back (live
  // messages, media of history): a history chunk's thousand rows were read back for nothing but a
  // count. The counts come on every row (left join: one row even when none is needed).
  const inserting = sql<{
    inserted_count: string;
    stored_count: string;
    id: string | null;
    phone_number_id: string;
    wamid: string;
    thread_id: string;
    media_id: string | null;
    type: string;
    origin: string;
    inserted: boolean;
  }>`
    with ins as (
    insert into messages (tenant_id, phone_number_id, thread_id, wamid, direction, origin, type, text, provider_timestamp, status, error,
      history_status, context_wamid, media_id, media_mime, media_sha256, media_voice, media_state, transcript_state, payload, standby, creation_type)
    select v.tenant_id, v.phone_number_id, v.thread_id, v.wamid, v.direction, v.origin, v.type, v.text, v.provider_timestamp, v.status, v.error::jsonb,
      v.history_status, v.context_wamid, v.media_id, v.media_mime, v.media_sha256, v.media_voice, v.media_state, v.transcript_state, v.payload, v.standby, v.creation_type
    from unnest(
      ${column((e) => tenantOf.get(e.phoneNumberId)!)}::text[], ${column((e) => e.phoneNumberId)}::text[],
      ${column(threadOf)}::uuid[], ${column((e) => e.message.wamid)}::text[], ${column((e) => e.direction)}::text[], ${column((e) => e.origin)}::text[],
      ${column((e) => e.message.type)}::text[], ${column((e) => e.message.text)}::text[], ${column((e) => e.message.timestamp.toISOString())}::timestamptz[],
      ${column((e) => (e.origin === 'history' ? (e.message.historyStatus?.toLowerCase() ?? null) : e.direction === 'inbound' ? 'received' : null))}::text[],
      ${column((e) => (e.message.errors ? json(e.message.errors) : null))}::text[], ${column((e) => e.message.historyStatus)}::text[],
      ${column((e) => e.message.contextWamid)}::text[], ${column((e) => e.message.media?.id ?? null)}::text[], ${column((e) => e.message.media?.mimeType ?? null)}::text[],
      ${column((e) => e.message.media?.sha256 ?? null)}::text[], ${column((e) => e.message.media?.voice ?? false)}::boolean[],
      ${column((e) => (e.message.media?.id ? 'pending' : null))}::text[], ${column((e) => (e.message.media?.voice ? 'pending' : null))}::text[],
      (select array_agg(p.payload order by p.i) from jsonb_array_elements(${json(batch.map((e) => e.message.payload))}::jsonb) with ordinality as p(payload, i)),
      ${column((e) => e.standby ?? false)}::boolean[],
      ${column((e) => (e.direction === 'outbound' ? creationTypeOf(e.message.raw) : null))}::text[]
    ) as v(tenant_id, phone_number_id, thread_id, wamid, direction, origin, type, text, provider_timestamp, status, error, history_status, context_wamid, media_id, media_mime,
      media_sha256, media_voice, media_state, transcript_state, payload, standby, creation_type)
    on conflict (phone_number_id, wamid) do update set
      type = case when messages.type = 'media_placeholder' then excluded.type else messages.type end,
      text = coalesce(messages.text, excluded.text),
      media_id = coalesce(messages.media_id, excluded.media_id),
      media_mime = coalesce(messages.media_mime, excluded.media_mime),
      media_sha256 = coalesce(messages.media_sha256, excluded.media_sha256),
      media_voice = messages.media_voice or excluded.media_voice,
      media_state = coalesce(messages.media_state, excluded.media_state),
      transcript_state = coalesce(messages.transcript_state, excluded.transcript_state),
      origin = case when messages.origin = 'history' and excluded.origin <> 'history' then excluded.origin else messages.origin end,
      history_status = coalesce(messages.history_status, excluded.history_status),
      context_wamid = coalesce(messages.context_wamid, excluded.context_wamid),
      payload = case when messages.type = 'media_placeholder' then excluded.payload else messages.payload end,
      standby = messages.standby or excluded.standby,
      creation_type = coalesce(messages.creation_type, excluded.creation_type),
      updated_at = now()
    returning id, phone_number_id, wamid, thread_id, media_id, type, origin, (xmax = 0) as inserted
    ), counted as (select count(*) filter (where inserted) as inserted_count, count(*) as stored_count from ins)
    select counted.inserted_count, counted.stored_count, r.* from counted
    left join lateral (select * from ins where origin <> 'history' or media_id is not null) r on true`.execute(trx);
  opts.onBulkWrite?.();
  const { rows: answer } = await inserting;
  const insertedCount = Number(answer[0]?.inserted_count ?? 0);
  outcome.messagesInserted += insertedCount;
  outcome.messagesMerged += Number(answer[0]?.stored_count ?? 0) - insertedCount;
  const rows = answer.filter((r): r is typeof r & { id: string } => r.id !== null);

  // Each message of the batch is stored now (inserted or merged).
  const stored = batch.map((e) => ({ phoneNumberId: e.phoneNumberId, wamid: e.message.wamid }));
  await reconcileStatusesOf(trx, stored);
  await reconcileMutationsOf(trx, stored);

  // Known threads: clocks and control in one statement (greatest() ignores the NULL of "no customer
  // message"; a NULL signal leaves control as it is).
  const clockRows = [...clocks]
    .map(([contactId, c]) => [threadIds.get(contactId)!, c] as const)
    .filter(([threadId]) => !created.has(threadId))
    .map(([threadId, c]) => sql`(${threadId}::uuid, ${c.last}::timestamptz, ${c.customer}::timestamptz, ${c.control?.signal ?? null}::text, ${c.control?.at ?? null}::timestamptz)`);
  if (clockRows.length > 0) {
    await sql`
      update threads t set
        last_message_at = greatest(t.last_message_at, v.last_at),
        last_customer_message_at = greatest(t.last_customer_message_at, v.customer_at),
        ${controlAssignments()},
        updated_at = now()
      from (values ${sql.join(clockRows)}) as v(id, last_at, customer_at, signal, control_at)
      where t.id = v.id`.execute(trx);
  }

  const rowOf = new Map(rows.map((r) => [perNumber(r.phone_number_id, r.wamid), r]));
  for (const e of batch) {
    const row = rowOf.get(perNumber(e.phoneNumberId, e.message.wamid));
    if (!row) continue;
    const item: LiveMessage = {
      messageId: row.id,
      threadId: row.thread_id,
      tenantId: tenantOf.get(e.phoneNumberId)!,
      phoneNumberId: e.phoneNumberId,
      wamid: e.message.wamid,
      direction: e.direction,
      origin: row.origin,
      type: row.type,
      voice: e.message.media?.voice ?? false,
      mediaId: row.media_id,
      text: e.message.text,
      standby: e.standby ?? false,
    };
    if (e.live && row.inserted) outcome.live.push(item);
    else if (!e.live && e.message.media?.id) outcome.historyMedia.push(item);
  }

  // A live echo written by a person (on the phone) pauses the agent of that thread; one written by a
  // bot (message_creation_type) does not — that loop hands every bot answer to a human otherwise.
  // The quiet period runs from the latest of a thread's human echoes (not from a customer message
  // that came after it in the same batch).
  const liveEchoes = batch.filter((e) => e.live && e.origin === 'app');
  const humanEchoAt = new Map<string, Date>();
  for (const e of liveEchoes) {
    if (!echoIsHuman(e, outcome)) continue;
    const threadId = threadOf(e);
    const seen = humanEchoAt.get(threadId);
    if (!seen || e.message.timestamp > seen) humanEchoAt.set(threadId, e.message.timestamp);
  }
  for (const [threadId, latest] of humanEchoAt) {
    if (await pauseForHuman(trx, threadId, 'app_echo', latest)) outcome.pausedThreads.push(threadId);
  }
  // Phone-app activity (Meta disconnects a number whose app goes unused): not a bot's or standby echo.
  const appActive = new Set(liveEchoes.filter((e) => !e.standby && classifyCreationType(creationTypeOf(e.message.raw)) !== 'bot').map((e) => e.phoneNumberId));
  if (appActive.size > 0) {
    await trx
      .updateTable('whatsapp_numbers')
      .set({ last_echo_at: sql`greatest(last_echo_at, now())` })
      .where(sql<boolean>`phone_number_id = any(${[...appActive]}::text[])`)
      .execute();
  }
}

type StatusEvent = Extract<DomainEvent, { kind: 'status' }>;

/** Records statuses (one multi-row insert) and folds them into their messages (one update for all numbers). */
async function applyStatuses(trx: Trx, events: StatusEvent[], outcome: ApplyOutcome): Promise<void> {
  if (events.length === 0) return;
  await trx
    .insertInto('message_statuses')
    .values(
      events.map((e) => ({
        phone_number_id: e.phoneNumberId,
        wamid: e.wamid,
        status: e.status,
        status_rank: STATUS_RANK[e.status] ?? 0,
        provider_timestamp: e.timestamp,
        recipient_id: e.recipientWaId,
        errors: e.errors ? json(e.errors) : null,
        pricing: e.pricing ? json(e.pricing) : null,
        payload: json(e.payload),
      })),
    )
    .onConflict((oc) => oc.doNothing())
    .execute();
  const messages = new Map(events.map((e) => [perNumber(e.phoneNumberId, e.wamid), { phoneNumberId: e.phoneNumberId, wamid: e.wamid }] as const));
  await reconcileStatusesOf(trx, [...messages.values()]);
  outcome.statusesRecorded += events.length;
  // 131050: Meta refused a marketing message because the customer stopped them in WhatsApp.
  for (const e of events) {
    if (e.status === 'failed' && e.recipientWaId && e.errors?.some((x) => x.code === MARKETING_STOPPED_CODE)) await recordMarketingRefusal(trx, e, outcome);
  }
}


/**
 * Whether an echo is a person's doing, from its `message_creation_type`: a person or an unknown value
 * (the safe side; the value is reported) pauses the agent, a bot does not. Without the field a
 * regular echo is the owner on the phone; a `standby` echo is the reply of the handler then holding
 * the thread, not a person of this business.
 */
function echoIsHuman(e: MessageEvent, outcome: ApplyOutcome): boolean {
  const value = creationTypeOf(e.message.raw);
  switch (classifyCreationType(value)) {
    case 'person':
      return true;
    case 'bot':
      return false;
    case 'unknown':
      outcome.unknownCreationTypes.push(value!);
      return true;
    case 'absent':
      return !e.standby;
  }
}

/** One event that is neither a message nor a status (those are written in batches: applyEvents). */
async function applyEvent(trx: Trx, e: Exclude<DomainEvent, MessageEvent | StatusEvent>, opts: ApplyOptions, outcome: ApplyOutcome): Promise<void> {
  switch (e.kind) {
    case 'mutation': {
      const tenantId = await ensureNumber(trx, e.phoneNumberId, e.displayPhoneNumber, opts.defaultTenantId);
      await trx
        .insertInto('message_mutations')
        .values({ phone_number_id: e.phoneNumberId, wamid: e.wamid, target_wamid: e.targetWamid, kind: e.mutation, provider_timestamp: e.timestamp, new_text: e.newText, payload: json(e.payload) })
        .onConflict((oc) => oc.doNothing())
        .execute();
      await reconcileMutations(trx, e.phoneNumberId, [e.targetWamid]);
      outcome.mutations += 1;
      if (e.origin === 'app' && classifyCreationType(creationTypeOf(e.raw)) !== 'bot') {
        // Editing or deleting from the phone is human activity too (not when a bot did it).
        const contacts = await upsertContacts(trx, tenantId, e.phoneNumberId, [e.contact]);
        const threads = await upsertThreads(trx, tenantId, e.phoneNumberId, [...contacts.values()]);
        for (const threadId of threads.values()) {
          if (await pauseForHuman(trx, threadId, `app_${e.mutation}`, e.timestamp)) outcome.pausedThreads.push(threadId);
        }
      }
      return;
    }
    case 'history_chunk': {
      await ensureNumber(trx, e.phoneNumberId, e.displayPhoneNumber, opts.defaultTenantId, opts.outside);
      const fresh = await trx
        .insertInto('history_chunks')
        .values({ phone_number_id: e.phoneNumberId, chunk_hash: e.chunkHash, phase: e.phase, chunk_order: e.chunkOrder, progress: e.progress, thread_count: e.threadCount, message_count: e.messageCount })
        .onConflict((oc) => oc.doNothing())
        .returning('chunk_hash')
        .executeTakeFirst();
      if (!fresh) return;
      outcome.historyChunks += 1;
      await trx
        .updateTable('sync_state')
        .set({
          history_progress: sql`greatest(history_progress, ${e.progress})`,
          history_chunks: sql`history_chunks + 1`,
          history_messages: sql`history_messages + ${e.messageCount}`,
          history_status: sql`case when history_status = 'complete' or ${e.progress} >= 100 then 'complete' else 'in_progress' end`,
          history_completed_at: sql`case when ${e.progress} >= 100 then coalesce(history_completed_at, now()) else history_completed_at end`,
          updated_at: sql`now()`,
        })
        .where('phone_number_id', '=', e.phoneNumberId)
        .execute();
      return;
    }
    case 'history_declined': {
      await ensureNumber(trx, e.phoneNumberId, null, opts.defaultTenantId);
      await trx
        .updateTable('sync_state')
        .set({ history_status: 'declined', history_error: json(e.errors), updated_at: sql`now()` })
        .where('phone_number_id', '=', e.phoneNumberId)
        .execute();
      return;
    }
    case 'contact_sync': {
      const tenantId = await ensureNumber(trx, e.phoneNumberId, null, opts.defaultTenantId);
      // An old BSUID (user_changed_user_id) resolves to the customer's current one.
      const [identity] = (await followUserIdChanges(trx, e.phoneNumberId, [{ waId: e.waId, userId: e.userId, username: e.username, countryCode: null, profileName: null }])) as [ContactIdentity];
      const contactKey = (await resolveContactKeys(trx, e.phoneNumberId, [identity])).get(contactKeyOf(identity)) ?? contactKeyOf(identity);
      const at = e.timestamp ?? new Date();
      const isAdd = e.action === 'add';
      await trx
        .insertInto('contacts')
        .values({
          tenant_id: tenantId,
          phone_number_id: e.phoneNumberId,
          contact_key: contactKey,
          wa_id: e.waId,
          user_id: identity.userId,
          username: e.username,
          phone_book_name: isAdd ? e.fullName : null,
          phone_book_first_name: isAdd ? e.firstName : null,
          phone_book_removed_at: isAdd ? null : at,
          phone_book_updated_at: at,
        })
        .onConflict((oc) =>
          oc
            .columns(['phone_number_id', 'contact_key'])
            .doUpdateSet(
              isAdd
                ? {
                    phone_book_name: sql`coalesce(excluded.phone_book_name, contacts.phone_book_name)`,
                    phone_book_first_name: sql`coalesce(excluded.phone_book_first_name, contacts.phone_book_first_name)`,
                    phone_book_removed_at: null,
                    phone_book_updated_at: sql`excluded.phone_book_updated_at`,
                    user_id: sql`coalesce(excluded.user_id, contacts.user_id)`,
                    updated_at: sql`now()`,
                  }
                : { phone_book_removed_at: sql`excluded.phone_book_removed_at`, phone_book_updated_at: sql`excluded.phone_book_updated_at`, updated_at: sql`now()` },
            )
            // Out-of-order sync items: an older change never overwrites a newer one.
            .where(sql<boolean>`contacts.phone_book_updated_at is null or contacts.phone_book_updated_at <= excluded.phone_book_updated_at`),
        )
        .execute();
      await trx
        .updateTable('sync_state')
        .set({
          contacts_status: 'receiving',
          contacts_count: sql`contacts_count + ${isAdd ? 1 : 0}`,
          contacts_last_at: sql`greatest(contacts_last_at, ${at})`,
          updated_at: sql`now()`,
        })
        .where('phone_number_id', '=', e.phoneNumberId)
        .execute();
      outcome.contactsSynced += 1;
      return;
    }
    case 'account_update':
      return applyAccountUpdate(trx, e, outcome);
    case 'marketing_preference':
      return applyMarketingPreference(trx, e, opts, outcome);
    case 'user_id_change': {
      const tenantId = await ensureNumber(trx, e.phoneNumberId, e.displayPhoneNumber, opts.defaultTenantId);
      const kept = await applyUserIdChange(trx, e);
      // No contact yet: create it under the new id (the system message's own thread).
      if (!kept) await upsertContacts(trx, tenantId, e.phoneNumberId, [{ waId: e.waId, userId: e.newUserId, username: null, countryCode: null, profileName: null }]);
      outcome.contactsSynced += 1;
      return;
    }
    case 'handover': {
      const tenantId = await ensureNumber(trx, e.phoneNumberId, e.displayPhoneNumber, opts.defaultTenantId);
      const contacts = await upsertContacts(trx, tenantId, e.phoneNumberId, [e.contact]);
      const threads = await upsertThreads(trx, tenantId, e.phoneNumberId, [...contacts.values()]);
      for (const threadId of threads.values()) await setControl(trx, threadId, e.holder, e.timestamp ?? new Date(), e.appId);
      return;
    }
    case 'unknown': {
      await trx
        .insertInto('unknown_events')
        .values({ inbox_id: opts.inboxIdOf?.(e) ?? opts.inboxId ?? null, phone_number_id: e.phoneNumberId, field: e.field, detail: e.detail, payload: json(e.raw) })
        .execute();
      outcome.unknown += 1;
      return;
    }
  }
}

/** What an account_update event means for sending. Unknown events leave the status alone. */
export function connectionStatusFor(event: string): string | null {
  switch (event) {
    case 'PARTNER_REMOVED':
      return 'disconnected';
    case 'ACCOUNT_OFFBOARDED':
      return 'offboarded';
    case 'ACCOUNT_RECONNECTED':
      return 'connected';
    case 'ACCOUNT_DELETED':
    case 'PARTNER_APP_UNINSTALLED':
      return 'deleted';
    case 'ACCOUNT_RESTRICTION':
      return 'restricted';
    default:
      return null;
  }
}

/**
 * What an account_update does to sending (see docs/decisions/account-ban-states.md):
 * - DISABLED_UPDATE follows `ban_info.waba_ban_state`: SCHEDULE_FOR_DISABLE warns (with Meta's date)
 *   and keeps sending; DISABLE stops sending ('disabled'); REINSTATE sends again — but only a number
 *   that was stopped by a ban, never one disconnected for another reason.
 * - ACCOUNT_VIOLATION is a policy notice: recorded and warned about, sending goes on, unless the
 *   payload also carries a restriction (`restriction_info`), which restricts the number.
 * - Everything else: connectionStatusFor(event).
 */
export interface AccountEffect {
  /** New connection status, or null to leave it. */
  status: string | null;
  /** Only numbers in one of these statuses change (REINSTATE must not reconnect a disconnected number). */
  onlyFrom: string[] | null;
  reason: string | null;
  /** A warning to show (string), to clear (null), or to leave as it is (undefined). */
  warning: string | null | undefined;
  effect: 'stopped_sending' | 'resumed_sending' | 'warning' | 'none';
  detail: string | null;
  /**
   * Business-initiated messaging (templates, campaigns) held until then — an ISO time, or 'infinity'
   * when Meta gave no end — null to lift it, absent to leave it as it is.
   */
  templatesBlockedUntil?: string | null;
}

/** Statuses a ban (or the old reading of DISABLED_UPDATE / ACCOUNT_VIOLATION) left a number in. */
const BANNED_STATUSES = ['disabled'];
const LEGACY_BAN_REASONS = ['DISABLED_UPDATE', 'ACCOUNT_VIOLATION'];

function restrictionsInWords(n: AccountNotice): string | null {
  if (n.restrictions.length === 0) return null;
  return n.restrictions.map((r) => `${r.type ?? 'restriction'}${r.expiration ? ` until ${r.expiration}` : ''}`).join(', ');
}

/** The account may not add phone numbers: messaging is left alone. */
const ADD_NUMBERS_RESTRICTED = 'RESTRICTED_ADD_PHONE_NUMBER_ACTION';
/** The business may not start conversations (templates); replies inside the 24-hour window go on. */
const BUSINESS_INITIATED_RESTRICTED = 'RESTRICTED_BIZ_INITIATED_MESSAGING';

/**
 * What a set of restrictions does to sending: nothing (only adding numbers), hold business-initiated
 * messages until the latest such restriction ends, or stop everything — customer-initiated messaging
 * restricted, a restriction without a type, or one Meta adds later. Null when there is none.
 */
function restrictionScope(n: AccountNotice): { kind: 'not_messaging' } | { kind: 'business_initiated'; until: string } | { kind: 'all' } | null {
  if (n.restrictions.length === 0) return null;
  const typeOf = (r: AccountNotice['restrictions'][number]) => r.type?.toUpperCase() ?? null;
  if (n.restrictions.some((r) => typeOf(r) !== ADD_NUMBERS_RESTRICTED && typeOf(r) !== BUSINESS_INITIATED_RESTRICTED)) return { kind: 'all' };
  const business = n.restrictions.filter((r) => typeOf(r) === BUSINESS_INITIATED_RESTRICTED);
  if (business.length === 0) return { kind: 'not_messaging' };
  // Meta sends ISO times ("2026-04-19T13:59:20+0000") or unix seconds; no end, or one not understood, holds until lifted.
  const ends = business.map((r) => (r.expiration === null ? Number.NaN : /^\d+$/.test(r.expiration) ? Number(r.expiration) * 1000 : Date.parse(r.expiration)));
  return { kind: 'business_initiated', until: ends.some((t) => Number.isNaN(t)) ? 'infinity' : new Date(Math.max(...ends)).toISOString() };
}

const heldUntil = (until: string): string => (until === 'infinity' ? 'until Meta lifts it' : `until ${until}`);

export function accountEffectOf(event: string, reason: string | null, notice: AccountNotice): AccountEffect {
  if (event === 'DISABLED_UPDATE') {
    const state = notice.banState?.toUpperCase() ?? null;
    const date = notice.banDate;
    switch (state) {
      case 'SCHEDULE_FOR_DISABLE':
        return { status: null, onlyFrom: null, reason: null, warning: `Meta scheduled this WhatsApp Business Account to be disabled${date ? ` on ${date}` : ''}: sending continues until then; review the account's policy status in WhatsApp Manager.`, effect: 'warning', detail: `SCHEDULE_FOR_DISABLE${date ? ` (${date})` : ''}` };
      case 'DISABLE':
        return { status: 'disabled', onlyFrom: null, reason: `DISABLED_UPDATE: account disabled by Meta${date ? ` (${date})` : ''}`, warning: null, effect: 'stopped_sending', detail: `DISABLE${date ? ` (${date})` : ''}` };
      case 'REINSTATE':
        return { status: 'connected', onlyFrom: BANNED_STATUSES, reason: `DISABLED_UPDATE: account reinstated by Meta${date ? ` (${date})` : ''}`, warning: null, effect: 'resumed_sending', detail: `REINSTATE${date ? ` (${date})` : ''}` };
      default:
        return { status: null, onlyFrom: null, reason: null, warning: `Meta sent an account update (DISABLED_UPDATE) with ban state ${state ?? 'missing'}: check the account in WhatsApp Manager.`, effect: 'warning', detail: state };
    }
  }
  if (event === 'ACCOUNT_VIOLATION') {
    const type = notice.violationType ?? 'unspecified';
    const restricted = restrictionsInWords(notice);
    const scope = restrictionScope(notice);
    if (restricted && scope?.kind === 'not_messaging') {
      return { status: null, onlyFrom: null, reason: null, warning: `Policy violation reported by Meta (${type}); the account is restricted (${restricted}), not its messaging: sending continues.`, effect: 'warning', detail: `${type}; ${restricted}` };
    }
    if (restricted && scope?.kind === 'business_initiated') {
      return {
        status: null,
        onlyFrom: null,
        reason: null,
        warning: `Policy violation reported by Meta (${type}); business-initiated messaging is restricted (${restricted}): templates and campaigns are held ${heldUntil(scope.until)}, replies inside the 24-hour window go out.`,
        effect: 'warning',
        detail: `${type}; ${restricted}`,
        templatesBlockedUntil: scope.until,
      };
    }
    if (restricted) {
      return { status: 'restricted', onlyFrom: null, reason: `ACCOUNT_VIOLATION ${type}: ${restricted}`, warning: `Policy violation reported by Meta (${type}); the account is restricted: ${restricted}.`, effect: 'stopped_sending', detail: `${type}; ${restricted}` };
    }
    return { status: null, onlyFrom: null, reason: null, warning: `Policy violation reported by Meta (${type}): sending continues, but repeated violations can restrict or disable the account. Review it in WhatsApp Manager.`, effect: 'warning', detail: type };
  }
  const restricted = event === 'ACCOUNT_RESTRICTION' ? restrictionsInWords(notice) : null;
  const scope = event === 'ACCOUNT_RESTRICTION' ? restrictionScope(notice) : null;
  if (restricted && scope?.kind === 'not_messaging') {
    // Adding phone numbers is restricted, not messaging: stopping every send (the AI agent's replies,
    // the owner's answers from CoEx) would silence the business for a restriction that is not on it.
    return { status: null, onlyFrom: null, reason: null, warning: `Meta restricted this WhatsApp Business Account (${restricted}), not its messaging: sending continues.`, effect: 'warning', detail: restricted };
  }
  if (restricted && scope?.kind === 'business_initiated') {
    // Conversations the business starts are held; the customers who write keep getting answers.
    return {
      status: null,
      onlyFrom: null,
      reason: null,
      warning: `Meta restricted business-initiated messaging (${restricted}): templates and campaigns are held ${heldUntil(scope.until)}; replies inside the 24-hour window go out.`,
      effect: 'warning',
      detail: restricted,
      templatesBlockedUntil: scope.until,
    };
  }
  const status = connectionStatusFor(event);
  return {
    status,
    onlyFrom: null,
    reason: restricted ? `ACCOUNT_RESTRICTION: ${restricted}` : (reason ?? event),
    // Reconnection clears what the number was warned about before, and lifts a hold on templates;
    // other events leave both.
    warning: event === 'ACCOUNT_RECONNECTED' ? null : undefined,
    ...(event === 'ACCOUNT_RECONNECTED' ? { templatesBlockedUntil: null } : {}),
    effect: status === null ? 'none' : status === 'connected' ? 'resumed_sending' : 'stopped_sending',
    detail: restricted ?? reason,
  };
}

async function applyAccountUpdate(trx: Trx, e: Extract<DomainEvent, { kind: 'account_update' }>, outcome: ApplyOutcome): Promise<void> {
  const numbers = await trx
    .selectFrom('whatsapp_numbers')
    .select(['phone_number_id', 'display_phone_number', 'waba_id', 'connection_status', 'connection_reason'])
    .where((eb) => eb.or([eb('waba_id', '=', e.wabaId), ...(e.displayPhoneNumber ? [eb('display_phone_number', '=', e.displayPhoneNumber)] : [])]))
    .execute();
  const targets = e.displayPhoneNumber ? numbers.filter((n) => n.display_phone_number === e.displayPhoneNumber) : numbers;
  const fx = accountEffectOf(e.event, e.reason, e.notice);
  for (const n of targets) {
    // A number restricted by the former reading of DISABLED_UPDATE / ACCOUNT_VIOLATION counts as banned.
    const banned = BANNED_STATUSES.includes(n.connection_status) || (n.connection_status === 'restricted' && LEGACY_BAN_REASONS.includes(n.connection_reason ?? ''));
    const statusApplies = fx.status !== null && (fx.onlyFrom === null || banned);
    if (!statusApplies && fx.warning === undefined && fx.templatesBlockedUntil === undefined) continue;
    await trx
      .updateTable('whatsapp_numbers')
      .set({
        ...(statusApplies ? { connection_status: fx.status!, connection_reason: fx.reason, connection_changed_at: sql`now()` } : {}),
        ...(fx.warning !== undefined ? { account_warning: fx.warning, account_warning_at: fx.warning === null ? null : sql`now()` } : {}),
        ...(fx.templatesBlockedUntil !== undefined ? { business_initiated_blocked_until: fx.templatesBlockedUntil === null ? null : sql`${fx.templatesBlockedUntil}::timestamptz` } : {}),
        updated_at: sql`now()`,
      })
      .where('phone_number_id', '=', n.phone_number_id)
      .execute();
  }
  await trx
    .insertInto('account_events')
    .values({
      waba_id: e.wabaId,
      phone_number_id: targets[0]?.phone_number_id ?? null,
      event: e.event,
      reason: e.reason,
      initiated_by: e.initiatedBy,
      payload: json(e.raw),
      effect: fx.effect,
      detail: fx.detail,
    })
    .execute();
  outcome.accountEvents += 1;
  if (fx.effect !== 'none') {
    for (const n of targets.length > 0 ? targets : [null]) {
      outcome.accountNotices.push({ phoneNumberId: n?.phone_number_id ?? null, wabaId: e.wabaId, event: e.event, effect: fx.effect, detail: fx.detail, warning: fx.warning ?? null });
    }
  }
}

/** Meta: "this recipient has chosen to stop receiving marketing messages on WhatsApp from your business". */
const MARKETING_STOPPED_CODE = 131050;

/**
 * A failed status with 131050, whatever sent the message (campaign, API, CRM): the customer stopped
 * marketing in WhatsApp — the same signal as a `user_preferences` stop, dated by the status.
 */
async function recordMarketingRefusal(trx: Trx, e: Extract<DomainEvent, { kind: 'status' }>, outcome: ApplyOutcome): Promise<void> {
  const number = await trx.selectFrom('whatsapp_numbers').select('tenant_id').where('phone_number_id', '=', e.phoneNumberId).executeTakeFirst();
  if (!number || !e.recipientWaId) return;
  await recordConsentSignal(
    trx as Kysely<Database>,
    { tenantId: number.tenant_id, phoneNumberId: e.phoneNumberId, waId: e.recipientWaId },
    { action: 'opt_out', source: '131050', signalAt: e.timestamp, detail: 'Meta 131050 (status webhook)', dedupeKey: `131050:${e.wamid}` },
    { onOptOut: async (_trx, change) => void outcome.consentChanges.push(change) },
  );
}

const PREFERENCE_ACTION = { stop: 'opt_out', resume: 'opt_in', signup: 'opt_in' } as const;

/**
 * `user_preferences`: the customer stopped or resumed marketing messages in WhatsApp (or signed up
 * through a link). Recorded in the contact's consent history with source 'whatsapp', in timestamp
 * order with the keyword opt-outs (campaigns/opt-outs.ts recordConsentSignal), idempotent per signal.
 */
async function applyMarketingPreference(trx: Trx, e: MarketingPreferenceEvent, opts: ApplyOptions, outcome: ApplyOutcome): Promise<void> {
  const tenantId = await ensureNumber(trx, e.phoneNumberId, e.displayPhoneNumber, opts.defaultTenantId);
  const contactIds = await upsertContacts(trx, tenantId, e.phoneNumberId, [e.contact]);
  const contactId = contactIds.get(contactKeyOf(e.contact));
  const contact = contactId ? await trx.selectFrom('contacts').select('wa_id').where('id', '=', contactId).executeTakeFirst() : undefined;
  if (!contact?.wa_id) {
    // Opt-outs are kept per phone (wa_id), which campaigns send to; a BSUID-only user cannot be matched yet.
    await trx
      .insertInto('unknown_events')
      .values({ inbox_id: opts.inboxIdOf?.(e) ?? opts.inboxId ?? null, phone_number_id: e.phoneNumberId, field: 'user_preferences', detail: `marketing preference '${e.value}' for a user known only by user id ${e.contact.userId ?? '?'}: no phone number to apply it to`, payload: json(e.raw) })
      .execute();
    outcome.unknown += 1;
    return;
  }
  const who = { tenantId, phoneNumberId: e.phoneNumberId, waId: contact.wa_id };
  const detail = e.value === 'signup' ? `signed up${e.signupId ? ` (signup ${e.signupId})` : ''}${e.detail ? `: ${e.detail}` : ''}` : (e.detail ?? null);
  await recordConsentSignal(
    trx as Kysely<Database>,
    who,
    {
      action: PREFERENCE_ACTION[e.value],
      source: 'whatsapp',
      signalAt: e.timestamp,
      detail: e.value === 'signup' ? detail : `${e.value}${detail ? `: ${detail}` : ''}`,
      dedupeKey: `user_preferences:${contact.wa_id}:${e.value}:${e.timestamp.getTime() / 1000}${e.signupId ? `:${e.signupId}` : ''}`,
    },
    { onOptOut: async (_trx, change) => void outcome.consentChanges.push(change) },
  );
}

/**
 * Applies a stream of events in their order, a statement's worth of messages at a time, while the
 * caller prepares the next ones: parsing the next delivery overlaps the database writing the previous
 * one. (Applying after parsing everything left the database idle while a batch of history chunks was
 * parsed, and the process idle while it was written: one number is one lane, so the two took turns.)
 * Slices are written one after the other on the caller's transaction, never two at once.
 */
export class EventStreamApplier {
  private pending: DomainEvent[] = [];
  private pendingMessages = 0;
  private writing: Promise<void> = Promise.resolve();
  /** Resolves when the slice being written has sent its (first) messages INSERT. */
  private bulkSent: Promise<void> = Promise.resolve();
  private onBulkWrite: () => void = () => undefined;
  private readonly outcome = emptyOutcome();
  private readonly opts: ApplyOptions;

  constructor(
    private readonly trx: Trx,
    opts: ApplyOptions,
  ) {
    this.opts = { ...opts, onBulkWrite: () => this.onBulkWrite() };
  }

  /**
   * Queues events; once a statement's worth of messages waits, starts writing everything queued
   * (after the slice being written) and returns when its messages INSERT is on its way — the
   * statement the database takes longest over, during which the caller can parse the next delivery
   * (returning earlier, the caller's parsing held up the few short statements before it). Rejects
   * with the error of a slice that failed.
   */
  async add(events: DomainEvent[]): Promise<void> {
    for (const e of events) {
      this.pending.push(e);
      if (e.kind === 'message') this.pendingMessages += 1;
    }
    if (this.pendingMessages < MESSAGE_BATCH) return;
    await this.writing;
    this.writeQueued();
    await Promise.race([this.bulkSent, this.writing]);
    // The driver writes the statement to the socket in the microtasks after it was handed over.
    await new Promise<void>((resolve) => setImmediate(resolve));
  }

  /** Writes what is left and resolves with the outcome of every event added. */
  async finish(): Promise<ApplyOutcome> {
    await this.writing;
    if (this.pending.length > 0) {
      this.writeQueued();
      await this.writing;
    }
    return this.outcome;
  }

  private writeQueued(): void {
    const slice = this.pending;
    this.pending = [];
    this.pendingMessages = 0;
    this.bulkSent = new Promise<void>((resolve) => (this.onBulkWrite = resolve));
    // Its failure is observed right away (add's race, finish's await), then again by the next call.
    this.writing = applyEvents(this.trx, slice, this.opts).then((o) => void mergeOutcome(this.outcome, o));
  }
}

/**
 * Applies the events of deliveries in order. Consecutive message events are written as a batch (a
 * history chunk holds thousands; a worker's batch holds many numbers' messages), everything else one
 * by one, in delivery order.
 */
export async function applyEvents(trx: Trx, events: DomainEvent[], opts: ApplyOptions): Promise<ApplyOutcome> {
  const outcome = emptyOutcome();
  let batch: MessageEvent[] = [];
  let statuses: StatusEvent[] = [];
  const flush = async (): Promise<void> => {
    // Bounded statements: PostgreSQL takes at most 65,535 parameters per statement.
    for (let i = 0; i < batch.length; i += MESSAGE_BATCH) await applyMessages(trx, batch.slice(i, i + MESSAGE_BATCH), opts, outcome);
    batch = [];
    for (let i = 0; i < statuses.length; i += MESSAGE_BATCH) await applyStatuses(trx, statuses.slice(i, i + MESSAGE_BATCH), outcome);
    statuses = [];
  };
  for (const e of events) {
    // Messages and statuses merge in any order by design (a status waits for its message and is
    // folded in when it comes), so consecutive runs of them are written as multi-row statements.
    if (e.kind === 'message') {
      if (statuses.length) await flush();
      batch.push(e);
      continue;
    }
    if (e.kind === 'status') {
      if (batch.length) await flush();
      statuses.push(e);
      continue;
    }
    await flush();
    await applyEvent(trx, e, opts, outcome);
  }
  await flush();
  return outcome;
}
