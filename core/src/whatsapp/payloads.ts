/**
 * Builders of webhook payloads in Meta's exact shapes (coex-spec.md §1–6). The demo and the replay
 * tooling use them to produce realistic traffic; the tests use them to speak Meta's wire format.
 */

export interface NumberRef {
  wabaId: string;
  phoneNumberId: string;
  displayPhoneNumber: string;
}

const ts = (d: Date | number): string => String(Math.floor((typeof d === 'number' ? d : d.getTime()) / 1000));

function envelope(n: NumberRef, field: string, value: Record<string, unknown>) {
  return { object: 'whatsapp_business_account', entry: [{ id: n.wabaId, changes: [{ field, value }] }] };
}

function metadata(n: NumberRef) {
  return { display_phone_number: n.displayPhoneNumber, phone_number_id: n.phoneNumberId };
}

export type MessageBody = Record<string, unknown> & { type: string };

export const text = (body: string): MessageBody => ({ type: 'text', text: { body } });
export const voiceNote = (mediaId: string, sha256 = 'a'.repeat(64)): MessageBody => ({
  type: 'audio',
  audio: { id: mediaId, mime_type: 'audio/ogg; codecs=opus', sha256, voice: true },
});
export const image = (mediaId: string, caption?: string): MessageBody => ({
  type: 'image',
  image: { id: mediaId, mime_type: 'image/jpeg', sha256: 'b'.repeat(64), ...(caption ? { caption } : {}) },
});

export function inboundMessage(
  n: NumberRef,
  customer: { waId: string; name?: string; userId?: string },
  wamid: string,
  at: Date | number,
  body: MessageBody,
  extra: Record<string, unknown> = {},
) {
  return envelope(n, 'messages', {
    messaging_product: 'whatsapp',
    metadata: metadata(n),
    contacts: [{ profile: { name: customer.name ?? 'Customer' }, wa_id: customer.waId, ...(customer.userId ? { user_id: customer.userId } : {}) }],
    messages: [{ from: customer.waId, id: wamid, timestamp: ts(at), ...body, ...extra }],
  });
}

export function statusUpdate(n: NumberRef, wamid: string, status: string, at: Date | number, recipientWaId: string, extra: Record<string, unknown> = {}) {
  return envelope(n, 'messages', {
    messaging_product: 'whatsapp',
    metadata: metadata(n),
    statuses: [{ id: wamid, status, timestamp: ts(at), recipient_id: recipientWaId, ...extra }],
  });
}

export function echo(n: NumberRef, customerWaId: string, wamid: string, at: Date | number, body: MessageBody) {
  return envelope(n, 'smb_message_echoes', {
    messaging_product: 'whatsapp',
    metadata: metadata(n),
    message_echoes: [{ from: n.displayPhoneNumber, to: customerWaId, id: wamid, timestamp: ts(at), ...body }],
  });
}

export interface HistoryMessage {
  wamid: string;
  fromCustomer: boolean;
  at: Date | number;
  body: MessageBody;
  status?: 'DELIVERED' | 'ERROR' | 'PENDING' | 'PLAYED' | 'READ' | 'SENT';
}

export function historyChunk(
  n: NumberRef,
  meta: { phase: number; chunkOrder: number; progress: number },
  threads: Array<{ waId: string; messages: HistoryMessage[] }>,
) {
  return envelope(n, 'history', {
    messaging_product: 'whatsapp',
    metadata: metadata(n),
    history: [
      {
        metadata: { phase: meta.phase, chunk_order: meta.chunkOrder, progress: meta.progress },
        threads: threads.map((t) => ({
          id: t.waId,
          context: { wa_id: t.waId },
          messages: t.messages.map((m) => ({
            from: m.fromCustomer ? t.waId : n.displayPhoneNumber,
            id: m.wamid,
            timestamp: ts(m.at),
            ...m.body,
            history_context: { status: m.status ?? (m.fromCustomer ? 'READ' : 'DELIVERED') },
          })),
        })),
      },
    ],
  });
}

export const mediaPlaceholder: MessageBody = { type: 'media_placeholder' };

/** The later `history` webhook that carries the real media of a placeholder (same id). */
export function historyMediaFollowUp(n: NumberRef, customerWaId: string, wamid: string, at: Date | number, body: MessageBody, fromCustomer: boolean) {
  const message = fromCustomer
    ? { from: customerWaId, id: wamid, timestamp: ts(at), ...body }
    : { from: n.displayPhoneNumber, to: customerWaId, id: wamid, timestamp: ts(at), ...body };
  return envelope(n, 'history', {
    messaging_product: 'whatsapp',
    metadata: metadata(n),
    ...(fromCustomer ? { messages: [message] } : { message_echoes: [message] }),
  });
}

export function historyDeclined(n: NumberRef) {
  return envelope(n, 'history', {
    messaging_product: 'whatsapp',
    metadata: metadata(n),
    history: [
      {
        errors: [
          {
            code: 2593109,
            title: 'History sync is turned off by the business from the WhatsApp Business App',
            error_data: { details: 'History sharing is turned off by the business' },
          },
        ],
      },
    ],
  });
}

export function contactSync(n: NumberRef, items: Array<{ action: 'add' | 'remove'; phone: string; fullName?: string; firstName?: string; at: Date | number }>) {
  return envelope(n, 'smb_app_state_sync', {
    messaging_product: 'whatsapp',
    metadata: metadata(n),
    state_sync: items.map((i) => ({
      type: 'contact',
      contact: i.action === 'add' ? { full_name: i.fullName, first_name: i.firstName, phone_number: i.phone } : { phone_number: i.phone },
      action: i.action,
      metadata: { timestamp: ts(i.at) },
    })),
  });
}

export function accountUpdate(n: NumberRef, event: string, info?: { reason: string; initiatedBy: 'USER' | 'SYSTEM' }) {
  return envelope(n, 'account_update', {
    phone_number: n.displayPhoneNumber,
    event,
    ...(info ? { disconnection_info: { reason: info.reason, initiated_by: info.initiatedBy } } : {}),
  });
}
