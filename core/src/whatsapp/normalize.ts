import { createHash } from 'node:crypto';
import type { z } from 'zod';
import {
  accountUpdateValueSchema,
  echoesValueSchema,
  historyValueSchema,
  messagesValueSchema,
  stateSyncValueSchema,
  userPreferencesValueSchema,
  type WaMessage,
  type WaStatus,
  type WebhookEnvelope,
  type GraphErrorPayload,
  profileContactSchema,
  GRAPH_ID,
} from './schemas.js';
import { normalizeHandover, normalizeStandby, userIdChangeEvents, type ControlHolder } from './routing.js';

/**
 * Turns parsed webhook payloads into a small set of domain events the store applies. Nothing here
 * touches the database; nothing here throws on unknown input: what cannot be understood becomes an
 * `unknown` event that is stored and reported.
 */

export type MessageOrigin = 'customer' | 'app' | 'api' | 'agent' | 'history';
export type Direction = 'inbound' | 'outbound';

export interface ContactIdentity {
  /** Digits without '+', may be null for BSUID-only users. */
  waId: string | null;
  userId: string | null;
  username: string | null;
  countryCode: string | null;
  profileName: string | null;
}

export interface MediaRef {
  id: string | null;
  mimeType: string | null;
  sha256: string | null;
  filename: string | null;
  voice: boolean;
}

export interface NormalizedMessage {
  wamid: string;
  type: string;
  text: string | null;
  timestamp: Date;
  contextWamid: string | null;
  media: MediaRef | null;
  /** History only: the device's delivery state at sync time. */
  historyStatus: string | null;
  errors: GraphErrorPayload[] | null;
  /** As parsed (timestamps as Dates): what CoEx reads. */
  raw: WaMessage;
  /**
   * As received (plain JSON, text made storable): what is stored as the message's payload. The
   * parsed form holds Dates, and stringifying them was most of the time a history chunk's payloads
   * took to write; it also stored timestamps other than Meta's.
   */
  payload: unknown;
}

export type DomainEvent =
  | {
      kind: 'message';
      phoneNumberId: string;
      displayPhoneNumber: string;
      direction: Direction;
      origin: MessageOrigin;
      /** True for live traffic (may trigger the agent, opens the window when from the customer). */
      live: boolean;
      contact: ContactIdentity;
      message: NormalizedMessage;
      /** Received on the `standby` field: another handler owned the thread (routing.ts). */
      standby?: boolean;
    }
  | {
      kind: 'mutation';
      phoneNumberId: string;
      displayPhoneNumber: string;
      mutation: 'edit' | 'revoke';
      direction: Direction;
      origin: MessageOrigin;
      contact: ContactIdentity;
      wamid: string;
      targetWamid: string;
      timestamp: Date;
      newText: string | null;
      raw: WaMessage;
      /** As received (see NormalizedMessage.payload). */
      payload: unknown;
    }
  | {
      kind: 'status';
      phoneNumberId: string;
      wamid: string;
      status: string;
      timestamp: Date;
      recipientWaId: string | null;
      recipientUserId: string | null;
      errors: GraphErrorPayload[] | null;
      pricing: Record<string, unknown> | null;
      raw: WaStatus;
      /** As received (see NormalizedMessage.payload). */
      payload: unknown;
    }
  | {
      kind: 'history_chunk';
      phoneNumberId: string;
      displayPhoneNumber: string;
      phase: number;
      chunkOrder: number;
      progress: number;
      chunkHash: string;
      threadCount: number;
      messageCount: number;
    }
  | { kind: 'history_declined'; phoneNumberId: string; errors: GraphErrorPayload[] }
  | {
      kind: 'contact_sync';
      phoneNumberId: string;
      action: 'add' | 'remove';
      waId: string | null;
      userId: string | null;
      username: string | null;
      fullName: string | null;
      firstName: string | null;
      timestamp: Date | null;
    }
  | {
      kind: 'account_update';
      wabaId: string;
      displayPhoneNumber: string | null;
      event: string;
      reason: string | null;
      initiatedBy: string | null;
      /** What Meta said about a ban, a policy violation or a restriction (DISABLED_UPDATE, ACCOUNT_VIOLATION, ACCOUNT_RESTRICTION). */
      notice: AccountNotice;
      raw: unknown;
    }
  | MarketingPreferenceEvent
  | {
      /** `user_changed_user_id`: the customer's BSUID changed (routing.ts, store/contact-identity.ts). */
      kind: 'user_id_change';
      phoneNumberId: string;
      displayPhoneNumber: string;
      previousUserId: string;
      newUserId: string;
      waId: string | null;
      wamid: string;
      timestamp: Date;
    }
  | {
      /** `messaging_handovers`: who answers the thread changed (routing.ts, store/thread-control.ts). */
      kind: 'handover';
      wabaId: string;
      phoneNumberId: string;
      displayPhoneNumber: string | null;
      contact: ContactIdentity;
      handover: 'control_passed' | 'control_taken';
      holder: ControlHolder;
      appId: string | null;
      timestamp: Date | null;
      raw: unknown;
    }
  | { kind: 'unknown'; phoneNumberId: string | null; field: string; detail: string; raw: unknown };

