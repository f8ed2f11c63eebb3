import { describe, expect, it } from 'vitest';
import * as logic from './thread-view.js';

// Fixtures shaped like docs/extension-api.md (GET /thread, GET /templates, GET /campaigns).
const NOW = Date.parse('2026-03-02T12:00:00Z');

describe('timeline', () => {
  it('reads ISO strings, epoch seconds (also as strings) and epoch milliseconds', () => {
    expect(logic.parseTimestamp('1772452800')).toBe(1772452800000);
    expect(logic.parseTimestamp(1772452800)).toBe(1772452800000);
    expect(logic.parseTimestamp(1772452800000)).toBe(1772452800000);
    expect(logic.parseTimestamp('2026-03-02T12:00:00Z')).toBe(NOW);
    expect(logic.parseTimestamp('2026-03-02T12:00:00')).toBe(NOW); // WooCommerce GMT, no zone
    expect(logic.parseTimestamp('2026-03-02T13:00:00+01:00')).toBe(NOW);
    expect([null, undefined, '', 'soon'].map((v) => logic.parseTimestamp(v))).toEqual([null, null, null, null]);
  });

  it('groups by day in the time zone, oldest first, once per id, unreadable times last', () => {
    const groups = logic.buildTimeline(
      [
        { id: 'b', direction: 'outbound', origin: 'app', text: 'Salam', timestamp: '2026-03-01T23:30:00Z', status: 'read' },
        { id: 'a', direction: 'inbound', origin: 'customer', text: 'Bonjour', timestamp: '2026-03-01T22:30:00Z' },
        { id: 'a', direction: 'inbound', origin: 'history', text: 'Bonjour (copy)', timestamp: '2026-03-01T22:30:00Z' },
        { id: 'c', direction: 'inbound', origin: 'customer', type: 'audio', timestamp: 'later' },
        { id: 'd', direction: 'inbound', origin: 'robot', type: 'image', timestamp: 1772452800 },
      ],
      { timeZone: 'Europe/Paris', locale: 'fr' },
    );
    expect(groups.map((g) => [g.day, g.items.map((i) => i.id)])).toEqual([
      ['2026-03-01', ['a']],
      ['2026-03-02', ['b', 'd']],
      ['unknown', ['c']],
    ]);
    expect(groups[0]?.items[0]).toMatchObject({ direction: 'inbound', badge: { key: 'customer' }, body: { kind: 'text', text: 'Bonjour' } });
    expect(groups[1]?.items[0]).toMatchObject({ direction: 'outbound', badge: { key: 'phone_app', css: 'app' }, status: 'read' });
    expect(groups[1]?.items[1]).toMatchObject({ badge: { key: 'unknown' }, body: { kind: 'media', mediaType: 'image' } });
    expect(groups[2]?.items[0]?.transcript.kind).toBe('pending');
    expect(groups[1]?.label).toMatch(/2 mars 2026/);
  });

  it('says whether a voice note is being transcribed, transcribed or will not be', () => {
    expect(logic.transcriptView({ type: 'audio', transcript: ' bghit nchri ' })).toEqual({ kind: 'text', text: 'bghit nchri' });
    expect(logic.transcriptView({ type: 'audio', transcript_state: 'transcribing' }).kind).toBe('pending');
    expect(logic.transcriptView({ type: 'audio', transcript_state: 'failed' }).kind).toBe('failed');
    expect(logic.transcriptView({ type: 'text', text: 'hi' }).kind).toBe('none');
  });
});

