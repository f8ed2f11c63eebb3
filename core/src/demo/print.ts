import type { MessageView, ThreadView } from '../store/queries.js';
import { DEMO_LABELS, type DemoLabels } from './labels.js';

function clock(iso: string): string {
  return iso.replace('T', ' ').slice(0, 16);
}

export interface RenderedThread {
  thread: ThreadView;
  messages: MessageView[];
  /** Why a voice note has no transcript (messages.transcript_error), by message id. */
  transcriptErrors?: ReadonlyMap<string, string>;
}

function body(m: MessageView, labels: DemoLabels, transcriptError: string | undefined): string {
  if (m.revoked) return labels.deleted;
  if (m.type === 'audio' && m.media?.voice) {
    if (m.transcript) return labels.voiceNote(m.transcript);
    if (transcriptError) return labels.voiceNoteNotTranscribed(transcriptError);
    return labels.voiceNotePending(m.transcript_state ?? 'not transcribed');
  }
  if (m.type === 'media_placeholder') return labels.mediaPlaceholder;
  if (m.type === 'reaction') return labels.reacted(m.text ?? '');
  return m.text ?? `[${m.type}]`;
}

function who(m: MessageView, labels: DemoLabels): string {
  if (m.direction === 'inbound') return m.origin === 'history' ? labels.who.customerHistory : labels.who.customer;
  switch (m.origin) {
    case 'history':
      return labels.who.businessHistory;
    case 'app':
      return labels.who.owner;
    case 'agent':
      return labels.who.agent;
    case 'api':
      return labels.who.api;
    default:
      return m.origin;
  }
}

/** Renders threads the way a person reads a chat: one block per customer, oldest first. */
export function renderThreads(threads: RenderedThread[], labels: DemoLabels = DEMO_LABELS.en): string {
  const lines: string[] = [];
  for (const { thread, messages, transcriptErrors } of threads) {
    const bot = labels.botState(thread.bot.state, thread.bot.paused_until ? clock(thread.bot.paused_until) : null);
    lines.push('');
    lines.push(`━━ ${thread.contact_name ?? thread.wa_id ?? 'unknown'}  (+${thread.wa_id ?? '?'})  · ${labels.agent}: ${bot}`);
    for (const m of messages) {
      const status = m.direction === 'outbound' && m.status ? `  [${m.status}]` : '';
      lines.push(`  ${clock(m.timestamp)}  ${who(m, labels).padEnd(22)} ${body(m, labels, transcriptErrors?.get(m.id))}${status}`);
    }
  }
  return lines.join('\n');
}