export interface AccountNotice {
  banState: string | null;
  banDate: string | null;
  violationType: string | null;
  restrictions: Array<{ type: string | null; expiration: string | null }>;
}

/** `user_preferences`: the customer's marketing-message preference, as they set it in WhatsApp. */
export interface MarketingPreferenceEvent {
  kind: 'marketing_preference';
  phoneNumberId: string;
  displayPhoneNumber: string;
  contact: ContactIdentity;
  /** `stop` | `resume` | `signup` (others are reported as unknown). */
  value: 'stop' | 'resume' | 'signup';
  detail: string | null;
  signupId: string | null;
  timestamp: Date;
  raw: unknown;
}

/** Partition of deliveries that name no usable number or WABA (still stored, reported by the worker). */
export const UNPARSED_PARTITION = 'unparsed';

/** The partition a change belongs to: its phone number id, or the WABA for account-level fields. */
export function partitionKeyOf(entryId: string, value: unknown): string {
  if (value && typeof value === 'object' && 'metadata' in value) {
    const metadata = (value as { metadata?: unknown }).metadata;
    if (metadata && typeof metadata === 'object' && 'phone_number_id' in metadata) {
      const id = (metadata as { phone_number_id?: unknown }).phone_number_id;
      // Only a well-formed id keys a partition: anything else (NUL, kilobytes of text) would fail the
      // inbox insert for every delivery committed with it.
      if (typeof id === 'string' && GRAPH_ID.test(id)) return id;
    }
  }
  // messaging_handovers name the business number as `recipient`: same partition as its messages.
  if (value && typeof value === 'object' && 'recipient' in value) {
    const recipient = (value as { recipient?: unknown }).recipient;
    if (recipient && typeof recipient === 'object' && 'phone_number_id' in recipient) {
      const id = (recipient as { phone_number_id?: unknown }).phone_number_id;
      if (typeof id === 'string' && GRAPH_ID.test(id)) return id;
    }
  }
  return GRAPH_ID.test(entryId) ? `waba:${entryId}` : UNPARSED_PARTITION;
}

/**
 * A number's history (threads of past chats, and the media that follow their placeholders) is applied
 * in this many partitions besides the number's own, by customer: a 50,000-message import was one
 * transaction in one worker lane, its PostgreSQL backend the bound (docs/decisions/history-lanes.md).
 * History merges with live traffic in any order, so it needs no order with the number's other
 * deliveries; one customer's history always lands in the same partition.
 */
export const HISTORY_LANES = 3;

/** The partition of a number's history lane `lane` (0 ≤ lane < HISTORY_LANES). */
export const historyPartition = (phoneNumberId: string, lane: number): string => `${phoneNumberId}/h${lane}`;

