import type { z } from 'zod';
import { creationTypeSchema, handoverValueSchema, standbyValueSchema, userIdChangeSystemSchema } from './routing-schemas.js';
import type { WaMessage } from './schemas.js';
import { identityOf, messageEvents, receivedItems, statusEvents, type ContactIdentity, type DomainEvent } from './normalize.js';

/**
 * Normalization of Meta's 2026 additions (coex-spec.md §11; docs/decisions/meta-2026-changes.md):
 * Conversation Routing (`standby`, `messaging_handovers`), echo creation types, and BSUID changes.
 */

/** Who answers a thread. `coex`: this platform (its agent or its people). */
export type ControlHolder = 'coex' | 'meta_agent' | 'other_app';

/**
 * What an echo's `message_creation_type` says about its author. Only `user` is documented-in-the-wild
 * as a person and `created_by_1p_bot` as Meta's bot; every other value is `unknown` — treated as a
 * person (the safe side: the agent steps aside) and counted so a new value gets noticed.
 */
export type CreationKind = 'person' | 'bot' | 'unknown' | 'absent';

const PERSON_CREATION_TYPES = new Set(['user']);
const BOT_CREATION_TYPES = new Set(['created_by_1p_bot']);

export function creationTypeOf(m: WaMessage): string | null {
  const parsed = creationTypeSchema.safeParse(m['message_creation_type']);
  return parsed.success ? parsed.data : null;
}

export function classifyCreationType(value: string | null): CreationKind {
  if (value === null) return 'absent';
  if (PERSON_CREATION_TYPES.has(value)) return 'person';
  if (BOT_CREATION_TYPES.has(value)) return 'bot';
  return 'unknown';
}

function describe(issues: z.core.$ZodIssue[]): string {
  return issues
    .slice(0, 5)
    .map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`)
    .join('; ');
}

/**
 * `standby`: stored like `messages` / `smb_message_echoes`, flagged `standby` (another handler owned
 * the thread when they happened). Customer messages stay live (they open the 24-hour window and reach
 * the CRMs) but never start an agent turn; the echoes are that handler's replies.
 */
export function normalizeStandby(field: string, value: unknown): DomainEvent[] {
  const parsed = standbyValueSchema.safeParse(value);
  if (!parsed.success) return [{ kind: 'unknown', phoneNumberId: null, field, detail: `invalid standby payload: ${describe(parsed.error.issues)}`, raw: value }];
  const v = parsed.data;
  const id = v.metadata.phone_number_id;
  const display = v.metadata.display_phone_number;
  const events: DomainEvent[] = [
    ...messageEvents(id, display, v.messages ?? [], receivedItems(value, 'messages'), 'inbound', 'customer', true, (m) => identityOf(m.from, m.from_user_id, v.contacts)),
    ...messageEvents(id, display, v.message_echoes ?? [], receivedItems(value, 'message_echoes'), 'outbound', 'app', true, (m) => identityOf(m.to, m.to_user_id, v.contacts)),
  ].map((e) => (e.kind === 'message' ? { ...e, standby: true } : e));
  events.push(...statusEvents(id, v.statuses ?? [], value));
  if (events.length === 0) return [{ kind: 'unknown', phoneNumberId: id, field, detail: 'standby payload with nothing in it', raw: value }];
  return events;
}

/** Maps a role name of Meta's handover payloads to a holder (null when the name says nothing). */
function holderOfRole(role: string | undefined): ControlHolder | null {
  if (!role) return null;
  const r = role.toLowerCase();
  if (/(^|_)(ai|agent|meta|business_agent|bot)(_|$)/.test(r) || r.includes('business_agent')) return 'meta_agent';
  if (r.includes('app') || r.includes('partner')) return 'other_app';
  return null;
}

/**
 * `messaging_handovers`. `control_passed` is delivered to the new owner: this app now holds the
 * thread. `control_taken` is delivered to the previous owner: someone else (the role Meta names, by
 * default another app) holds it now.
 */
export function normalizeHandover(entryId: string, field: string, value: unknown): DomainEvent[] {
  const parsed = handoverValueSchema.safeParse(value);
  const phoneNumberIdOf = (v: z.infer<typeof handoverValueSchema>): string | null => v.metadata?.phone_number_id ?? v.recipient?.phone_number_id ?? null;
  if (!parsed.success) return [{ kind: 'unknown', phoneNumberId: null, field, detail: `invalid messaging_handovers payload: ${describe(parsed.error.issues)}`, raw: value }];
  const v = parsed.data;
  const phoneNumberId = phoneNumberIdOf(v);
  const kind = v.control_passed ? 'control_passed' : v.control_taken ? 'control_taken' : (v.type ?? null);
  const detail = v.control_passed ?? v.control_taken;
  const profile = v.contacts?.[0];
  const waId = (v.sender?.phone_number ?? v.sender?.wa_id ?? profile?.wa_id ?? '').replace(/\D/g, '') || null;
  const userId = v.sender?.user_id ?? profile?.user_id ?? null;
  if (!phoneNumberId || (kind !== 'control_passed' && kind !== 'control_taken') || (!waId && !userId)) {
    return [{ kind: 'unknown', phoneNumberId, field, detail: `messaging_handovers without ${!phoneNumberId ? 'a phone number id' : !waId && !userId ? 'a customer' : 'control_passed/control_taken'}`, raw: value }];
  }
  const newRole = detail?.new_owner_role ?? detail?.new_owner;
  const holder: ControlHolder = kind === 'control_passed' ? 'coex' : (holderOfRole(newRole) ?? 'other_app');
  const appId = kind === 'control_taken' && detail?.new_owner_app_id !== undefined ? String(detail.new_owner_app_id) : null;
  const contact: ContactIdentity = { waId, userId, username: profile?.username ?? null, countryCode: profile?.country_code ?? null, profileName: profile?.profile?.name ?? null };
  return [
    {
      kind: 'handover',
      wabaId: entryId,
      phoneNumberId,
      displayPhoneNumber: v.metadata?.display_phone_number ?? v.recipient?.display_phone_number ?? null,
      contact,
      handover: kind,
      holder,
      appId,
      timestamp: v.timestamp ?? null,
      raw: v,
    },
  ];
}

/**
 * `user_changed_user_id` system messages of a `messages` payload (no `contacts` array): the customer
 * now has the message's `from_user_id`; `system.previous_user_id` names the old one.
 */
export function userIdChangeEvents(phoneNumberId: string, displayPhoneNumber: string, messages: WaMessage[]): DomainEvent[] {
  const events: DomainEvent[] = [];
  for (const m of messages) {
    if (m.type !== 'system') continue;
    const system = userIdChangeSystemSchema.safeParse(m.system);
    if (!system.success) continue;
    const newUserId = m.from_user_id ?? system.data.new_user_id ?? system.data.user_id;
    if (!newUserId || newUserId === system.data.previous_user_id) continue;
    events.push({
      kind: 'user_id_change',
      phoneNumberId,
      displayPhoneNumber,
      previousUserId: system.data.previous_user_id,
      newUserId,
      waId: (m.from ?? '').replace(/\D/g, '') || null,
      wamid: m.id,
      timestamp: m.timestamp,
    });
  }
  return events;
}
