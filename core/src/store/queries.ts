import { sql, type Kysely } from 'kysely';
import type { Database, MessageRow } from '../db/schema.js';

/** Read models of the public API. Every query takes the caller's tenant scope. */

/** null = every tenant (the admin token); otherwise the one tenant the caller belongs to. */
export type TenantScope = string | null;

export interface ThreadView {
  id: string;
  tenant_id: string;
  phone_number_id: string;
  wa_id: string | null;
  user_id: string | null;
  contact_name: string | null;
  profile_name: string | null;
  phone_book_name: string | null;
  bot: { state: string; paused_until: string | null; version: number };
  /**
   * Who answers the customer under Meta's Conversation Routing: CoEx (`coex`), Meta's own agent
   * (`meta_agent`) or another app (`other_app`, with its app id when Meta names it). While it is not
   * `coex`, CoEx's agent stays silent.
   */
  control: { holder: string; app_id: string | null; since: string | null };
  last_message_at: string | null;
  last_customer_message_at: string | null;
}

export interface MessageView {
  id: string;
  wamid: string;
  direction: 'inbound' | 'outbound';
  origin: string;
  type: string;
  text: string | null;
  timestamp: string;
  status: string | null;
  transcript: string | null;
  transcript_state: string | null;
  context_wamid: string | null;
  edited_at: string | null;
  revoked: boolean;
  media: { id: string | null; mime_type: string | null; state: string | null; voice: boolean } | null;
  error: unknown;
  /** Received on the `standby` field: another handler (Meta's agent, another app) owned the thread. */
  standby: boolean;
  /** Echoes: Meta's `message_creation_type` (e.g. `user`, `created_by_1p_bot`), null when absent. */
  creation_type: string | null;
}

const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);

export function threadSelect(db: Kysely<Database>) {
  return db
    .selectFrom('threads')
    .innerJoin('contacts', 'contacts.id', 'threads.contact_id')
    .select([
      'threads.id',
      'threads.tenant_id',
      'threads.phone_number_id',
      'threads.bot_state',
      'threads.bot_paused_until',
      'threads.bot_version',
      'threads.last_message_at',
      'threads.last_customer_message_at',
      'threads.control_holder',
      'threads.control_app_id',
      'threads.control_event_at',
      'contacts.wa_id',
      'contacts.user_id',
      'contacts.profile_name',
      'contacts.phone_book_name',
      'contacts.phone_book_removed_at',
    ]);
}

type ThreadRowView = Awaited<ReturnType<ReturnType<typeof threadSelect>['execute']>>[number];

export function toThreadView(r: ThreadRowView): ThreadView {
  const phoneBook = r.phone_book_removed_at ? null : r.phone_book_name;
  return {
    id: r.id,
    tenant_id: r.tenant_id,
    phone_number_id: r.phone_number_id,
    wa_id: r.wa_id,
    user_id: r.user_id,
    contact_name: phoneBook ?? r.profile_name ?? r.wa_id,
    profile_name: r.profile_name,
    phone_book_name: phoneBook,
    bot: { state: r.bot_state, paused_until: iso(r.bot_paused_until), version: Number(r.bot_version) },
    control: { holder: r.control_holder, app_id: r.control_app_id, since: iso(r.control_event_at) },
    last_message_at: iso(r.last_message_at),
    last_customer_message_at: iso(r.last_customer_message_at),
  };
}

export async function listThreads(
  db: Kysely<Database>,
  scope: TenantScope,
  filter: { phoneNumberId?: string | undefined; waId?: string | undefined; userId?: string | undefined; limit?: number | undefined },
): Promise<ThreadView[]> {
  let q = threadSelect(db);
  if (scope !== null) q = q.where('threads.tenant_id', '=', scope);
  if (filter.phoneNumberId) q = q.where('threads.phone_number_id', '=', filter.phoneNumberId);
  if (filter.waId) q = q.where('contacts.wa_id', '=', filter.waId.replace(/\D/g, ''));
  // Customers known only by a business-scoped user id (WhatsApp username) have no wa_id.
  if (filter.userId) q = q.where('contacts.user_id', '=', filter.userId);
  const rows = await q
    .orderBy(sql`threads.last_message_at desc nulls last`)
    .orderBy('threads.id')
    .limit(Math.min(filter.limit ?? 100, 500))
    .execute();
  return rows.map(toThreadView);
}

