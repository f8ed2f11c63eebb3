import { describe, expect, it } from 'vitest';
import * as P from './payloads.js';

/** The builders produce Meta's exact shapes (coex-spec.md §1–6): the demo, replay and tests rely on them. */

const N: P.NumberRef = { wabaId: '102290129340398', phoneNumberId: '106540352242922', displayPhoneNumber: '212522123456' };
const metadata = { display_phone_number: '212522123456', phone_number_id: '106540352242922' };
const envelope = (field: string, value: unknown) => ({ object: 'whatsapp_business_account', entry: [{ id: N.wabaId, changes: [{ field, value }] }] });
// 1764583200.9 s: timestamps are whole seconds, rounded down, as strings.
const AT = new Date(1764583200_900);
/** The value of a built payload's single change, with the lists these tests read. */
const valueOf = (payload: { entry: Array<{ changes: Array<{ value: unknown }> }> }) => payload.entry[0]!.changes[0]!.value as { contacts: unknown[]; statuses: unknown[] };

describe('payload builders', () => {
  it('message bodies', () => {
    expect(P.text('salam')).toEqual({ type: 'text', text: { body: 'salam' } });
    expect(P.voiceNote('m1')).toEqual({ type: 'audio', audio: { id: 'm1', mime_type: 'audio/ogg; codecs=opus', sha256: 'a'.repeat(64), voice: true } });
    expect(P.voiceNote('m1', 'f'.repeat(64))).toMatchObject({ audio: { sha256: 'f'.repeat(64) } });
    expect(P.image('m2')).toEqual({ type: 'image', image: { id: 'm2', mime_type: 'image/jpeg', sha256: 'b'.repeat(64) } });
    expect(P.image('m2', 'photo')).toEqual({ type: 'image', image: { id: 'm2', mime_type: 'image/jpeg', sha256: 'b'.repeat(64), caption: 'photo' } });
    expect(P.mediaPlaceholder).toEqual({ type: 'media_placeholder' });
  });

  it('inbound messages, with or without a name and a BSUID', () => {
    expect(P.inboundMessage(N, { waId: '212612345678', name: 'Youssef', userId: 'MA.1' }, 'wamid.1', AT, P.text('hi'), { context: { id: 'wamid.0' } })).toEqual(
      envelope('messages', {
        messaging_product: 'whatsapp',
        metadata,
        contacts: [{ profile: { name: 'Youssef' }, wa_id: '212612345678', user_id: 'MA.1' }],
        messages: [{ from: '212612345678', id: 'wamid.1', timestamp: '1764583200', type: 'text', text: { body: 'hi' }, context: { id: 'wamid.0' } }],
      }),
    );
    expect(P.inboundMessage(N, { waId: '1' }, 'w', 1764583200_000, P.text('x'))).toMatchObject({ entry: [{ changes: [{ value: { contacts: [{ profile: { name: 'Customer' }, wa_id: '1' }], messages: [{ timestamp: '1764583200' }] } }] }] });
    expect(valueOf(P.inboundMessage(N, { waId: '1' }, 'w', AT, P.text('x'))).contacts[0]).not.toHaveProperty('user_id');
  });

  it('statuses and echoes', () => {
    expect(P.statusUpdate(N, 'wamid.1', 'read', AT, '212612345678', { pricing: { billable: true } })).toEqual(
      envelope('messages', { messaging_product: 'whatsapp', metadata, statuses: [{ id: 'wamid.1', status: 'read', timestamp: '1764583200', recipient_id: '212612345678', pricing: { billable: true } }] }),
    );
    expect(valueOf(P.statusUpdate(N, 'w', 'sent', AT, '1')).statuses[0]).toEqual({ id: 'w', status: 'sent', timestamp: '1764583200', recipient_id: '1' });
    expect(P.echo(N, '212612345678', 'wamid.2', AT, P.text('ok'))).toEqual(
      envelope('smb_message_echoes', { messaging_product: 'whatsapp', metadata, message_echoes: [{ from: '212522123456', to: '212612345678', id: 'wamid.2', timestamp: '1764583200', type: 'text', text: { body: 'ok' } }] }),
    );
  });

  it('history chunks, media follow-ups and a declined history', () => {
    const chunk = P.historyChunk(N, { phase: 1, chunkOrder: 2, progress: 30 }, [
      {
        waId: '212612345678',
        messages: [
          { wamid: 'h1', fromCustomer: true, at: AT, body: P.text('a') },
          { wamid: 'h2', fromCustomer: false, at: AT, body: P.text('b') },
          { wamid: 'h3', fromCustomer: false, at: AT, body: P.text('c'), status: 'PLAYED' },
        ],
      },
    ]);
    expect(chunk).toEqual(
      envelope('history', {
        messaging_product: 'whatsapp',
        metadata,
        history: [
          {
            metadata: { phase: 1, chunk_order: 2, progress: 30 },
            threads: [
              {
                id: '212612345678',
                context: { wa_id: '212612345678' },
                messages: [
                  { from: '212612345678', id: 'h1', timestamp: '1764583200', type: 'text', text: { body: 'a' }, history_context: { status: 'READ' } },
                  { from: '212522123456', id: 'h2', timestamp: '1764583200', type: 'text', text: { body: 'b' }, history_context: { status: 'DELIVERED' } },
                  { from: '212522123456', id: 'h3', timestamp: '1764583200', type: 'text', text: { body: 'c' }, history_context: { status: 'PLAYED' } },
                ],
              },
            ],
          },
        ],
      }),
    );
    expect(P.historyMediaFollowUp(N, '212612345678', 'h4', AT, P.image('m'), true)).toEqual(
      envelope('history', { messaging_product: 'whatsapp', metadata, messages: [{ from: '212612345678', id: 'h4', timestamp: '1764583200', ...P.image('m') }] }),
    );
    expect(P.historyMediaFollowUp(N, '212612345678', 'h5', AT, P.image('m'), false)).toEqual(
      envelope('history', { messaging_product: 'whatsapp', metadata, message_echoes: [{ from: '212522123456', to: '212612345678', id: 'h5', timestamp: '1764583200', ...P.image('m') }] }),
    );
    expect(P.historyDeclined(N)).toEqual(
      envelope('history', {
        messaging_product: 'whatsapp',
        metadata,
        history: [{ errors: [{ code: 2593109, title: 'History sync is turned off by the business from the WhatsApp Business App', error_data: { details: 'History sharing is turned off by the business' } }] }],
      }),
    );
  });

  it('contact sync and account updates', () => {
    expect(P.contactSync(N, [{ action: 'add', phone: '212612345678', fullName: 'Youssef Alami', firstName: 'Youssef', at: AT }, { action: 'remove', phone: '212600000000', fullName: 'ignored', at: AT }])).toEqual(
      envelope('smb_app_state_sync', {
        messaging_product: 'whatsapp',
        metadata,
        state_sync: [
          { type: 'contact', contact: { full_name: 'Youssef Alami', first_name: 'Youssef', phone_number: '212612345678' }, action: 'add', metadata: { timestamp: '1764583200' } },
          { type: 'contact', contact: { phone_number: '212600000000' }, action: 'remove', metadata: { timestamp: '1764583200' } },
        ],
      }),
    );
    expect(P.accountUpdate(N, 'PARTNER_REMOVED', { reason: 'PRIMARY_INACTIVITY', initiatedBy: 'SYSTEM' })).toEqual(
      envelope('account_update', { phone_number: '212522123456', event: 'PARTNER_REMOVED', disconnection_info: { reason: 'PRIMARY_INACTIVITY', initiated_by: 'SYSTEM' } }),
    );
    expect(P.accountUpdate(N, 'ACCOUNT_OFFBOARDED')).toEqual(envelope('account_update', { phone_number: '212522123456', event: 'ACCOUNT_OFFBOARDED' }));
  });
});