describe('window, bot and sync', () => {
  const thread = (window: unknown, bot?: unknown) => ({ thread: { id: 't1', window, bot } });

  it('offers free text only while the window is open and its closing time ahead', () => {
    expect(logic.composerMode(thread({ open: true, closes_at: '2026-03-02T13:30:00Z' }), NOW)).toEqual({ mode: 'text', closesAt: NOW + 90 * 60000, minutesLeft: 90 });
    expect(logic.composerMode(thread({ open: true, closes_at: '2026-03-02T11:00:00Z' }), NOW).mode).toBe('template');
    expect(logic.composerMode(thread({ open: false }), NOW).mode).toBe('template');
    expect(logic.composerMode({ thread: null }, NOW).mode).toBe('none');
    expect(logic.isWindowClosedError({ code: 'window_closed' })).toBe(true);
    expect(logic.isWindowClosedError(Object.assign(new Error('x'), { status: 409 }))).toBe(true);
    expect(logic.isWindowClosedError(new Error('x'))).toBe(false);
  });

  it('gives the bot state, its toggle and the causes of its changes, newest first', () => {
    const change = (cause: string, at: string) => ({ from: 'active', to: 'paused', cause, at });
    const view = logic.botView({ state: 'paused', paused_until: '2026-03-02T14:00:00Z', history: [change('app_echo', '2026-03-02T11:00:00Z'), change('something_new', '2026-03-02T11:30:00Z')] }, NOW);
    expect(view).toMatchObject({ key: 'bot_paused', toggleAction: 'resume', canTurnOff: true, pausedUntil: Date.parse('2026-03-02T14:00:00Z') });
    expect(view?.history.map((h) => [h.cause, h.causeKey])).toEqual([['something_new', null], ['app_echo', 'cause_app_echo']]);
    const states = ['active', 'handoff_requested', 'off', 'sleeping'].map((state) => logic.botView({ state }, NOW));
    expect(states.map((v) => [v?.key, v?.toggleAction, v?.canTurnOff])).toEqual([
      ['bot_active', 'pause', true],
      ['bot_handoff', 'resume', true],
      ['bot_off', 'resume', false],
      ['bot_unknown', 'resume', true],
    ]);
    expect(logic.botView({ state: 'paused', paused_until: '2026-03-01T00:00:00Z' }, NOW)?.pausedUntil).toBeNull();
    expect(logic.botView(null, NOW)).toBeNull();
  });

  it("says who holds the thread when it is not CoEx (Meta's agent, another app), and nothing otherwise", () => {
    expect(logic.controlView({ holder: 'meta_agent', app_id: null, since: '2026-03-02T11:00:00Z' })).toEqual({
      holder: 'meta_agent',
      labelKey: 'control_meta_agent',
      detailKey: 'control_meta_agent_detail',
      appId: null,
      since: Date.parse('2026-03-02T11:00:00Z'),
    });
    expect(logic.controlView({ holder: 'other_app', app_id: '1234567890', since: null })).toEqual({
      holder: 'other_app',
      labelKey: 'control_other_app',
      detailKey: 'control_other_app_detail',
      appId: '1234567890',
      since: null,
    });
    // A holder the UI does not know is still not CoEx: the server's agent answers only for `coex`.
    expect(logic.controlView({ holder: 'page_inbox', app_id: 42, since: 'whenever' })).toMatchObject({ holder: 'other_app', appId: '42', since: null });
    // Meta's agent has no app id to show, even if one came along.
    expect(logic.controlView({ holder: 'meta_agent', app_id: '99' })?.appId).toBeNull();
    // CoEx holds it (the normal case), an older server without `control`, or garbage: nothing to show.
    for (const input of [{ holder: 'coex', app_id: null, since: '2026-03-02T11:00:00Z' }, undefined, null, 'meta_agent', 7, [], ['meta_agent'], {}, { holder: null }, { holder: 3 }, { holder: '  ' }, { holder: { name: 'meta_agent' } }]) {
      expect(logic.controlView(input), JSON.stringify(input)).toBeNull();
    }
  });

  it('shows history import progress only while it runs or when it did not happen', () => {
    expect(logic.syncView({ history: { status: 'in_progress', progress: 0.64 } }).history).toMatchObject({ running: true, percent: 64, visible: true });
    expect(logic.syncView({ history: { status: 'in_progress', progress: { percent: 57.6 } } }).history.percent).toBe(58);
    expect(logic.syncView({ history: { status: 'complete' } }).history.visible).toBe(false);
    expect(logic.syncView(undefined).contacts.status).toBe('unknown');
  });
});


// Fixtures shaped like docs/extension-api.md (GET /templates, GET /campaigns).
const TEMPLATES = {
  templates: [
    { name: 'hello_world', language: 'en_US', category: 'UTILITY', body: 'Hello World', parameters: { format: 'positional', names: [] }, sendable: true, unsendable_reason: null },
    { name: 'order_shipped', language: 'fr', category: 'UTILITY', body: 'Bonjour {{1}}, votre commande {{2}} est en route.', parameters: { format: 'positional', names: ['1', '2'] }, sendable: true, unsendable_reason: null },
    { name: 'promo_photo', language: 'fr', category: 'MARKETING', body: 'Nouveautés !', parameters: { format: 'positional', names: [] }, sendable: false, unsendable_reason: 'needs an image header' },
    { name: 'welcome_named', language: 'ar', category: 'MARKETING', body: 'Salam {{first_name}}, code {{ code }}. Merci {{first_name}} !', parameters: { format: 'named', names: ['first_name', 'code'] }, sendable: true, unsendable_reason: null },
    { name: 'otp', language: 'en', category: 'AUTHENTICATION', body: '{{1}} is your code', parameters: { format: 'positional', names: ['1'] }, sendable: false, unsendable_reason: 'authentication template' },
  ],
  stale: false,
  fetched_at: '2026-12-04T10:00:00.000Z',
};

