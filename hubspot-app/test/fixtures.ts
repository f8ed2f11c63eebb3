import type { StubCampaign, StubCampaignsAnswer, StubMessage, StubTemplatesAnswer, StubThread } from './coex-ext-api-stub.js';

/** A conversation with one message of every origin, a voice note with its transcript and one still being transcribed. */
export function sampleThread(overrides: Partial<StubThread> = {}): StubThread {
  return {
    id: 'a1b2c3d4-0000-4000-8000-000000000001',
    contact_name: 'Salma Benali',
    wa_id: '212612345678',
    bot: {
      state: 'active',
      paused_until: null,
      history: [{ from: 'paused', to: 'active', cause: 'quiet_period_elapsed', actor: null, at: '2026-11-24T08:00:00.000Z' }],
    },
    window: { open: true, closes_at: '2026-11-25T20:00:00.000Z' },
    messages: [
      msg({ id: 'm1', direction: 'inbound', origin: 'history', text: 'Old chat from before CoEx', timestamp: '2026-11-20T09:00:00.000Z' }),
      msg({ id: 'm2', direction: 'inbound', origin: 'customer', text: 'Salam, wach kayn had l-model?', timestamp: '2026-11-24T10:00:00.000Z' }),
      msg({ id: 'm3', direction: 'outbound', origin: 'agent', text: 'Iyeh, kayn f 3 alwan.', timestamp: '2026-11-24T10:00:05.000Z' }),
      msg({ id: 'm4', direction: 'outbound', origin: 'app', text: 'Ana hna, ghadi n3awnek.', timestamp: '2026-11-25T09:00:00.000Z' }),
      msg({ id: 'm5', direction: 'inbound', origin: 'customer', type: 'audio', text: null, transcript: 'bghit n3ref taman', transcript_state: 'done', timestamp: '2026-11-25T09:05:00.000Z' }),
      msg({ id: 'm6', direction: 'outbound', origin: 'api', text: 'Taman 250 DH.', timestamp: '2026-11-25T09:10:00.000Z' }),
      msg({ id: 'm7', direction: 'inbound', origin: 'customer', type: 'audio', text: null, transcript: null, transcript_state: 'transcribing', timestamp: '2026-11-25T09:15:00.000Z' }),
    ],
    ...overrides,
  };
}

export function msg(m: Partial<StubMessage> & Pick<StubMessage, 'id' | 'direction' | 'origin' | 'timestamp'>): StubMessage {
  return { type: 'text', text: null, status: m.direction === 'outbound' ? 'delivered' : 'received', transcript: null, transcript_state: null, ...m };
}

/** "Now" for the sample: inside the window, on the day of the last messages (UTC). */
export const SAMPLE_NOW = new Date('2026-11-25T12:00:00.000Z');

/**
 * GET …/templates for a Moroccan shop: no parameters, positional, named, and one the reply box
 * cannot send (image header), sorted by name then language as the server sorts them.
 */
export function sampleTemplates(overrides: Partial<StubTemplatesAnswer> = {}): StubTemplatesAnswer {
  return {
    templates: [
      {
        name: 'delivery_slot', language: 'fr', category: 'UTILITY',
        body: 'Bonjour {{first_name}}, votre livraison arrive {{slot}}.',
        parameters: { format: 'named', names: ['first_name', 'slot'] }, sendable: true, unsendable_reason: null,
      },
      {
        name: 'hello_world', language: 'en_US', category: 'UTILITY',
        body: 'Hello World', parameters: { format: 'positional', names: [] }, sendable: true, unsendable_reason: null,
      },
      {
        name: 'order_shipped', language: 'fr', category: 'UTILITY',
        body: 'Bonjour {{1}}, votre commande {{2}} est en route.',
        parameters: { format: 'positional', names: ['1', '2'] }, sendable: true, unsendable_reason: null,
      },
      {
        name: 'promo_photo', language: 'ar', category: 'MARKETING',
        body: 'عرض خاص {{1}}', parameters: { format: 'positional', names: ['1'] }, sendable: false, unsendable_reason: 'needs an image header',
      },
    ],
    stale: false,
    fetched_at: '2026-11-25T11:58:00.000Z',
    ...overrides,
  };
}

export function campaign(c: Partial<StubCampaign> & Pick<StubCampaign, 'id' | 'name'>): StubCampaign {
  return {
    status: 'completed',
    template: { name: 'promo_ramadan', language: 'ar', category: 'marketing' },
    created_at: '2026-11-20T08:00:00.000Z',
    started_at: '2026-11-20T09:00:00.000Z',
    completed_at: '2026-11-20T09:40:00.000Z',
    counts: { total: 1200, queued: 0, sending: 0, skipped: 14, sent: 1180, delivered: 1100, read: 870, failed: 6, replied: 95 },
    failures: [],
    recipient: null,
    ...c,
  };
}

/** GET …/campaigns?phone= for a customer in two campaigns: one read and answered, one failed; opted out since. */
export function sampleCampaigns(overrides: Partial<StubCampaignsAnswer> = {}): StubCampaignsAnswer {
  return {
    campaigns: [
      campaign({
        id: 'ca000000-0000-4000-8000-000000000002',
        name: 'Black Friday',
        template: { name: 'black_friday', language: 'fr', category: 'marketing' },
        created_at: '2026-11-24T07:00:00.000Z',
        started_at: '2026-11-24T08:00:00.000Z',
        completed_at: null,
        status: 'running',
        counts: { total: 800, queued: 120, sending: 2, skipped: 3, sent: 670, delivered: 640, read: 410, failed: 5, replied: 38 },
        failures: [
          { code: '131049', count: 4, example: 'This message was not delivered to maintain healthy ecosystem engagement.' },
          { code: '131026', count: 1, example: 'Message undeliverable' },
        ],
        recipient: { status: 'failed', message_status: 'failed', error_code: 131049, error: 'This message was not delivered to maintain healthy ecosystem engagement.', sent_at: '2026-11-24T08:03:00.000Z', replied: false },
      }),
      campaign({
        id: 'ca000000-0000-4000-8000-000000000001',
        name: 'Soldes Ramadan',
        failures: [{ code: '131049', count: 5, example: 'healthy ecosystem' }, { code: '131026', count: 1, example: null }],
        recipient: { status: 'sent', message_status: 'read', error_code: null, error: null, sent_at: '2026-11-20T09:12:00.000Z', replied: true },
      }),
    ],
    opt_out: { source: 'keyword', detail: 'baraka', at: '2026-11-24T10:15:00.000Z' },
    ...overrides,
  };
}
