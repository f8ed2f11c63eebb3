import type { ArchivedMessage, BotStateChange, MarketingConsentChange, MessageOrigin, TranscriptNote } from '../types.js';
import { consentHeadline, consentSource } from '../consent-text.js';

/**
 * Chatter HTML for WhatsApp timelines, transcripts and bot-state changes, plus the idempotency
 * markers hidden inside them.
 *
 * Where the markers go: Odoo sanitizes `mail.message.body` on write and keeps only whitelisted
 * attributes (lxml's safe_attrs plus some `data-oe-*` ones, odoo/tools/mail.py), so a custom
 * `data-coex-*` attribute is stripped. `title` and `class` are whitelisted: each note ends with an
 * empty `<span class="d-none" title="coex-msg-… coex-msg-…">` — nothing for the merchant to see in
 * the chatter (verified on a real Odoo 19), still found by `body ilike` on the stored HTML.
 */

import { botStateMarker, consentMarker, messageMarker, transcriptMarker } from '../markers.js';

export { botStateMarker, consentMarker, findMarkers, messageMarker, transcriptMarker } from '../markers.js';

export function escapeHtml(text: string): string {
  return text
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}

/** Escaped text with line breaks kept. */
function escapeMultiline(text: string): string {
  return escapeHtml(text).replaceAll(/\r?\n/g, '<br>');
}

const ORIGIN_LABEL: Record<MessageOrigin, string> = {
  customer: 'Customer',
  app: 'Business app',
  api: 'API',
  agent: 'AI agent',
  history: 'History import',
};

/** "⬅ Customer" / "➡ AI agent": who wrote it, seen from the business. */
export function directionLabel(message: Pick<ArchivedMessage, 'direction' | 'origin'>): string {
  if (message.direction === 'inbound') {
    return message.origin === 'history' ? '⬅ Customer (history)' : '⬅ Customer';
  }
  return `➡ ${message.origin === 'customer' ? 'Business' : ORIGIN_LABEL[message.origin]}`;
}

/** "2026-01-05 14:03 UTC", or the raw value when it is not a date. */
export function formatTimestamp(iso: string): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return `${date.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

export function messageText(message: Pick<ArchivedMessage, 'text' | 'type'>): string {
  return message.text !== null && message.text !== '' ? message.text : `[${message.type}]`;
}

/** Markers are hex tokens (markers.ts): safe inside a quoted attribute as they are. */
function footer(markers: string[]): string {
  return `<span class="d-none" title="${markers.join(' ')}"></span>`;
}

/** One chatter note for a run of messages of one customer (a timeline block). */
export function renderTimelineHtml(messages: ArchivedMessage[]): string {
  const first = messages[0];
  const who = first?.customerPhone ?? 'unknown number';
  const name = messages.find((m) => m.customerName)?.customerName;
  const count = messages.length === 1 ? '1 message' : `${messages.length} messages`;
  const header = `<p><b>WhatsApp</b> · ${count} · ${escapeHtml(who)}${name ? ` (${escapeHtml(name)})` : ''}</p>`;
  const items = messages.map((m) => {
    const status = m.direction === 'outbound' && m.status ? ` · ${escapeHtml(m.status)}` : '';
    const transcript = m.transcript
      ? `<br><i>Transcript${m.transcript.language ? ` (${escapeHtml(m.transcript.language)})` : ''}: ${escapeMultiline(m.transcript.text)}</i>`
      : '';
    return `<li><b>${escapeHtml(directionLabel(m))}</b> · ${escapeHtml(formatTimestamp(m.timestamp))}${status}<br>${escapeMultiline(messageText(m))}${transcript}</li>`;
  });
  return `${header}<ul>${items.join('')}</ul>${footer(messages.map((m) => messageMarker(m.id)))}`;
}

export function renderTranscriptHtml(note: TranscriptNote): string {
  const lang = note.language ? ` (${escapeHtml(note.language)})` : '';
  return (
    `<p><b>🎙 Voice note transcript</b>${lang} · ${escapeHtml(formatTimestamp(note.at))} · ${escapeHtml(note.provider)}</p>` +
    // Not a <blockquote>: Odoo's chatter takes it for a quoted e-mail and folds it behind "•••"
    // (seen on a real Odoo 19), so the transcript would be hidden from the merchant.
    `<p><i>${escapeMultiline(note.text)}</i></p>` +
    footer([transcriptMarker(note.messageId)])
  );
}

export function renderBotStateHtml(change: BotStateChange): string {
  const until = change.pausedUntil ? ` until ${escapeHtml(formatTimestamp(change.pausedUntil))}` : '';
  return (
    `<p><b>🤖 WhatsApp bot:</b> ${escapeHtml(change.from)} → ${escapeHtml(change.to)}${until}</p>` +
    `<p>Cause: ${escapeHtml(change.cause)} · ${escapeHtml(formatTimestamp(change.at))}</p>` +
    footer([botStateMarker(change)])
  );
}


/** What happened to Odoo's phone blacklist for this change. */
export type BlacklistOutcome = 'added' | 'removed' | 'unavailable';

/** The short text Odoo logs on the phone.blacklist entry (its `message` argument). */
export function blacklistMessage(change: MarketingConsentChange): string {
  const verb = change.action === 'opt_out' ? 'Opted out of' : 'Opted back in to';
  return `${verb} WhatsApp marketing via CoEx: ${consentSource(change)} (${formatTimestamp(change.at)})`;
}

export function renderConsentHtml(change: MarketingConsentChange, phone: string, blacklist: BlacklistOutcome): string {
  const head = change.action === 'opt_out' ? '🚫 Opted out of WhatsApp marketing' : '✅ Opted back in to WhatsApp marketing';
  const business = change.businessPhone ? ` · business number ${escapeHtml(change.businessPhone)}` : '';
  const effect =
    blacklist === 'added'
      ? `${escapeHtml(phone)} was added to the phone blacklist: SMS and WhatsApp marketing from Odoo skip it.`
      : blacklist === 'removed'
        ? `${escapeHtml(phone)} was removed from the phone blacklist: marketing may reach it again.`
        : `The phone blacklist is not available on this database (phone_validation not installed): nothing was blacklisted — ${
            change.action === 'opt_out' ? 'exclude this contact from WhatsApp marketing by hand.' : 'this note is the only record.'
          }`;
  return (
    `<p><b>${head}</b> · ${escapeHtml(formatTimestamp(change.at))}</p>` +
    `<p>How: ${escapeHtml(consentSource(change))}${business}<br>${effect}</p>` +
    footer([consentMarker(change.eventId)])
  );
}
