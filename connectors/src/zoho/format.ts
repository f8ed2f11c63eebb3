import type { ArchivedMessage, BotStateChange, MarketingConsentChange, MessageOrigin, TranscriptNote } from '../types.js';
import { consentHeadline, consentSource } from '../consent-text.js';

/**
 * Plain-text Zoho notes for WhatsApp timelines, transcripts and bot-state changes. Each note ends
 * with a "CoEx refs:" line of markers (one per CoEx message, transcript or state change); before
 * writing, the connector reads the record's recent notes and skips what a marker says is there.
 */

/** Longest message text copied into a note; Zoho notes are meant to be read, not to be a dump. */
const MAX_TEXT_CHARS = 2000;

import { botStateMarker, consentMarker, messageMarker, transcriptMarker } from '../markers.js';

export { botStateMarker, consentMarker, findMarkers, messageMarker, transcriptMarker } from '../markers.js';

const ORIGIN_LABEL: Record<MessageOrigin, string> = {
  customer: 'Customer',
  app: 'Business app',
  api: 'API',
  agent: 'AI agent',
  history: 'History import',
};

export function directionLabel(message: Pick<ArchivedMessage, 'direction' | 'origin'>): string {
  if (message.direction === 'inbound') return message.origin === 'history' ? '← Customer (history)' : '← Customer';
  return `→ ${message.origin === 'customer' ? 'Business' : ORIGIN_LABEL[message.origin]}`;
}

export function formatTimestamp(iso: string): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return `${date.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

function clip(text: string): string {
  return text.length > MAX_TEXT_CHARS ? `${text.slice(0, MAX_TEXT_CHARS)}…` : text;
}

function refs(markers: string[]): string {
  return `CoEx refs: ${markers.join(' ')}`;
}

export interface NoteDraft {
  title: string;
  content: string;
}

export function timelineNote(messages: ArchivedMessage[]): NoteDraft {
  const first = messages[0];
  const count = messages.length === 1 ? '1 message' : `${messages.length} messages`;
  const day = first ? formatTimestamp(first.timestamp).slice(0, 10) : '';
  const who = first?.customerPhone ?? 'unknown number';
  const name = messages.find((m) => m.customerName)?.customerName;
  const lines = messages.map((m) => {
    const status = m.direction === 'outbound' && m.status ? ` (${m.status})` : '';
    const text = m.text !== null && m.text !== '' ? m.text : `[${m.type}]`;
    const transcript = m.transcript
      ? `\n    Transcript${m.transcript.language ? ` (${m.transcript.language})` : ''}: ${clip(m.transcript.text)}`
      : '';
    return `[${formatTimestamp(m.timestamp)}] ${directionLabel(m)}${status}: ${clip(text)}${transcript}`;
  });
  return {
    title: `WhatsApp · ${count} · ${day}`,
    content: `WhatsApp with ${who}${name ? ` (${name})` : ''}\n\n${lines.join('\n')}\n\n${refs(messages.map((m) => messageMarker(m.id)))}`,
  };
}

export function transcriptNote(note: TranscriptNote): NoteDraft {
  return {
    title: `Voice note transcript${note.language ? ` (${note.language})` : ''}`,
    content: `${clip(note.text)}\n\n${formatTimestamp(note.at)} · ${note.provider}\n${refs([transcriptMarker(note.messageId)])}`,
  };
}

export function botStateNote(change: BotStateChange): NoteDraft {
  const until = change.pausedUntil ? ` until ${formatTimestamp(change.pausedUntil)}` : '';
  return {
    title: `WhatsApp bot: ${change.from} → ${change.to}`,
    content: `Bot ${change.from} → ${change.to}${until}\nCause: ${change.cause}\n${formatTimestamp(change.at)}\n${refs([botStateMarker(change)])}`,
  };
}


/** The audit note for a consent change; `tag` is the tag added (opt-out) or removed (opt-in). */
export function consentNote(change: MarketingConsentChange, tag: string): NoteDraft {
  const optOut = change.action === 'opt_out';
  const business = change.businessPhone ? `\nBusiness number: ${change.businessPhone}` : '';
  const effect = optOut
    ? `Tagged "${tag}": do not send WhatsApp marketing to this record.`
    : `Tag "${tag}" removed: WhatsApp marketing may be sent again.`;
  return {
    title: optOut ? 'WhatsApp marketing: opted out' : 'WhatsApp marketing: opted back in',
    content: `${optOut ? 'Opted out of' : 'Opted back in to'} WhatsApp marketing · ${formatTimestamp(change.at)}\nHow: ${consentSource(change)}${business}\n${effect}\n${refs([consentMarker(change.eventId)])}`,
  };
}
