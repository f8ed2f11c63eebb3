import { describe, expect, it } from 'vitest';
import type { ArchivedMessage } from '../types.js';
import { botStateNote, findMarkers, messageMarker, timelineNote, transcriptMarker, transcriptNote } from './format.js';
import { escapeCriteria, splitName } from './connector.js';

const base: ArchivedMessage = {
  id: 'm1',
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
  businessPhone: null,
};

describe('Zoho notes', () => {
  it('render a timeline in plain text with a refs line the connector finds back', () => {
    const note = timelineNote([base, { ...base, id: 'm2', direction: 'outbound', origin: 'app', text: null, type: 'image', status: 'sent' }]);
    expect(note.title).toBe('WhatsApp · 2 messages · 2026-03-01');
    expect(note.content).toContain('WhatsApp with +212612345678 (Amina)');
    expect(note.content).toContain('[2026-03-01 10:00 UTC] ← Customer: hello');
    expect(note.content).toContain('→ Business app (sent): [image]');
    expect(findMarkers(note.content)).toEqual([messageMarker('m1'), messageMarker('m2')]);
  });

  it('clip very long texts', () => {
    const note = timelineNote([{ ...base, text: 'x'.repeat(5000) }]);
    expect(note.content.length).toBeLessThan(2300);
    expect(note.content).toContain('…');
  });

  it('render transcripts and bot-state changes with their markers', () => {
    const t = transcriptNote({ messageId: 'm1', wamid: 'w', threadId: 't', customerPhone: null, customerName: null, text: 'salam', language: null, provider: 'gemini', at: '2026-03-01T10:00:00Z' });
    expect(t.title).toBe('Voice note transcript');
    expect(findMarkers(t.content)).toEqual([transcriptMarker('m1')]);
    const b = botStateNote({ threadId: 't', customerPhone: null, customerName: null, from: 'active', to: 'paused', cause: 'human reply', pausedUntil: '2026-03-01T12:00:00Z', at: '2026-03-01T10:00:00Z' });
    expect(b.content).toContain('Bot active → paused until 2026-03-01 12:00 UTC');
  });
});

describe('criteria and names', () => {
  it('escapes the characters Zoho criteria reserve', () => {
    expect(escapeCriteria('Burns,B (x)\\')).toBe('Burns\\,B \\(x\\)\\\\');
    expect(escapeCriteria('+212 6 12 34 56 78')).toBe('+212 6 12 34 56 78');
  });

  it('splits names into First_Name / Last_Name with the number as a fallback', () => {
    expect(splitName('Amina El Idrissi', '+1')).toEqual({ first: 'Amina', last: 'El Idrissi' });
    expect(splitName('  Karim ', '+1')).toEqual({ first: null, last: 'Karim' });
    expect(splitName(null, '+212612345678')).toEqual({ first: null, last: '+212612345678' });
  });
});
