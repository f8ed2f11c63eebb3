import { describe, expect, it } from 'vitest';
import { messageSchema, threadResponseSchema, type Message } from './contract.js';
import {
  botHistoryRows,
  botStateBadge,
  botToggle,
  buildTimeline,
  causeLabel,
  cleanPhone,
  composerMode,
  messageBadges,
  messageBody,
  phoneCandidates,
  pickPhone,
  refreshDelayMs,
  syncView,
  windowBadge,
} from './thread-logic.js';
import { SAMPLE_NOW, msg, sampleThread } from '../../../../test/fixtures.js';

// The card's decisions without React: phone choice, badges, timeline, window, bot, sync.

const parseMessage = (m: unknown): Message => messageSchema.parse(m);
const thread = (overrides: Parameters<typeof sampleThread>[0] = {}) => threadResponseSchema.parse({ thread: sampleThread(overrides), messages: [], sync: { history: { status: 'complete', progress: 100 }, contacts: { status: 'complete' } } }).thread!;

describe('record phone', () => {
  it('strips display formatting and refuses values that are not phones', () => {
    expect(cleanPhone(' +212 6-12 (34) 56.78 ')).toBe('+212612345678');
    expect(cleanPhone('0612345678')).toBe('0612345678');
    expect(cleanPhone('00212612345678')).toBe('00212612345678');
    expect(cleanPhone('tel:+212612345678')).toBe('+212612345678');
    expect(cleanPhone('call me')).toBeNull();
    expect(cleanPhone('12345')).toBeNull();
    expect(cleanPhone('')).toBeNull();
    expect(cleanPhone(null)).toBeNull();
  });

  it('prefers the WhatsApp number, then mobile, then phone, skipping unusable values', () => {
    expect(pickPhone({ phone: '+33 1 23 45 67 89', mobilephone: '0612345678', hs_whatsapp_phone_number: '+212 6 99 99 99 99' })).toEqual({ phone: '+212699999999', property: 'hs_whatsapp_phone_number' });
    expect(pickPhone({ phone: '+33123456789', mobilephone: '0612345678', hs_whatsapp_phone_number: '  ' })).toEqual({ phone: '0612345678', property: 'mobilephone' });
    expect(pickPhone({ phone: '+33123456789', mobilephone: null })).toEqual({ phone: '+33123456789', property: 'phone' });
    expect(pickPhone({ phone: 'n/a' })).toBeNull();
  });

  it('lists the associated contacts of a deal that have a phone, once per phone', () => {
    const candidates = phoneCandidates([
      { toObjectId: 1, properties: { firstname: 'Salma', lastname: 'Benali', phone: '+212 612 345 678' } },
      { toObjectId: 2, properties: { firstname: 'No', lastname: 'Phone', phone: null } },
      { toObjectId: 3, properties: { firstname: 'Same', lastname: 'Number', mobilephone: '+212612345678' } },
      { toObjectId: 4, properties: { firstname: '', lastname: null, hs_whatsapp_phone_number: '0699887766' } },
    ]);
    expect(candidates).toEqual([
      { contactId: '1', label: 'Salma Benali (+212612345678)', phone: '+212612345678' },
      { contactId: '4', label: '0699887766', phone: '0699887766' },
    ]);
  });
});

describe('message badges and bodies', () => {
  const base = { id: 'x', type: 'text', text: 'hi', timestamp: '2026-11-25T10:00:00Z', status: null, transcript: null, transcript_state: null };

  it('badges every origin with its direction', () => {
    const cases = [
      ['inbound', 'customer', ['In', 'Customer']],
      ['outbound', 'app', ['Out', 'Phone app']],
      ['outbound', 'agent', ['Out', 'AI agent']],
      ['outbound', 'api', ['Out', 'API']],
      ['inbound', 'history', ['In', 'History']],
      ['outbound', 'history', ['Out', 'History']],
    ] as const;
    for (const [direction, origin, labels] of cases) {
      expect(messageBadges(parseMessage({ ...base, direction, origin })).map((b) => b.label)).toEqual(labels);
    }
    const failed = messageBadges(parseMessage({ ...base, direction: 'outbound', origin: 'api', status: 'failed' }));
    expect(failed.at(-1)).toEqual({ label: 'Failed', variant: 'error' });
  });

  it('shows voice-note transcripts inline, with their progress', () => {
    const voice = { ...base, direction: 'inbound', origin: 'customer', type: 'audio', text: null };
    expect(messageBody(parseMessage({ ...voice, transcript: 'bghit n3ref taman', transcript_state: 'done' }))).toEqual({ text: 'Voice note', transcript: { state: 'done', text: 'bghit n3ref taman' } });
    expect(messageBody(parseMessage({ ...voice, transcript_state: 'pending' })).transcript).toEqual({ state: 'pending', text: 'Transcribing…' });
    expect(messageBody(parseMessage({ ...voice, transcript_state: 'transcribing' })).transcript?.state).toBe('pending');
    expect(messageBody(parseMessage({ ...voice, transcript_state: 'failed' })).transcript).toEqual({ state: 'failed', text: 'Transcript unavailable' });
    expect(messageBody(parseMessage({ ...voice, transcript_state: null })).transcript).toBeNull();
  });

  it('names media without text by type and keeps captions', () => {
    const image = { ...base, direction: 'inbound', origin: 'customer', type: 'image' };
    expect(messageBody(parseMessage({ ...image, text: null }))).toEqual({ text: '[image]', transcript: null });
    expect(messageBody(parseMessage({ ...image, text: 'the red one' })).text).toBe('the red one');
    expect(messageBody(parseMessage({ ...image, type: 'media_placeholder', text: null })).text).toBe('[media placeholder]');
  });
});