/**
 * A history lane's partition key (`<number>/h<lane>`), as a pattern both JavaScript and PostgreSQL's
 * `~` read alike (the inbox writer picks the NOTIFY payload with it).
 */
export const HISTORY_PARTITION_PATTERN = '^([0-9]+)/h([0-9]+)$';
const historyPartitionKey = new RegExp(HISTORY_PARTITION_PATTERN);

/** The number (or WABA / unparsed key) a partition key belongs to, and its history lane if it is one. */
export function partitionParts(partitionKey: string): { number: string; lane: number | null } {
  const match = historyPartitionKey.exec(partitionKey);
  return match ? { number: match[1]!, lane: Number(match[2]) } : { number: partitionKey, lane: null };
}

/**
 * The history lane of a customer, from the id Meta sent as received: its letters and digits only, so
 * that the acknowledgement (which splits the delivery) and the worker (which reads it after making its
 * text storable: NUL and lone surrogates replaced) always agree. FNV-1a.
 */
export function historyLaneOf(customerId: unknown): number {
  const key = typeof customerId === 'string' ? customerId : typeof customerId === 'number' ? String(customerId) : '';
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    if ((c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122)) hash = Math.imul(hash ^ c, 0x01000193);
  }
  return (hash >>> 0) % HISTORY_LANES;
}

const field = (item: unknown, key: string): unknown => (item !== null && typeof item === 'object' ? (item as Record<string, unknown>)[key] : undefined);
/** The customer of a history thread as received: its counterpart's phone, else its id, else the BSUID. */
const threadCustomer = (thread: unknown): unknown => field(field(thread, 'context'), 'wa_id') ?? field(thread, 'id') ?? field(field(thread, 'context'), 'user_id');
/** The customer of a history media follow-up as received: who sent it (`messages`) or got it (`message_echoes`). */
const followUpCustomer = (message: unknown, list: 'messages' | 'message_echoes'): unknown =>
  list === 'messages' ? (field(message, 'from') ?? field(message, 'from_user_id')) : (field(message, 'to') ?? field(message, 'to_user_id'));

/**
 * The partitions a `history` change of number `phoneNumberId` is applied in: the history lanes of its
 * customers — the first of them also takes the rest (the chunks' progress, anything unreadable) — or,
 * when no lane takes anything (a decline, an empty chunk), the number's own partition. Not the number's
 * partition beside the lanes: the first partition to apply a chunk parses all of it, and in the number's
 * partition that was seconds of an import's work in the live traffic's way (queue.ts, history lanes).
 */
function historyChangePartitions(phoneNumberId: string, value: unknown): string[] {
  const lanes = new Set<number>();
  for (const item of receivedItems(value, 'history')) for (const thread of receivedItems(item, 'threads')) lanes.add(historyLaneOf(threadCustomer(thread)));
  for (const list of ['messages', 'message_echoes'] as const) for (const m of receivedItems(value, list)) lanes.add(historyLaneOf(followUpCustomer(m, list)));
  const keys = [...lanes].sort((a, b) => a - b).map((lane) => historyPartition(phoneNumberId, lane));
  return keys.length === 0 ? [phoneNumberId] : keys;
}

/** The partitions of one change: its number's (or WABA's), or for a number's history, those above. */
function changePartitions(entryId: string, change: { field: string; value: unknown }): string[] {
  const key = partitionKeyOf(entryId, change.value);
  return change.field === 'history' && GRAPH_ID.test(key) ? historyChangePartitions(key, change.value) : [key];
}

/** Distinct partition keys of a delivery, in order of appearance. */
export function partitionKeysOf(envelope: WebhookEnvelope): string[] {
  const keys = new Set<string>();
  for (const entry of envelope.entry) {
    for (const change of entry.changes) for (const key of changePartitions(entry.id, change)) keys.add(key);
  }
  return [...keys];
}

/** The history lane each message or mutation event of a history change was made for (by its customer as received). */
const laneOfEvent = new WeakMap<DomainEvent, number>();

