import { describe, expect, it } from 'vitest';
import type { ArchivedMessage } from '../types.js';
import {
  botStateMarker,
  directionLabel,
  escapeHtml,
  findMarkers,
  formatTimestamp,
  messageMarker,
  renderBotStateHtml,
  renderTimelineHtml,
  renderTranscriptHtml,
  transcriptMarker,
} from './format.js';

const base: ArchivedMessage = {
  id: 'msg-1',
  wamid: 'wamid.1',
  threadId: 't1',
  direction: 'inbound',
  origin: 'customer',
  type: 'text',
  text: 'hello',
  timestamp: '2026-03-01T10:00:00Z',
  status: null,
  customerPhone: '+212612345678',
  customerName: 'Amina',
  businessPhone: '+212522000000',
};

describe('markers', () => {
  it('are stable, distinct per kind, hex only (no LIKE wildcards) and found back in a body', () => {
    expect(messageMarker('msg-1')).toBe(messageMarker('msg-1'));
    expect(messageMarker('msg-1')).not.toBe(messageMarker('msg-2'));
    expect(messageMarker('msg_1%')).toMatch(/^coex-msg-[0-9a-f]{16}$/);
    expect(transcriptMarker('msg-1')).toMatch(/^coex-tr-[0-9a-f]{16}$/);
    const html = renderTimelineHtml([base, { ...base, id: 'msg-2' }]);
    expect(findMarkers(html)).toEqual([messageMarker('msg-1'), messageMarker('msg-2')]);
  });

  it('stay out of the text merchants read in the chatter (an empty element, in an attribute Odoo keeps)', () => {
    const html = renderTimelineHtml([base]);
    expect(html).toContain(`<span class="d-none" title="${messageMarker('msg-1')}"></span>`);
    const visible = html.replace(/<[^>]*>/g, '');
    expect(visible).not.toMatch(/coex-|CoEx refs/);
  });

  it('identify a bot-state change by thread, time and transition', () => {
    const change = { threadId: 't1', at: '2026-03-01T10:00:00Z', from: 'active', to: 'paused' } as const;
    expect(botStateMarker(change)).toBe(botStateMarker({ ...change }));
    expect(botStateMarker(change)).not.toBe(botStateMarker({ ...change, to: 'off' }));
  });
});

describe('rendering', () => {
  it('escapes every HTML-significant character', () => {
    expect(escapeHtml(`<a href="x">'&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
  });

  it('labels who wrote each message from the business point of view', () => {
    expect(directionLabel({ direction: 'inbound', origin: 'customer' })).toBe('⬅ Customer');
    expect(directionLabel({ direction: 'outbound', origin: 'agent' })).toBe('➡ AI agent');
    expect(directionLabel({ direction: 'outbound', origin: 'app' })).toBe('➡ Business app');
    expect(directionLabel({ direction: 'inbound', origin: 'history' })).toBe('⬅ Customer (history)');
  });

  it('formats timestamps in UTC and keeps unparseable ones as they are', () => {
    expect(formatTimestamp('2026-03-01T11:05:09+01:00')).toBe('2026-03-01 10:05 UTC');
    expect(formatTimestamp('yesterday')).toBe('yesterday');
  });

  it('renders a timeline with line breaks, media placeholders and outbound status', () => {
    const html = renderTimelineHtml([
      { ...base, text: 'line 1\nline 2' },
      { ...base, id: 'msg-2', direction: 'outbound', origin: 'agent', type: 'image', text: null, status: 'delivered' },
    ]);
    expect(html).toContain('2 messages · +212612345678 (Amina)');
    expect(html).toContain('line 1<br>line 2');
    expect(html).toContain('[image]');
    expect(html).toContain('· delivered');
  });

  it('renders a bot-state change with its cause and pause end', () => {
    const html = renderBotStateHtml({
      threadId: 't1',
      customerPhone: null,
      customerName: null,
      from: 'active',
      to: 'handoff_requested',
      cause: 'customer asked for <a human>',
      pausedUntil: null,
      at: '2026-03-01T10:00:00Z',
    });
    expect(html).toContain('active → handoff_requested');
    expect(html).toContain('customer asked for &lt;a human&gt;');
    expect(html).not.toContain('until');
  });
});

describe('transcript notes', () => {
  it('show the transcript as plain text, not in a <blockquote> that Odoo folds away as a quote', () => {
    const html = renderTranscriptHtml({ messageId: 'm1', wamid: 'w1', threadId: 't1', customerPhone: '+212612345678', customerName: 'Amina', text: 'salam\nfin wslat', language: 'ar-MA', provider: 'gemini', at: '2026-03-01T10:00:00Z' });
    expect(html).not.toContain('<blockquote');
    expect(html).toContain('<p><i>salam<br>fin wslat</i></p>');
  });
});