/** One campaign report of GET /campaigns; `counts` lists sent, delivered, read, failed, replied, total. */
function report(id: string, name: string, status: string, template: [string, string], started: [string, string | null], counts: number[], recipient: Record<string, unknown>) {
  const [sent, delivered, read, failed, replied, total] = counts;
  return {
    id, name, status,
    template: { name: template[0], language: template[1], category: 'marketing' },
    created_at: started[0], started_at: started[1], completed_at: null,
    counts: { total, queued: 0, sending: 0, skipped: 0, sent, delivered, read, failed, replied },
    failures: [],
    recipient,
  };
}

const CAMPAIGNS = {
  campaigns: [
    report('c-2', 'Soldes Ramadan', 'running', ['promo_ramadan', 'ar'], ['2026-03-01T09:00:00Z', '2026-03-01T10:00:00Z'], [1180, 1100, 870, 6, 95, 1200], { status: 'sent', message_status: 'read', error_code: null, error: null, sent_at: '2026-03-01T10:00:05Z', replied: true }),
    report('c-1', 'Rentrée', 'completed', ['rentree', 'fr'], ['2026-01-01T09:00:00Z', null], [2, 1, 0, 1, 0, 3], { status: 'failed', message_status: 'failed', error_code: 131049, error: 'Meta chose not to deliver (ecosystem)', sent_at: null, replied: false }),
  ],
  opt_out: { source: 'keyword', detail: 'baraka', at: '2026-03-02T08:00:00Z' },
};

