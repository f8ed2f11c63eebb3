import type { ArchivedMessage, BotStateChange, MarketingConsentChange, TranscriptNote } from '../types.js';
import { botStateLine, escapeHtml, formatUtc, originLabel } from '../hubspot/format.js';
import { consentHeadline, consentSource } from '../consent-text.js';

/**
 * Order notes are shown through wp_kses_post(), so customer text is HTML-escaped (a "<b>" typed on
 * WhatsApp stays literal). Each note ends with an empty, invisible element listing what it contains
 * in a data attribute; the connector reads these back from the order's notes before writing, which
 * is what makes archiving idempotent (WooCommerce has no idempotency key and no note metadata over
 * REST). wp_kses_post keeps `data-*` attributes and the REST API returns the raw note, so merchants
 * never see the keys while the connector still finds them:
 *
 *   <span data-coex-refs="msg-1 msg-2 msg-3"></span>             messages
 *   <span data-coex-refs="transcript:msg-9"></span>              a voice-note transcript
 *   <span data-coex-refs="bot:thread-1:paused:2026-…"></span>    a bot-state change
 *   <span data-coex-refs="consent:evt-42"></span>                a marketing opt-out / opt-in
 *
 * Notes written before this change carried a visible `[coex:…]` line; those are still read.
 */
const MARKER = /<span data-coex-refs="([^"<>]*)"><\/span>/g;
const LEGACY_MARKER = /\[coex:([^\]\n]+)\]/g;

/** Ids may not contain spaces, quotes or "]" inside a marker: percent-encode anything outside a safe set. */
function encodeKey(key: string): string {
  return key.replace(/[^A-Za-z0-9._:@+\-=/]/g, (c) => encodeURIComponent(c));
}

export function marker(keys: string[]): string {
  return `<span data-coex-refs="${keys.map(encodeKey).join(' ')}"></span>`;
}

/** True when a note was written by CoEx (it carries a marker, current or legacy). */
export function isCoexNote(note: string): boolean {
  return markedKeys(note).length > 0;
}

/** Every key carried by the markers in a note's text. */
export function markedKeys(note: string): string[] {
  const keys: string[] = [];
  for (const match of [...note.matchAll(MARKER), ...note.matchAll(LEGACY_MARKER)]) {
    for (const part of (match[1] ?? '').split(/\s+/)) {
      if (!part) continue;
      try {
        keys.push(decodeURIComponent(part));
      } catch {
        keys.push(part);
      }
    }
  }
  return keys;
}

/** Lines of a note, the marker appended to the last one (its own line would render as an empty line). */
function withMarker(lines: string[], keys: string[]): string {
  return `${lines.join('\n')}${marker(keys)}`;
}

function oneLine(text: string): string {
  return escapeHtml(text).replace(/\r?\n/g, ' ⏎ ');
}

/** A small timeline, one line per message, oldest first. */
export function timelineNote(messages: ArchivedMessage[]): string {
  const lines = [`💬 WhatsApp · ${messages.length} message${messages.length === 1 ? '' : 's'}`];
  for (const m of messages) {
    let line = `[${formatUtc(m.timestamp)}] ${originLabel(m.origin, m.direction)}: ${oneLine(m.text ?? `[${m.type}]`)}`;
    if (m.transcript?.text) line += ` — 🎙️ ${oneLine(m.transcript.text)}`;
    lines.push(line);
  }
  return withMarker(lines, messages.map((m) => m.id));
}

export function transcriptKey(messageId: string): string {
  return `transcript:${messageId}`;
}

export function transcriptNote(note: TranscriptNote): string {
  const lang = note.language ? ` (${escapeHtml(note.language)})` : '';
  return withMarker(
    [`🎙️ Voice note transcript${lang} · ${formatUtc(note.at)} · ${escapeHtml(note.provider)}`, escapeHtml(note.text)],
    [transcriptKey(note.messageId)],
  );
}

export function botStateKey(change: BotStateChange): string {
  return `bot:${change.threadId}:${change.to}:${change.at}`;
}

export function botStateNote(change: BotStateChange): string {
  return withMarker([escapeHtml(botStateLine(change))], [botStateKey(change)]);
}

export function consentKey(change: Pick<MarketingConsentChange, 'eventId'>): string {
  return `consent:${change.eventId}`;
}

/** The private order note shop staff see when a customer opts out of (or back into) WhatsApp marketing. */
export function consentNote(change: MarketingConsentChange, customerMarked: boolean): string {
  const effect =
    change.action === 'opt_out'
      ? 'Do not send WhatsApp marketing (campaigns, promotional templates) to this customer.'
      : 'WhatsApp marketing may be sent to this customer again.';
  const lines = [
    `${consentHeadline(change)} · ${formatUtc(change.at)}`,
    `How: ${escapeHtml(consentSource(change))}${change.businessPhone ? ` · business number ${escapeHtml(change.businessPhone)}` : ''}`,
    effect,
  ];
  if (customerMarked) lines.push(`Saved on the customer account (meta ${WOO_CONSENT_META.optOut} = ${change.action === 'opt_out' ? 'yes' : 'no'}).`);
  return withMarker(lines, [consentKey(change)]);
}

/** Customer meta_data keys holding WhatsApp marketing consent (see docs/decisions/crm-marketing-opt-out.md). */
export const WOO_CONSENT_META = {
  /** "yes" = do not send WhatsApp marketing; "no" = opted back in. */
  optOut: 'coex_whatsapp_marketing_opt_out',
  /** ISO 8601 time of the last change. */
  changedAt: 'coex_whatsapp_marketing_opt_out_date',
  /** How it changed (one line). */
  detail: 'coex_whatsapp_marketing_consent_detail',
  /** CoEx event id of the last change applied: makes a retried update a no-op. */
  eventId: 'coex_whatsapp_marketing_consent_event',
} as const;
