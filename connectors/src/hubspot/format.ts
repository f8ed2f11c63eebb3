import type { ArchivedMessage, BotStateChange, MarketingConsentChange, MessageOrigin, TranscriptNote } from '../types.js';
import { consentHeadline, consentSource } from '../consent-text.js';

/** HubSpot renders communication and note bodies as HTML: everything we did not write is escaped. */
export function escapeHtml(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

function escapeMultiline(text: string): string {
  return escapeHtml(text).replace(/\r?\n/g, '<br>');
}

/** Who wrote the message, as people reading the timeline need to know it. */
export function originLabel(origin: MessageOrigin, direction: ArchivedMessage['direction']): string {
  switch (origin) {
    case 'customer':
      return '👤 Customer';
    case 'app':
      return '📱 Owner (phone app)';
    case 'api':
      return '💼 Team (via CoEx)';
    case 'agent':
      return '🤖 Agent';
    case 'history':
      return direction === 'inbound' ? '🕓 History import · customer' : '🕓 History import · business';
  }
}

/** "2026-03-01 12:00 UTC": fixed format and zone so every CRM user reads the same time. */
export function formatUtc(iso: string): string {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return iso;
  return `${new Date(t).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

const STATUS_LABEL: Record<string, string> = {
  accepted: 'sent to WhatsApp',
  sent: '✓ sent',
  delivered: '✓✓ delivered',
  read: '✓✓ read',
  played: '✓✓ played',
  failed: '⚠ failed',
};

export function communicationBody(m: ArchivedMessage): string {
  // Outbound messages show their delivery status; a later status re-upserts the same record.
  const status = m.direction === 'outbound' && m.status && STATUS_LABEL[m.status] ? ` · ${STATUS_LABEL[m.status]}` : '';
  const parts = [`<p><strong>${escapeHtml(originLabel(m.origin, m.direction))}</strong> · ${escapeHtml(formatUtc(m.timestamp))}${escapeHtml(status)}</p>`];
  const text = m.text ?? `[${m.type}]`;
  parts.push(`<p>${escapeMultiline(text)}</p>`);
  if (m.transcript?.text) {
    const lang = m.transcript.language ? ` (${escapeHtml(m.transcript.language)})` : '';
    parts.push(`<p><em>🎙️ Transcript${lang}:</em> ${escapeMultiline(m.transcript.text)}</p>`);
  }
  return parts.join('');
}

export function transcriptNoteBody(note: TranscriptNote): string {
  const lang = note.language ? ` · ${escapeHtml(note.language)}` : '';
  return (
    `<p><strong>🎙️ Voice note transcript</strong>${lang} · ${escapeHtml(formatUtc(note.at))} · ${escapeHtml(note.provider)}</p>` +
    `<p>${escapeMultiline(note.text)}</p>`
  );
}

/** One line for the bot state, e.g. "🤖 Agent paused — reason: owner replied from the phone · until 2026-03-01 14:00 UTC". */
export function botStateLine(change: BotStateChange): string {
  const head = {
    paused: '🤖 Agent paused',
    active: '🤖 Agent active again',
    handoff_requested: '🙋 Hand-off to a person requested',
    off: '⏹️ Agent turned off',
  }[change.to];
  const until = change.to === 'paused' && change.pausedUntil ? ` · until ${formatUtc(change.pausedUntil)}` : '';
  return `${head} — reason: ${change.cause}${until}`;
}

export function botStateNoteBody(change: BotStateChange): string {
  return `<p>${escapeHtml(botStateLine(change))}</p><p><em>${escapeHtml(formatUtc(change.at))}</em></p>`;
}

/** Splits a phone-book name into HubSpot's firstname/lastname. */
export function splitName(name: string | null): { firstname?: string; lastname?: string } {
  const clean = name?.trim().replace(/\s+/g, ' ');
  if (!clean) return {};
  const space = clean.indexOf(' ');
  if (space === -1) return { firstname: clean };
  return { firstname: clean.slice(0, space), lastname: clean.slice(space + 1) };
}



/** One-line summary, e.g. for a contact property: "Opted out · the customer wrote "baraka" · 2026-03-01 12:00 UTC". */
export function consentSummary(change: MarketingConsentChange): string {
  const business = change.businessPhone ? ` · business number ${change.businessPhone}` : '';
  return `${change.action === 'opt_out' ? 'Opted out' : 'Opted in'} · ${consentSource(change)}${business} · ${formatUtc(change.at)}`;
}

export function consentNoteBody(change: MarketingConsentChange): string {
  const business = change.businessPhone ? `<br>Business number: ${escapeHtml(change.businessPhone)}` : '';
  const effect =
    change.action === 'opt_out'
      ? 'Do not send WhatsApp marketing (campaigns, promotional templates) to this contact.'
      : 'WhatsApp marketing may be sent to this contact again.';
  return (
    `<p><strong>${escapeHtml(consentHeadline(change))}</strong> · ${escapeHtml(formatUtc(change.at))}</p>` +
    `<p>How: ${escapeHtml(consentSource(change))}${business}<br>${escapeHtml(effect)}</p>`
  );
}
