import type { StubMessage, StubThread } from './coex-ext-api-stub.js';

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