describe('timeline', () => {
  const messages = sampleThread().messages.map(parseMessage);

  it('groups by calendar day in the portal time zone, in time order, duplicates once', () => {
    const shuffled = [...messages].reverse();
    shuffled.push({ ...messages[1]!, text: 'edited copy' });
    const t = buildTimeline(shuffled, { timeZone: 'Europe/Paris', now: SAMPLE_NOW });
    expect(t.days.map((d) => [d.key, d.label])).toEqual([
      ['2026-11-20', 'Fri, 20 Nov 2026'],
      ['2026-11-24', 'Yesterday'],
      ['2026-11-25', 'Today'],
    ]);
    expect(t.days.flatMap((d) => d.entries.map((e) => e.id))).toEqual(['m1', 'm2', 'm3', 'm4', 'm5', 'm6', 'm7']);
    expect(t.days[1]!.entries[0]!.body.text).toBe('edited copy');
    expect(t.hidden).toBe(0);
  });

  it('moves a message across midnight with the time zone', () => {
    const late = [parseMessage({ id: 'n', direction: 'inbound', origin: 'customer', type: 'text', text: 'late', timestamp: '2026-11-24T23:30:00Z', status: null, transcript: null, transcript_state: null })];
    expect(buildTimeline(late, { timeZone: 'UTC', now: SAMPLE_NOW }).days[0]!.key).toBe('2026-11-24');
    const tokyo = buildTimeline(late, { timeZone: 'Asia/Tokyo', now: SAMPLE_NOW });
    expect(tokyo.days[0]!.key).toBe('2026-11-25');
    expect(tokyo.days[0]!.entries[0]!.time).toBe('08:30');
    // An unknown zone falls back to UTC instead of throwing.
    expect(buildTimeline(late, { timeZone: 'Mars/Olympus', now: SAMPLE_NOW }).days[0]!.key).toBe('2026-11-24');
  });

  it('keeps the newest messages under a limit and counts the hidden ones', () => {
    const t = buildTimeline(messages, { timeZone: 'UTC', now: SAMPLE_NOW, limit: 3 });
    expect(t.hidden).toBe(4);
    expect(t.days.flatMap((d) => d.entries.map((e) => e.id))).toEqual(['m5', 'm6', 'm7']);
  });
});

describe('window and reply box', () => {
  it('offers free text inside the window and templates outside it', () => {
    expect(composerMode(null, SAMPLE_NOW)).toEqual({ mode: 'none' });
    expect(composerMode(thread(), SAMPLE_NOW)).toEqual({ mode: 'text', closesAt: '2026-11-25T20:00:00.000Z' });
    expect(composerMode(thread({ window: { open: false, closes_at: null } }), SAMPLE_NOW)).toEqual({ mode: 'template', reason: 'window_closed' });
    // Stale data: the server said open, but closes_at has passed on this clock.
    expect(composerMode(thread({ window: { open: true, closes_at: '2026-11-25T11:59:00.000Z' } }), SAMPLE_NOW).mode).toBe('template');
    // The server refused text (409 window_closed): templates, whatever the data said.
    expect(composerMode(thread(), SAMPLE_NOW, true)).toEqual({ mode: 'template', reason: 'server_refused' });
  });

  it('says how long the window stays open', () => {
    expect(windowBadge(thread(), SAMPLE_NOW)).toEqual({ label: 'Window open: closes in 8 h 0 min', variant: 'success' });
    expect(windowBadge(thread({ window: { open: true, closes_at: '2026-11-25T12:42:30.000Z' } }), SAMPLE_NOW).label).toBe('Window open: closes in 42 min');
    expect(windowBadge(thread({ window: { open: false, closes_at: null } }), SAMPLE_NOW)).toEqual({ label: 'Window closed: templates only', variant: 'warning' });
  });
});