const digits = (s: string | null | undefined): string => (s ?? '').replace(/\D/g, '');
const orNull = <T>(v: T | undefined | null): T | null => (v === undefined ? null : v);

function describeError(issues: z.core.$ZodIssue[]): string {
  return issues
    .slice(0, 5)
    .map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`)
    .join('; ');
}

/** Text shown for a message: body, caption, title; null for media without caption. */
export function textOf(m: WaMessage): string | null {
  switch (m.type) {
    case 'text':
      return m.text?.body ?? null;
    case 'image':
    case 'video':
    case 'sticker':
      return m[m.type]?.caption ?? null;
    case 'document':
      return m.document?.caption ?? m.document?.filename ?? null;
    case 'audio':
      return null;
    case 'location': {
      const l = m.location;
      if (!l) return null;
      return [l.name, l.address].filter(Boolean).join(', ') || `${l.latitude},${l.longitude}`;
    }
    case 'contacts':
      return (m.contacts ?? []).map((c) => c.name?.formatted_name ?? c.phones?.[0]?.phone ?? '').filter(Boolean).join(', ') || null;
    case 'interactive': {
      const i = m.interactive;
      return i?.button_reply?.title ?? i?.list_reply?.title ?? i?.nfm_reply?.body ?? null;
    }
    case 'button':
      return m.button?.text ?? m.button?.payload ?? null;
    case 'reaction':
      return m.reaction?.emoji ?? '';
    case 'order': {
      const items = m.order?.product_items ?? [];
      const summary = items.map((p) => `${p.quantity}× ${p.product_retailer_id}`).join(', ');
      return m.order?.text ?? (summary ? `Order: ${summary}` : null);
    }
    case 'system':
      return m.system?.body ?? null;
    case 'unsupported':
    case 'unknown': {
      const e = m.errors?.[0];
      if (e?.code === 131060) return 'Check the WhatsApp Business App on the phone for this message.';
      return e ? `${e.title ?? e.message ?? 'Unsupported message'} (${e.code})` : 'Unsupported message';
    }
    default:
      return null;
  }
}

function mediaOf(m: WaMessage): MediaRef | null {
  const key = m.type as 'image' | 'video' | 'audio' | 'document' | 'sticker';
  if (!['image', 'video', 'audio', 'document', 'sticker'].includes(m.type)) return null;
  const media = m[key];
  if (!media) return null;
  return {
    id: orNull(media.id),
    mimeType: orNull(media.mime_type),
    sha256: orNull(media.sha256),
    filename: orNull(media.filename),
    voice: m.type === 'audio' && media.voice === true,
  };
}

function contextWamidOf(m: WaMessage): string | null {
  if (m.type === 'reaction') return m.reaction?.message_id ?? null;
  return m.context?.id ?? null;
}

export function normalizeMessage(m: WaMessage, asReceived: unknown): NormalizedMessage {
  return {
    wamid: m.id,
    type: m.type,
    text: textOf(m),
    timestamp: m.timestamp,
    contextWamid: contextWamidOf(m),
    media: mediaOf(m),
    historyStatus: m.history_context?.status ?? null,
    errors: m.errors ?? null,
    raw: m,
    payload: asReceived,
  };
}

/**
 * The items of a list of a value as received (plain JSON), in the order of its parsed list: a schema
 * parses an array item by item, so item i of one is item i of the other.
 */
export function receivedItems(value: unknown, key: string): readonly unknown[] {
  const list = value !== null && typeof value === 'object' ? (value as Record<string, unknown>)[key] : undefined;
  return Array.isArray(list) ? list : [];
}

type ProfileContact = z.infer<typeof profileContactSchema>;

export function identityOf(waId: string | null | undefined, userId: string | null | undefined, profiles: ProfileContact[] | undefined): ContactIdentity {
  return identity(waId, userId, profiles);
}

function identity(waId: string | null | undefined, userId: string | null | undefined, profiles: ProfileContact[] | undefined): ContactIdentity {
  const w = digits(waId) || null;
  const profile = profiles?.find((c) => (w && digits(c.wa_id) === w) || (userId && c.user_id === userId));
  return {
    waId: w ?? (digits(profile?.wa_id) || null),
    userId: userId ?? profile?.user_id ?? null,
    username: profile?.username ?? profile?.profile?.username ?? null,
    countryCode: profile?.country_code ?? null,
    profileName: profile?.profile?.name ?? null,
  };
}

export function messageEvents(
  phoneNumberId: string,
  displayPhoneNumber: string,
  messages: WaMessage[],
  /** The same messages as received (`receivedItems`): their payloads. */
  asReceived: readonly unknown[],
  direction: Direction,
  origin: MessageOrigin,
  live: boolean,
  contactOf: (m: WaMessage) => ContactIdentity,
): DomainEvent[] {
  const events: DomainEvent[] = [];
  for (const [index, m] of messages.entries()) {
    const contact = contactOf(m);
    if (m.type === 'edit' && m.edit) {
      const inner = m.edit.message;
      events.push({
        kind: 'mutation',
        phoneNumberId,
        displayPhoneNumber,
        mutation: 'edit',
        direction,
        origin,
        contact,
        wamid: m.id,
        targetWamid: m.edit.original_message_id,
        timestamp: m.timestamp,
        newText: inner ? (inner.text?.body ?? inner.image?.caption ?? inner.video?.caption ?? inner.document?.caption ?? null) : null,
        raw: m,
        payload: asReceived[index] ?? m,
      });
      continue;
    }
    if (m.type === 'revoke' && m.revoke) {
      events.push({
        kind: 'mutation',
        phoneNumberId,
        displayPhoneNumber,
        mutation: 'revoke',
        direction,
        origin,
        contact,
        wamid: m.id,
        targetWamid: m.revoke.original_message_id,
        timestamp: m.timestamp,
        newText: null,
        raw: m,
        payload: asReceived[index] ?? m,
      });
      continue;
    }
    events.push({ kind: 'message', phoneNumberId, displayPhoneNumber, direction, origin, live, contact, message: normalizeMessage(m, asReceived[index] ?? m) });
  }
  return events;
}

/** The status events of a change value: each parsed status with its item as received (its payload). */
export function statusEvents(phoneNumberId: string, statuses: WaStatus[], value: unknown): DomainEvent[] {
  const received = receivedItems(value, 'statuses');
  return statuses.map((s, i) => statusEvent(phoneNumberId, s, received[i] ?? s));
}

function statusEvent(phoneNumberId: string, s: WaStatus, asReceived: unknown): DomainEvent {
  return {
    kind: 'status',
    phoneNumberId,
    wamid: s.id,
    status: s.status,
    timestamp: s.timestamp,
    recipientWaId: digits(s.recipient_id) || null,
    recipientUserId: s.recipient_user_id ?? null,
    errors: s.errors ?? null,
    pricing: (s.pricing as Record<string, unknown> | undefined) ?? null,
    raw: s,
    payload: asReceived,
  };
}

export function stableHash(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('hex');
}

/** Normalizes one change of a delivery. */
export function normalizeChange(entryId: string, field: string, value: unknown): DomainEvent[] {
  const pnid = partitionKeyOf(entryId, value);
  const phoneNumberId = pnid.startsWith('waba:') ? null : pnid;
  const unknown = (detail: string): DomainEvent[] => [{ kind: 'unknown', phoneNumberId, field, detail, raw: value }];

  switch (field) {
    case 'messages': {
      const parsed = messagesValueSchema.safeParse(value);
      if (!parsed.success) return unknown(`invalid messages payload: ${describeError(parsed.error.issues)}`);
      const v = parsed.data;
      const id = v.metadata.phone_number_id;
      const events = messageEvents(id, v.metadata.display_phone_number, v.messages ?? [], receivedItems(value, 'messages'), 'inbound', 'customer', true, (m) =>
        identity(m.from, m.from_user_id, v.contacts),
      );
      events.push(...statusEvents(id, v.statuses ?? [], value));
      // A BSUID change is applied before the messages around it, so they land on the followed contact.
      events.unshift(...userIdChangeEvents(id, v.metadata.display_phone_number, v.messages ?? []));
      if (v.errors?.length) events.push({ kind: 'unknown', phoneNumberId: id, field, detail: `webhook errors: ${v.errors.map((e) => e.code).join(',')}`, raw: v.errors });
      if (!v.messages?.length && !v.statuses?.length && !v.errors?.length) return unknown('messages payload with neither messages nor statuses');
      return events;
    }
    case 'smb_message_echoes': {
      const parsed = echoesValueSchema.safeParse(value);
      if (!parsed.success) return unknown(`invalid smb_message_echoes payload: ${describeError(parsed.error.issues)}`);
      const v = parsed.data;
      return messageEvents(v.metadata.phone_number_id, v.metadata.display_phone_number, v.message_echoes, receivedItems(value, 'message_echoes'), 'outbound', 'app', true, (m) =>
        identity(m.to, m.to_user_id, v.contacts),
      );
    }
    case 'history': {
      const parsed = historyValueSchema.safeParse(value);
      if (!parsed.success) return unknown(`invalid history payload: ${describeError(parsed.error.issues)}`);
      const v = parsed.data;
      const id = v.metadata.phone_number_id;
      const display = v.metadata.display_phone_number;
      const events: DomainEvent[] = [];
      // Chunks are hashed as received (plain JSON): the parsed item holds Dates, and stringifying them
      // was a quarter of the time it took to normalize a chunk. Same bytes, same hash.
      // (The schema parsed `history`, so the value holds it as an array, in the same order.)
      const received = receivedItems(value, 'history');
      for (const [index, item] of (v.history ?? []).entries()) {
        if (!item.metadata) {
          if (item.errors?.length) events.push({ kind: 'history_declined', phoneNumberId: id, errors: item.errors });
          else events.push({ kind: 'unknown', phoneNumberId: id, field, detail: 'history item with neither metadata nor errors', raw: item });
          continue;
        }
        const threads = item.threads ?? [];
        const receivedThreads = receivedItems(received[index], 'threads');
        let messageCount = 0;
        const chunkEvents: DomainEvent[] = [];
        for (const [t, thread] of threads.entries()) {
          const receivedMessages = receivedItems(receivedThreads[t], 'messages');
          const lane = historyLaneOf(threadCustomer(receivedThreads[t]));
          const counterpart = digits(thread.context?.wa_id ?? thread.id);
          const contact: ContactIdentity = {
            waId: counterpart || null,
            userId: thread.context?.user_id ?? null,
            username: thread.context?.username ?? null,
            countryCode: null,
            profileName: null,
          };
          for (const [k, m] of thread.messages.entries()) {
            // Business-sent history messages come from the business number and usually have no `to`.
            const fromCustomer = counterpart !== '' ? digits(m.from) === counterpart : digits(m.from) !== digits(display);
            messageCount += 1;
            for (const e of messageEvents(id, display, [m], [receivedMessages[k]], fromCustomer ? 'inbound' : 'outbound', 'history', false, () => contact)) {
              laneOfEvent.set(e, lane);
              chunkEvents.push(e);
            }
          }
        }
        events.push({
          kind: 'history_chunk',
          phoneNumberId: id,
          displayPhoneNumber: display,
          phase: item.metadata.phase,
          chunkOrder: item.metadata.chunk_order,
          progress: item.metadata.progress,
          chunkHash: stableHash(received[index]),
          threadCount: threads.length,
          messageCount,
        });
        events.push(...chunkEvents);
      }
      // Media follow-ups for history placeholders: same ids, never live traffic.
      for (const [list, items, direction, contactOf] of [
        ['messages', v.messages ?? [], 'inbound', (m: WaMessage) => identity(m.from, m.from_user_id, v.contacts)],
        ['message_echoes', v.message_echoes ?? [], 'outbound', (m: WaMessage) => identity(m.to, m.to_user_id, v.contacts)],
      ] as const) {
        const received = receivedItems(value, list);
        for (const [k, m] of items.entries()) {
          const lane = historyLaneOf(followUpCustomer(received[k], list));
          for (const e of messageEvents(id, display, [m], [received[k]], direction, 'history', false, contactOf)) {
            laneOfEvent.set(e, lane);
            events.push(e);
          }
        }
      }
      if (events.length === 0) return unknown('history payload with nothing in it');
      return events;
    }
    case 'smb_app_state_sync': {
      const parsed = stateSyncValueSchema.safeParse(value);
      if (!parsed.success) return unknown(`invalid smb_app_state_sync payload: ${describeError(parsed.error.issues)}`);
      const v = parsed.data;
      const events: DomainEvent[] = [];
      for (const item of v.state_sync) {
        if (item.type !== 'contact' || (item.action !== 'add' && item.action !== 'remove')) {
          events.push({ kind: 'unknown', phoneNumberId: v.metadata.phone_number_id, field, detail: `state_sync item type=${item.type} action=${item.action}`, raw: item });
          continue;
        }
        events.push({
          kind: 'contact_sync',
          phoneNumberId: v.metadata.phone_number_id,
          action: item.action,
          waId: digits(item.contact?.phone_number) || null,
          userId: item.contact?.user_id ?? null,
          username: item.contact?.username ?? null,
          fullName: item.contact?.full_name ?? null,
          firstName: item.contact?.first_name ?? null,
          timestamp: item.metadata?.timestamp ?? null,
        });
      }
      return events;
    }
    case 'account_update': {
      const parsed = accountUpdateValueSchema.safeParse(value);
      if (!parsed.success) return unknown(`invalid account_update payload: ${describeError(parsed.error.issues)}`);
      const v = parsed.data;
      return [
        {
          kind: 'account_update',
          wabaId: entryId,
          displayPhoneNumber: digits(v.phone_number) || null,
          event: v.event,
          reason: v.disconnection_info?.reason ?? null,
          initiatedBy: v.disconnection_info?.initiated_by ?? null,
          notice: {
            banState: v.ban_info?.waba_ban_state ?? null,
            banDate: v.ban_info?.waba_ban_date ?? null,
            violationType: v.violation_info?.violation_type ?? null,
            restrictions: (v.restriction_info ?? []).map((r) => ({
              type: r.restriction_type ?? null,
              expiration: r.expiration === undefined ? null : typeof r.expiration === 'number' ? new Date(r.expiration * 1000).toISOString() : r.expiration,
            })),
          },
          raw: v,
        },
      ];
    }
    case 'user_preferences':
      return userPreferenceEvents(value, unknown);
    case 'standby':
      return normalizeStandby(field, value);
    case 'messaging_handovers':
      return normalizeHandover(entryId, field, value);
    default:
      return unknown(`unhandled webhook field '${field}'`);
  }
}

/** Item lists of a change value, each of which can stand alone in a value of its own. */
const ITEM_LISTS = ['messages', 'statuses', 'message_echoes', 'history', 'state_sync', 'user_preferences'] as const;

/**
 * Normalizes one change; when the change as a whole does not parse, each item is tried on its own,
 * so one bad message (an impossible timestamp, a wrong type) becomes an `unknown` event with its
 * reason and the valid items beside it are still stored.
 */
export function normalizeChangeIsolated(entryId: string, field: string, value: unknown): DomainEvent[] {
  const whole = normalizeChange(entryId, field, value);
  const failed = whole.length === 1 && whole[0]!.kind === 'unknown' && whole[0]!.raw === value && /^invalid /.test(whole[0]!.detail);
  if (!failed || value === null || typeof value !== 'object' || Array.isArray(value)) return whole;
  const record = value as Record<string, unknown>;
  const lists = ITEM_LISTS.filter((k) => Array.isArray(record[k]) && (record[k] as unknown[]).length > 0);
  const itemCount = lists.reduce((n, k) => n + (record[k] as unknown[]).length, 0);
  if (itemCount <= 1) return whole;
  const rest = Object.fromEntries(Object.entries(record).filter(([k]) => !(ITEM_LISTS as readonly string[]).includes(k)));
  const events: DomainEvent[] = [];
  for (const list of lists) {
    for (const item of record[list] as unknown[]) events.push(...normalizeChange(entryId, field, { ...rest, [list]: [item] }));
  }
  return events;
}

const MARKETING_PREFERENCE_VALUES: ReadonlySet<string> = new Set<MarketingPreferenceEvent['value']>(['stop', 'resume', 'signup']);
const isMarketingPreference = (value: string): value is MarketingPreferenceEvent['value'] => MARKETING_PREFERENCE_VALUES.has(value);

/** `user_preferences` → one event per marketing preference; other categories or values are reported as unknown. */
function userPreferenceEvents(value: unknown, unknown: (detail: string) => DomainEvent[]): DomainEvent[] {
  const parsed = userPreferencesValueSchema.safeParse(value);
  if (!parsed.success) return unknown(`invalid user_preferences payload: ${describeError(parsed.error.issues)}`);
  const v = parsed.data;
  const id = v.metadata.phone_number_id;
  const events: DomainEvent[] = [];
  for (const p of v.user_preferences) {
    const value = p.value;
    if (p.category !== 'marketing_messages' || !isMarketingPreference(value)) {
      events.push({ kind: 'unknown', phoneNumberId: id, field: 'user_preferences', detail: `user preference category=${p.category} value=${p.value}`, raw: p });
      continue;
    }
    // A single-contact delivery may name the user only in `contacts`.
    const only = v.contacts?.length === 1 ? v.contacts[0] : undefined;
    const contact = identity(p.wa_id ?? (p.user_id ? undefined : only?.wa_id), p.user_id ?? (p.wa_id ? undefined : only?.user_id), v.contacts);
    if (!contact.waId && !contact.userId) {
      events.push({ kind: 'unknown', phoneNumberId: id, field: 'user_preferences', detail: `marketing preference '${value}' names no user (neither wa_id nor user_id)`, raw: p });
      continue;
    }
    events.push({
      kind: 'marketing_preference',
      phoneNumberId: id,
      displayPhoneNumber: v.metadata.display_phone_number,
      contact,
      value,
      detail: p.detail ?? null,
      signupId: p.signup_id === undefined ? null : String(p.signup_id),
      timestamp: p.timestamp,
      raw: p,
    });
  }
  return events;
}

/**
 * Normalizes a delivery once for every partition it names (phone number, WABA, or one of a number's
 * history lanes). A history change is shared out: each history lane takes the messages of its
 * customers, and the change's first partition the rest, so that every event is applied exactly once.
 */
export function normalizeDeliveryByPartition(envelope: WebhookEnvelope): Map<string, DomainEvent[]> {
  const byPartition = new Map<string, DomainEvent[]>();
  for (const entry of envelope.entry) {
    for (const change of entry.changes) {
      const partitions = changePartitions(entry.id, change);
      for (const key of partitions) if (!byPartition.has(key)) byPartition.set(key, []);
      const number = partitionParts(partitions[0]!).number;
      for (const e of normalizeChangeIsolated(entry.id, change.field, change.value)) {
        const lane = laneOfEvent.get(e);
        const key = lane === undefined ? partitions[0]! : historyPartition(number, lane);
        // Never under a partition the delivery has no row for (the lanes are computed alike on both sides).
        byPartition.get(partitions.includes(key) ? key : partitions[0]!)!.push(e);
      }
    }
  }
  return byPartition;
}

/** The events of a delivery for one partition (normalizeDeliveryByPartition). */
export function normalizeDelivery(envelope: WebhookEnvelope, partitionKey: string): DomainEvent[] {
  return normalizeDeliveryByPartition(envelope).get(partitionKey) ?? [];
}
