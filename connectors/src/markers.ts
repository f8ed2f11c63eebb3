import { createHash } from 'node:crypto';
import type { BotStateChange } from './types.js';

/**
 * Idempotency markers written into CRM notes (Odoo chatter, Zoho notes): a short hash per CoEx
 * message, transcript, bot-state change or marketing-consent change. Before writing, a connector
 * reads the record's notes and skips what a marker says is already there. Hex only: safe in HTML
 * and free of SQL LIKE wildcards.
 */
const MARKER_RE = /coex-(?:msg|tr|bot|consent)-[0-9a-f]{16}/g;

function shortHash(input: string): string {
  return createHash('sha256').update(input).digest('hex').slice(0, 16);
}

export function messageMarker(messageId: string): string {
  return `coex-msg-${shortHash(messageId)}`;
}

export function transcriptMarker(messageId: string): string {
  return `coex-tr-${shortHash(messageId)}`;
}

export function botStateMarker(change: Pick<BotStateChange, 'threadId' | 'at' | 'from' | 'to'>): string {
  return `coex-bot-${shortHash(`${change.threadId}|${change.at}|${change.from}|${change.to}`)}`;
}

/** One marketing-consent change (opt-out or opt-in), keyed by CoEx's event id. */
export function consentMarker(eventId: string): string {
  return `coex-consent-${shortHash(eventId)}`;
}

/** Every CoEx marker found in a stored note body. */
export function findMarkers(body: string): string[] {
  return body.match(MARKER_RE) ?? [];
}