describe('bot state', () => {
  it('toggles between the states the server knows', () => {
    expect(botToggle('active')).toEqual({ primary: { action: 'pause', label: 'Pause bot' }, secondary: { action: 'off', label: 'Turn bot off' } });
    expect(botToggle('paused').primary.action).toBe('resume');
    expect(botToggle('handoff_requested').primary.action).toBe('resume');
    expect(botToggle('off')).toEqual({ primary: { action: 'resume', label: 'Turn bot on' }, secondary: null });
  });

  it('labels the state, with the end of a pause in the portal time zone', () => {
    expect(botStateBadge({ state: 'paused', paused_until: '2026-11-25T18:30:00.000Z', history: [] }, 'Europe/Paris')).toEqual({ label: 'Bot paused until 25 Nov, 19:30', variant: 'warning' });
    expect(botStateBadge({ state: 'handoff_requested', paused_until: null, history: [] }).variant).toBe('error');
  });

  it('explains the causes the server records, newest first', () => {
    expect(causeLabel('app_echo')).toBe('Owner replied from the phone app');
    expect(causeLabel('crm_reply')).toBe('A person replied from a CRM or the API');
    expect(causeLabel('crm_hubspot_pause')).toBe('Paused from HubSpot');
    expect(causeLabel('crm_odoo_off')).toBe('Turned off from Odoo');
    expect(causeLabel('crm_zoho_resume')).toBe('Resumed from Zoho CRM');
    expect(causeLabel('crm_newcrm_pause')).toBe('Paused from newcrm');
    expect(causeLabel('manual_pause')).toBe('Paused through the API');
    expect(causeLabel('handoff:asked_for_human')).toBe('Customer asked for a person (asked for human)');
    expect(causeLabel('app_revoke')).toBe('Owner activity in the phone app (revoke)');
    expect(causeLabel('something_new')).toBe('something new');
    expect(causeLabel(null)).toBe('Unknown cause');
    const rows = botHistoryRows(
      [
        { from: 'active', to: 'paused', cause: 'app_echo', actor: null, at: '2026-11-25T09:00:00.000Z' },
        { from: 'paused', to: 'active', cause: 'quiet_period_elapsed', actor: null, at: '2026-11-25T11:00:00.000Z' },
        { from: 'active', to: 'off', cause: 'crm_hubspot_off', actor: 'salma@shop.ma', at: '2026-11-25T10:00:00.000Z' },
      ],
      'UTC',
    );
    expect(rows.map((r) => [r.at, r.change, r.cause, r.actor])).toEqual([
      ['25 Nov, 11:00', 'paused → active', 'Quiet period over: resumed automatically', 'system'],
      ['25 Nov, 10:00', 'active → off', 'Turned off from HubSpot', 'salma@shop.ma'],
      ['25 Nov, 09:00', 'active → paused', 'Owner replied from the phone app', 'system'],
    ]);
  });
});

describe('sync progress and polling', () => {
  it('reads history and contact sync states', () => {
    expect(syncView({ history: { status: 'in_progress', progress: 42.4 }, contacts: { status: 'receiving' } })).toEqual({
      history: { label: 'Importing chat history: 42%', variant: 'info', progress: 42, declined: false },
      contacts: { label: 'Phone contacts synced', variant: 'success' },
    });
    expect(syncView({ history: { status: 'declined', progress: 0 }, contacts: { status: 'requested' } })).toEqual({
      history: { label: 'Owner declined to share chat history', variant: 'warning', progress: null, declined: true },
      contacts: { label: 'Phone contacts requested', variant: 'info' },
    });
    expect(syncView({ history: { status: 'request_failed', progress: 0 }, contacts: { status: 'request_failed' } })).toEqual({
      history: { label: 'Chat history request failed', variant: 'warning', progress: null, declined: false },
      contacts: { label: 'Phone contacts sync failed', variant: 'warning' },
    });
    expect(syncView({ history: { status: 'complete', progress: 100 }, contacts: { status: 'not_requested' } })?.contacts.label).toBe('Phone contacts not synced');
    // States the card does not know yet still read sensibly.
    expect(syncView({ history: { status: 'paused_by_meta', progress: 10 }, contacts: { status: 'on_hold' } })).toMatchObject({ history: { label: 'Chat history: paused by meta' }, contacts: { label: 'Phone contacts: on hold' } });
    // The tenant has no WhatsApp number yet.
    expect(syncView(null)).toBeNull();
  });

  it('polls only while a transcript or a history import is under way', () => {
    const settled = { thread: null, messages: [], sync: { history: { status: 'complete', progress: 100 }, contacts: { status: 'complete' } } };
    expect(refreshDelayMs(settled, 5000)).toBeNull();
    expect(refreshDelayMs({ ...settled, sync: null }, 5000)).toBeNull();
    expect(refreshDelayMs({ ...settled, sync: { ...settled.sync, history: { status: 'in_progress', progress: 5 } } }, 5000)).toBe(5000);
    const voice = parseMessage(msg({ id: 'v', direction: 'inbound', origin: 'customer', type: 'audio', transcript_state: 'pending', timestamp: '2026-11-25T10:00:00Z' }));
    expect(refreshDelayMs({ ...settled, messages: [voice] }, 5000)).toBe(5000);
    expect(refreshDelayMs({ ...settled, messages: [{ ...voice, transcript_state: 'failed' }] }, 5000)).toBeNull();
  });
});