export async function getThread(db: Kysely<Database>, scope: TenantScope, threadId: string): Promise<ThreadView | null> {
  if (!isUuid(threadId)) return null;
  let q = threadSelect(db).where('threads.id', '=', threadId);
  if (scope !== null) q = q.where('threads.tenant_id', '=', scope);
  const row = await q.executeTakeFirst();
  return row ? toThreadView(row) : null;
}

/**
 * A thread's messages oldest first: the first `limit` of them, or with `latest` the most recent
 * `latest` (what a CRM card shows).
 */
export async function listMessages(db: Kysely<Database>, scope: TenantScope, threadId: string, limit = 1000, options: { latest?: number } = {}): Promise<MessageView[] | null> {
  const thread = await getThread(db, scope, threadId);
  if (!thread) return null;
  const newestFirst = options.latest !== undefined;
  const found = await db
    .selectFrom('messages')
    .selectAll()
    .where('thread_id', '=', threadId)
    .where('tenant_id', '=', thread.tenant_id)
    .orderBy('provider_timestamp', newestFirst ? 'desc' : 'asc')
    .orderBy('created_at', newestFirst ? 'desc' : 'asc')
    .limit(Math.min(options.latest ?? limit, 5000))
    .execute();
  const rows = newestFirst ? found.reverse() : found;
  return rows.map(toMessageView);
}

export function toMessageView(m: MessageRow): MessageView {
  return {
    id: m.id,
    wamid: m.wamid,
    direction: m.direction,
    origin: m.origin,
    type: m.type,
    text: m.revoked_at ? null : m.text,
    timestamp: m.provider_timestamp.toISOString(),
    status: m.status,
    transcript: m.revoked_at ? null : m.transcript,
    transcript_state: m.transcript_state,
    context_wamid: m.context_wamid,
    edited_at: iso(m.edited_at),
    revoked: m.revoked_at !== null,
    media: m.media_id || m.type === 'media_placeholder' ? { id: m.media_id, mime_type: m.media_mime, state: m.media_state, voice: m.media_voice } : null,
    error: m.error,
    standby: m.standby,
    creation_type: m.creation_type,
  };
}

export async function getSyncState(db: Kysely<Database>, scope: TenantScope, phoneNumberId: string) {
  let q = db
    .selectFrom('whatsapp_numbers')
    .leftJoin('sync_state', 'sync_state.phone_number_id', 'whatsapp_numbers.phone_number_id')
    .selectAll('sync_state')
    .select([
      'whatsapp_numbers.phone_number_id as number_id',
      'whatsapp_numbers.tenant_id',
      'whatsapp_numbers.display_phone_number',
      'whatsapp_numbers.connection_status',
      'whatsapp_numbers.connection_reason',
      'whatsapp_numbers.connection_changed_at',
      'whatsapp_numbers.account_warning',
      'whatsapp_numbers.account_warning_at',
      'whatsapp_numbers.last_echo_at',
    ])
    .where('whatsapp_numbers.phone_number_id', '=', phoneNumberId);
  if (scope !== null) q = q.where('whatsapp_numbers.tenant_id', '=', scope);
  const r = await q.executeTakeFirst();
  if (!r) return null;
  const chunks = await db
    .selectFrom('history_chunks')
    .select(['phase', (eb) => eb.fn.countAll<string>().as('chunks'), (eb) => eb.fn.sum<string>('message_count').as('messages')])
    .where('phone_number_id', '=', phoneNumberId)
    .groupBy('phase')
    .orderBy('phase')
    .execute();
  return {
    phone_number_id: r.number_id,
    display_phone_number: r.display_phone_number,
    connection: {
      status: r.connection_status,
      reason: r.connection_reason,
      changed_at: iso(r.connection_changed_at),
      warning: r.account_warning,
      warning_at: iso(r.account_warning_at),
      last_app_activity_at: iso(r.last_echo_at),
    },
    history: {
      status: r.history_status ?? 'not_requested',
      progress: r.history_progress ?? 0,
      chunks: r.history_chunks ?? 0,
      messages: r.history_messages ?? 0,
      phases: chunks.map((c) => ({ phase: c.phase, chunks: Number(c.chunks), messages: Number(c.messages ?? 0) })),
      request_id: r.history_request_id ?? null,
      requested_at: iso(r.history_requested_at ?? null),
      completed_at: iso(r.history_completed_at ?? null),
      error: r.history_error ?? null,
    },
    contacts: {
      status: r.contacts_status ?? 'not_requested',
      count: r.contacts_count ?? 0,
      request_id: r.contacts_request_id ?? null,
      requested_at: iso(r.contacts_requested_at ?? null),
      last_at: iso(r.contacts_last_at ?? null),
    },
  };
}

