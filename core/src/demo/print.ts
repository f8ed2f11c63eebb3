import type { MessageView, ThreadView } from '../store/queries.js';

const ORIGIN_LABEL: Record<string, string> = {
  customer: '👤 customer',
  app: '📱 owner (phone app)',
  agent: '🤖 agent',
  api: '🔌 API',
  history: '🕓 history',
};

function clock(iso: string): string {
  return iso.replace('T', ' ').slice(0, 16);
}

function body(m: MessageView): string {
  if (m.revoked) return '(deleted)';
  if (m.type === 'audio' && m.media?.voice) return m.transcript ? `🎙 voice note: “${m.transcript}”` : `🎙 voice note (${m.transcript_state ?? 'not transcribed'})`;
  if (m.type === 'media_placeholder') return '📎 media (arrives later, or never for media older than 14 days)';
  if (m.type === 'reaction') return `reacted ${m.text ?? ''}`;
  return m.text ?? `[${m.type}]`;
}

/** Renders threads the way a person reads a chat: one block per customer, oldest first. */
export function renderThreads(threads: Array<{ thread: ThreadView; messages: MessageView[] }>): string {
  const lines: string[] = [];
  for (const { thread, messages } of threads) {
    const bot = thread.bot.state === 'paused' && thread.bot.paused_until ? `paused until ${clock(thread.bot.paused_until)}` : thread.bot.state;
    lines.push('');
    lines.push(`━━ ${thread.contact_name ?? thread.wa_id ?? 'unknown'}  (+${thread.wa_id ?? '?'})  · agent: ${bot}`);
    for (const m of messages) {
      const who: string = m.direction === 'inbound' ? (m.origin === 'history' ? '🕓 customer' : '👤 customer') : m.origin === 'history' ? '🕓 business' : (ORIGIN_LABEL[m.origin] ?? m.origin);
      const status = m.direction === 'outbound' && m.status ? `  [${m.status}]` : '';
      lines.push(`  ${clock(m.timestamp)}  ${who.padEnd(22)} ${body(m)}${status}`);
    }
  }
  return lines.join('\n');
}