describe('templates, campaigns and scrolling', () => {
  it('lists only sendable templates, counts the others, keeps the parameter names and format', () => {
    const view = logic.templateChoices(TEMPLATES);
    expect(view.choices.map((c) => c.id)).toEqual(['hello_world|en_US', 'order_shipped|fr', 'welcome_named|ar']);
    expect(view.unsendable).toBe(2);
    expect(view.stale).toBe(false);
    expect(view.fetchedAt).toBe(Date.parse('2026-12-04T10:00:00.000Z'));
    expect(view.choices[1]).toMatchObject({ format: 'positional', names: ['1', '2'] });
    expect(view.choices[2]).toMatchObject({ format: 'named', names: ['first_name', 'code'] });
    expect(logic.templateChoices({ ...TEMPLATES, stale: true }).stale).toBe(true);
    expect(logic.templateChoices(null)).toEqual({ choices: [], unsendable: 0, stale: false, fetchedAt: null });
  });

  it('fills the preview with the values typed so far and marks the missing placeholders', () => {
    const [, shipped, named] = logic.templateChoices(TEMPLATES).choices;
    const partial = logic.templatePreview(shipped, { '1': ' Salma ' });
    expect(partial.text).toBe('Bonjour Salma, votre commande {{2}} est en route.');
    expect(partial.segments.filter((s) => s.name !== null).map((s) => [s.name, s.filled])).toEqual([['1', true], ['2', false]]);
    // Named placeholders may repeat and carry spaces inside the braces.
    expect(logic.templatePreview(named, { first_name: 'Youssef', code: 'R-20' }).text).toBe('Salam Youssef, code R-20. Merci Youssef !');
    expect(logic.templatePreview(null, {}).text).toBe('');
    expect(logic.templatePreview(named, { first_name: 'Youssef' }).text).toBe('Salam Youssef, code {{ code }}. Merci Youssef !');
  });

  it('builds body_parameters as an array (positional) or an object (named), only when every value is valid', () => {
    const [hello, shipped, named] = logic.templateChoices(TEMPLATES).choices;
    expect(logic.templateMessage(hello, {})).toEqual({ name: 'hello_world', language: 'en_US' });
    expect(logic.templateMessage(shipped, { '1': 'Salma' })).toBeNull();
    expect(logic.templateMessage(shipped, { '2': '#1042', '1': ' Salma ' })).toEqual({ name: 'order_shipped', language: 'fr', body_parameters: ['Salma', '#1042'] });
    expect(logic.templateMessage(named, { first_name: 'Youssef', code: 'R-20' })).toEqual({ name: 'welcome_named', language: 'ar', body_parameters: { first_name: 'Youssef', code: 'R-20' } });
    expect(logic.templateMessage(named, { first_name: 'Youssef', code: 'a\tb' })).toBeNull();
    expect(logic.templateMessage(null, {})).toBeNull();
    expect(['', '   ', 'ok', 'two\nlines', 'five     spaces', 'four    ok', 'x'.repeat(1025)].map((v) => logic.templateParameterProblem(v))).toEqual(['param_required', 'param_required', null, 'param_whitespace', 'param_whitespace', null, 'param_too_long']);
  });

  it("summarises each campaign with this customer's outcome and the campaign totals, and the opt-out", () => {
    const view = logic.campaignsView(CAMPAIGNS);
    expect(view.campaigns.map((c) => [c.name, c.statusKey, c.template])).toEqual([
      ['Soldes Ramadan', 'campaign_running', 'promo_ramadan (ar)'],
      ['Rentrée', 'campaign_completed', 'rentree (fr)'],
    ]);
    expect(view.campaigns[0]?.outcome).toMatchObject({ key: 'read', labelKey: 'outcome_read', replied: true, errorCode: '', error: '', sending: false, skipReason: '' });
    expect(view.campaigns[0]?.totals).toEqual({ total: 1200, sent: 1180, delivered: 1100, read: 870, failed: 6, replied: 95 });
    expect(view.campaigns[1]?.outcome).toMatchObject({ key: 'failed', errorCode: '131049', error: 'Meta chose not to deliver (ecosystem)', replied: false });
    expect(view.campaigns[1]?.startedAt).toBe(Date.parse('2026-01-01T09:00:00Z')); // not started: creation date
    expect(view.optOut).toEqual({ source: 'keyword', sourceKey: 'opt_out_keyword', detail: 'baraka', at: Date.parse('2026-03-02T08:00:00Z') });
    expect(logic.campaignsView({ campaigns: [], opt_out: { source: '131050', detail: null, at: null } }).optOut?.sourceKey).toBe('opt_out_meta');
    // "Stop promotions" in WhatsApp itself (user_preferences) is told apart from a keyword.
    expect(logic.campaignsView({ campaigns: [], opt_out: { source: 'whatsapp', detail: 'stop', at: null } }).optOut?.sourceKey).toBe('opt_out_whatsapp');
    expect(logic.campaignsView({ campaigns: [{ name: 'tenant-wide', recipient: null, counts: { total: -1 } }], opt_out: null })).toMatchObject({ optOut: null, campaigns: [{ outcome: null, totals: { total: 0 } }] });
  });

  it('maps every recipient state to the furthest outcome reached', () => {
    const outcome = (status: string, message_status: string | null) => logic.recipientOutcome({ status, message_status })?.key;
    expect([
      outcome('queued', null), outcome('sending', null), outcome('skipped', null), outcome('sent', 'accepted'), outcome('sent', 'sent'),
      outcome('sent', 'delivered'), outcome('sent', 'read'), outcome('sent', 'played'), outcome('sent', 'failed'), outcome('failed', null),
    ]).toEqual(['pending', 'pending', 'skipped', 'sent', 'sent', 'delivered', 'read', 'read', 'failed', 'failed']);
    expect(logic.recipientOutcome({ status: 'sending' })?.sending).toBe(true);
    expect(logic.recipientOutcome({ status: 'skipped', error: 'opted_out' })).toMatchObject({ key: 'skipped', skipReason: 'opted_out', error: '' });
    expect(logic.recipientOutcome(null)).toBeNull();
  });

  it('scrolls to the newest message on load and after sending, and keeps the position of a reader who scrolled up', () => {
    const after = { scrollTop: 0, scrollHeight: 1500, clientHeight: 420 };
    const atBottom = { scrollTop: 660, scrollHeight: 1080, clientHeight: 420 };
    const scrolledUp = { scrollTop: 100, scrollHeight: 1080, clientHeight: 420 };
    expect(logic.nextScrollTop('load', null, after)).toBe(1080);
    expect(logic.nextScrollTop('sent', scrolledUp, after)).toBe(1080);
    expect(logic.nextScrollTop('refresh', atBottom, after)).toBe(1080);
    expect(logic.nextScrollTop('refresh', { ...atBottom, scrollTop: 620 }, after)).toBe(1080); // within the slack
    expect(logic.nextScrollTop('refresh', scrolledUp, after)).toBe(100);
    expect(logic.nextScrollTop('refresh', { scrollTop: 900, scrollHeight: 2000, clientHeight: 420 }, { scrollTop: 0, scrollHeight: 600, clientHeight: 420 })).toBe(180);
    expect(logic.nextScrollTop('load', null, { scrollTop: 0, scrollHeight: 300, clientHeight: 420 })).toBe(0); // fits: nothing to scroll
  });
});