/**
 * When Meta's hold on the messaging a business starts ends (`business_initiated_blocked_until` of the
 * numbers table, or of its alias `table`), as epoch seconds: Infinity when Meta gave no end, null when
 * there is no hold. Read with templatesHold.
 */
export const templatesHeldUntilOf = (table: string) =>
  sql<number | null>`extract(epoch from ${sql.ref(`${table}.business_initiated_blocked_until`)})::float8`.as('templates_held_until');
export const templatesHeldUntil = templatesHeldUntilOf('whatsapp_numbers');

/** The hold still in force at `now`, with its end (null: no end given); null when none is. */
export function templatesHold(heldUntilEpoch: number | null, now: Date): { until: string | null } | null {
  if (heldUntilEpoch === null || heldUntilEpoch * 1000 <= now.getTime()) return null;
  return { until: Number.isFinite(heldUntilEpoch) ? new Date(heldUntilEpoch * 1000).toISOString() : null };
}

/**
 * A number's account state and every account_update Meta sent about it (ban states, violations,
 * restrictions, disconnections), newest first, each with what CoEx did and when.
 */
export async function getAccountState(db: Kysely<Database>, scope: TenantScope, phoneNumberId: string, limit = 50) {
  let q = db
    .selectFrom('whatsapp_numbers')
    .select([
      'phone_number_id',
      'waba_id',
      'display_phone_number',
      'connection_status',
      'connection_reason',
      'connection_changed_at',
      'account_warning',
      'account_warning_at',
      templatesHeldUntil,
    ])
    .where('phone_number_id', '=', phoneNumberId);
  if (scope !== null) q = q.where('tenant_id', '=', scope);
  const n = await q.executeTakeFirst();
  if (!n) return null;
  const events = await db
    .selectFrom('account_events')
    .select(['id', 'event', 'reason', 'initiated_by', 'effect', 'detail', 'received_at'])
    .where((eb) => eb.or([eb('phone_number_id', '=', phoneNumberId), ...(n.waba_id ? [eb.and([eb('waba_id', '=', n.waba_id), eb('phone_number_id', 'is', null)])] : [])]))
    .orderBy('id', 'desc')
    .limit(limit)
    .execute();
  return {
    phone_number_id: n.phone_number_id,
    waba_id: n.waba_id,
    display_phone_number: n.display_phone_number,
    /** Sending works only while `connected`. */
    sending: n.connection_status === 'connected',
    connection: { status: n.connection_status, reason: n.connection_reason, changed_at: iso(n.connection_changed_at) },
    warning: n.account_warning ? { text: n.account_warning, at: iso(n.account_warning_at) } : null,
    /**
     * Meta restricted the messaging the business starts: templates and campaigns are held until `until`
     * (null: no end given); replies inside the 24-hour window still go out. Null when nothing is held.
     */
    templates_held: templatesHold(n.templates_held_until, new Date()),
    events: events.map((e) => ({ event: e.event, effect: e.effect ?? 'none', detail: e.detail, reason: e.reason, initiated_by: e.initiated_by, at: iso(e.received_at) })),
  };
}

export type AccountState = NonNullable<Awaited<ReturnType<typeof getAccountState>>>;

/** The account state as the CLI prints it (`coex account <phone_number_id>`): warnings first, then the history. */
export function accountStateLines(a: AccountState): string[] {
  const lines = [
    `${a.display_phone_number ?? a.phone_number_id}: ${a.sending ? 'sending' : 'NOT SENDING'} (${a.connection.status}${a.connection.reason ? `: ${a.connection.reason}` : ''}${a.connection.changed_at ? `, since ${a.connection.changed_at}` : ''})`,
  ];
  if (a.templates_held) lines.push(`templates and campaigns held ${a.templates_held.until ? `until ${a.templates_held.until}` : 'until Meta lifts the restriction'} (replies inside the 24-hour window go out)`);
  if (a.warning) lines.push(`warning (${a.warning.at ?? 'time unknown'}): ${a.warning.text}`);
  for (const e of a.events) lines.push(`${e.at ?? '?'}\t${e.event}\t${e.effect}${e.detail ? `\t${e.detail}` : ''}`);
  return lines;
}

export function isUuid(s: string): boolean {
  return /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(s);
}
