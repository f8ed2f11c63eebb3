/**
 * CoEx WhatsApp order timeline (plain ES module, no build step).
 *
 * Pure logic, exported for tests: parseTime, buildTimeline (messages and order events interleaved
 * by time), originBadge (one badge per message origin), replyMode (free text inside WhatsApp's
 * 24-hour window, an approved template outside it), botStatus.
 * DOM side: renderTimeline(container, data) and boot(root) — boot runs by itself in a browser on
 * every `[data-coex-timeline]` container the meta box printed, fetching the plugin's REST route
 * with the `wp_rest` nonce (X-WP-Nonce). All text goes into the DOM as text nodes, never as HTML.
 */

/** English defaults; the meta box passes translated strings in data-i18n (same keys). */
export const DEFAULT_STRINGS = Object.freeze({
  customer: 'Customer',
  app: 'Business App',
  api: 'API',
  agent: 'AI agent',
  history: 'History',
  statusChange: 'Order status',
  orderNote: 'Order note',
  windowOpen: 'Reply window open until',
  windowClosed: '24-hour window closed: only an approved template can be sent.',
  botActive: 'AI agent active',
  botPaused: 'AI agent paused',
  botPausedUntil: 'AI agent paused until',
  botOff: 'AI agent off',
  botHandoff: 'Customer asked for a person',
  historyImport: 'WhatsApp history import in progress: older messages may still arrive',
  pause: 'Pause agent',
  resume: 'Resume agent',
  off: 'Turn agent off',
  send: 'Send',
  sendTemplate: 'Send template',
  replyPlaceholder: 'Reply on WhatsApp…',
  templateName: 'Template name',
  templateLanguage: 'Language',
  noThread: 'No WhatsApp conversation with this number yet.',
  noPhone: 'This order has no usable billing phone.',
  transcript: 'Transcript',
  transcribing: 'Transcribing…',
  voiceNote: 'Voice note',
  loadFailed: 'Could not load the conversation.',
});

const ORIGINS = ['customer', 'app', 'api', 'agent', 'history'];

/**
 * Milliseconds since the epoch from an ISO 8601 string or a Unix time (seconds below 1e12, else
 * milliseconds; WhatsApp's own timestamps are seconds as strings). NaN when unreadable.
 * @param {unknown} value
 * @returns {number}
 */
export function parseTime(value) {
  if (typeof value === 'number') return Number.isFinite(value) ? (value < 1e12 ? value * 1000 : value) : NaN;
  if (typeof value !== 'string' || value.trim() === '') return NaN;
  const s = value.trim();
  if (/^\d+(\.\d+)?$/.test(s)) return parseTime(Number(s));
  // WooCommerce-style "2026-02-20T10:00:00" without a zone is GMT here: never let the browser read it as local.
  const iso = /[zZ]|[+-]\d\d:?\d\d$/.test(s) ? s : `${s}Z`;
  return Date.parse(iso);
}

/**
 * Messages and order events in one list, oldest first. At the same instant an order event comes
 * first (the status change usually triggers the message); otherwise input order is kept. Items
 * whose time cannot be read go last rather than disappearing.
 * @param {ReadonlyArray<Record<string, unknown>>} messages
 * @param {ReadonlyArray<Record<string, unknown>>} events
 * @returns {Array<{ kind: 'message' | 'event', at: number, item: Record<string, unknown> }>}
 */
export function buildTimeline(messages, events) {
  const rows = [];
  let seq = 0;
  for (const item of events ?? []) rows.push({ kind: 'event', at: parseTime(item.at), item, seq: seq++ });
  for (const item of messages ?? []) rows.push({ kind: 'message', at: parseTime(item.timestamp), item, seq: seq++ });
  rows.sort((a, b) => {
    const an = Number.isNaN(a.at);
    const bn = Number.isNaN(b.at);
    if (an !== bn) return an ? 1 : -1;
    if (!an && a.at !== b.at) return a.at - b.at;
    if (a.kind !== b.kind) return a.kind === 'event' ? -1 : 1;
    return a.seq - b.seq;
  });
  return rows.map(({ kind, at, item }) => ({ kind, at, item }));
}

/**
 * The badge of a message: who wrote it. `app` = the owner on the WhatsApp Business App (an echo),
 * `api` = sent through the Cloud API by CoEx or a CRM, `agent` = the AI agent, `history` = imported
 * by history sync (direction tells the side).
 * @param {unknown} origin
 * @param {unknown} direction
 * @param {Record<string, string>} [strings]
 * @returns {{ key: string, label: string, side: 'in' | 'out' }}
 */
export function originBadge(origin, direction, strings = DEFAULT_STRINGS) {
  const key = typeof origin === 'string' && ORIGINS.includes(origin) ? origin : 'unknown';
  const side = direction === 'inbound' || (direction === undefined && key === 'customer') ? 'in' : 'out';
  const label = key === 'unknown' ? String(origin ?? '?') : (strings[key] ?? DEFAULT_STRINGS[key]);
  return { key, label, side };
}

/**
 * What the reply box offers. No thread → nothing; an open window whose closing time is still ahead
 * (or unknown) → free text; otherwise only a template, as WhatsApp requires. The server decides in
 * the end (409 window_closed); this only avoids offering what will be refused.
 * @param {{ open?: unknown, closes_at?: unknown } | null | undefined} window
 * @param {number} now ms
 * @param {boolean} [hasThread]
 * @returns {'text' | 'template' | 'none'}
 */
export function replyMode(window, now, hasThread = true) {
  if (!hasThread) return 'none';
  if (!window || window.open !== true) return 'template';
  const closes = parseTime(window.closes_at);
  if (Number.isNaN(closes)) return 'text';
  return closes > now ? 'text' : 'template';
}

/**
 * The agent's state for display and the actions that make sense from it.
 * A pause whose end has passed reads as active (the server resumes it lazily).
 * `handoff_requested`: the agent stopped because the customer asked for a person.
 * @param {{ state?: unknown, paused_until?: unknown } | null | undefined} bot
 * @param {number} now ms
 * @returns {{ state: 'active' | 'paused' | 'handoff' | 'off', until: number | null, actions: Array<'pause' | 'resume' | 'off'> }}
 */
export function botStatus(bot, now) {
  const raw = bot && typeof bot.state === 'string' ? bot.state : 'active';
  const until = bot ? parseTime(bot.paused_until) : NaN;
  if (raw === 'off') return { state: 'off', until: null, actions: ['resume'] };
  if (raw === 'handoff_requested') return { state: 'handoff', until: null, actions: ['resume', 'off'] };
  if (raw === 'paused' && (Number.isNaN(until) || until > now)) {
    return { state: 'paused', until: Number.isNaN(until) ? null : until, actions: ['resume', 'off'] };
  }
  return { state: 'active', until: null, actions: ['pause', 'off'] };
}

/**
 * Short label of an order event.
 * @param {Record<string, unknown>} event
 * @param {Record<string, string>} [strings]
 * @returns {string}
 */
export function eventLabel(event, strings = DEFAULT_STRINGS) {
  if (event.type === 'bot' && typeof event.state === 'string') {
    const who = typeof event.actor === 'string' && event.actor ? ` — ${event.actor}` : '';
    return `${strings.agent}: ${event.state}${who}`;
  }
  if (event.type === 'status' && typeof event.from === 'string' && typeof event.to === 'string') {
    return `${strings.statusChange}: ${event.from} → ${event.to}`;
  }
  if (typeof event.text === 'string' && event.text !== '') return event.type === 'note' ? `${strings.orderNote}: ${event.text}` : event.text;
  return String(event.type ?? '');
}

/**
 * The agent's state changes (thread.bot.history: `{ from, to, cause, actor, at }`, newest first)
 * as timeline events; entries without a readable time or target state are skipped.
 * @param {{ history?: unknown } | null | undefined} bot
 * @returns {Array<Record<string, unknown>>}
 */
export function botEvents(bot) {
  const history = bot && Array.isArray(bot.history) ? bot.history : [];
  const out = [];
  for (const [i, entry] of history.entries()) {
    if (!entry || typeof entry !== 'object') continue;
    if (typeof entry.to !== 'string' || Number.isNaN(parseTime(entry.at))) continue;
    out.push({
      id: `bot-${i}`,
      type: 'bot',
      at: entry.at,
      state: entry.to,
      cause: typeof entry.cause === 'string' ? entry.cause : null,
      actor: typeof entry.actor === 'string' ? entry.actor : null,
    });
  }
  return out;
}

/**
 * True while WhatsApp history is still being imported (older messages may appear).
 * @param {unknown} sync  `{ history: { status, progress } }` or null
 */
export function historyImporting(sync) {
  const status = sync && typeof sync === 'object' && sync.history && typeof sync.history === 'object' ? sync.history.status : null;
  return status === 'requested' || status === 'in_progress';
}

// ── DOM ───────────────────────────────────────────────────────────────────────────────────

/**
 * @param {Document} doc
 * @param {string} tag
 * @param {string} [className]
 * @param {string} [text]
 */
function el(doc, tag, className, text) {
  const node = doc.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/**
 * @param {number} ms
 * @param {string | undefined} locale
 */
function formatTime(ms, locale) {
  if (Number.isNaN(ms)) return '';
  return new Intl.DateTimeFormat(locale, { dateStyle: 'medium', timeStyle: 'short' }).format(new Date(ms));
}

/**
 * Renders the timeline into `container` (replacing its content).
 * @param {HTMLElement} container
 * @param {Record<string, any>} data  the plugin's /timeline response
 * @param {{ strings?: Record<string, string>, now?: number, locale?: string, onBot?: (action: string) => void, onSend?: (payload: Record<string, unknown>) => void }} [opts]
 */
export function renderTimeline(container, data, opts = {}) {
  const doc = container.ownerDocument;
  const s = { ...DEFAULT_STRINGS, ...(opts.strings ?? {}) };
  const now = opts.now ?? Date.now();
  const locale = opts.locale ?? (doc.documentElement.lang || undefined);
  container.replaceChildren();

  const thread = data.thread ?? null;
  const header = el(doc, 'div', 'coex-timeline__header');
  if (thread) {
    header.append(el(doc, 'strong', 'coex-timeline__contact', thread.contact_name || `+${thread.wa_id ?? ''}`));
    if (thread.wa_id) header.append(el(doc, 'span', 'coex-timeline__waid', ` +${thread.wa_id}`));
    const bot = botStatus(thread.bot, now);
    const botText =
      bot.state === 'paused'
        ? bot.until !== null
          ? `${s.botPausedUntil} ${formatTime(bot.until, locale)}`
          : s.botPaused
        : bot.state === 'off'
          ? s.botOff
          : bot.state === 'handoff'
            ? s.botHandoff
            : s.botActive;
    const botBox = el(doc, 'div', 'coex-bot');
    botBox.dataset.state = bot.state;
    botBox.append(el(doc, 'span', `coex-bot__state coex-bot__state--${bot.state}`, botText));
    for (const action of bot.actions) {
      const button = el(doc, 'button', 'button button-small coex-bot__action', s[action]);
      button.type = 'button';
      button.dataset.action = action;
      button.addEventListener('click', () => opts.onBot?.(action));
      botBox.append(button);
    }
    header.append(botBox);
  } else {
    header.append(el(doc, 'span', 'coex-timeline__empty', data.order && data.order.phone === null ? s.noPhone : s.noThread));
  }
  container.append(header);
  if (historyImporting(data.sync)) {
    const progress = Number(data.sync.history.progress);
    container.append(el(doc, 'p', 'coex-timeline__sync', Number.isFinite(progress) ? `${s.historyImport} (${progress} %)` : s.historyImport));
  }

  const list = el(doc, 'ol', 'coex-timeline__items');
  const events = [...(data.events ?? []), ...botEvents(thread?.bot)];
  for (const row of buildTimeline(data.messages ?? [], events)) {
    const li = el(doc, 'li', `coex-item coex-item--${row.kind}`);
    li.dataset.at = Number.isNaN(row.at) ? '' : new Date(row.at).toISOString();
    if (row.kind === 'event') {
      li.classList.add(`coex-item--${String(row.item.type ?? 'event')}`);
      li.append(el(doc, 'span', 'coex-item__event', eventLabel(row.item, s)));
    } else {
      const m = row.item;
      const badge = originBadge(m.origin, m.direction, s);
      li.classList.add(`coex-item--${badge.side}`);
      li.dataset.origin = badge.key;
      li.append(el(doc, 'span', `coex-badge coex-badge--${badge.key}`, badge.label));
      const isVoice = m.type === 'voice' || (m.type === 'audio' && (m.media == null || m.media.voice !== false));
      const text = typeof m.text === 'string' && m.text !== '' ? m.text : isVoice ? s.voiceNote : `[${String(m.type ?? 'message')}]`;
      li.append(el(doc, 'p', 'coex-item__text', text));
      if (typeof m.transcript === 'string' && m.transcript !== '') {
        li.append(el(doc, 'p', 'coex-item__transcript', `${s.transcript}: ${m.transcript}`));
      } else if (isVoice && (m.transcript_state === 'pending' || m.transcript_state === 'transcribing')) {
        li.append(el(doc, 'p', 'coex-item__transcript coex-item__transcript--pending', s.transcribing));
      }
      const meta = el(doc, 'span', 'coex-item__meta', formatTime(row.at, locale));
      if (badge.side === 'out' && typeof m.status === 'string') meta.append(el(doc, 'span', `coex-status coex-status--${m.status}`, ` · ${m.status}`));
      li.append(meta);
      list.append(li);
      continue;
    }
    li.append(el(doc, 'span', 'coex-item__meta', formatTime(row.at, locale)));
    list.append(li);
  }
  container.append(list);

  const mode = replyMode(thread ? (thread.window ?? data.window) : null, now, Boolean(thread));
  if (mode !== 'none') container.append(replyForm(doc, mode, data.template ?? {}, s, locale, thread, opts));
  const error = el(doc, 'p', 'coex-timeline__error');
  error.setAttribute('role', 'alert');
  error.hidden = true;
  container.append(error);
}

/**
 * @param {Document} doc
 * @param {'text' | 'template'} mode
 * @param {{ name?: string, language?: string }} template
 * @param {Record<string, string>} s
 * @param {string | undefined} locale
 * @param {Record<string, any>} thread
 * @param {{ onSend?: (payload: Record<string, unknown>) => void, now?: number }} opts
 */
function replyForm(doc, mode, template, s, locale, thread, opts) {
  const form = el(doc, 'form', `coex-reply coex-reply--${mode}`);
  form.dataset.mode = mode;
  const win = thread.window ?? {};
  if (mode === 'text') {
    const closes = parseTime(win.closes_at);
    if (!Number.isNaN(closes)) form.append(el(doc, 'p', 'coex-reply__window', `${s.windowOpen} ${formatTime(closes, locale)}`));
    const area = el(doc, 'textarea', 'coex-reply__text');
    area.name = 'text';
    area.rows = 2;
    area.maxLength = 4096;
    area.placeholder = s.replyPlaceholder;
    form.append(area);
  } else {
    form.append(el(doc, 'p', 'coex-reply__window coex-reply__window--closed', s.windowClosed));
    const name = el(doc, 'input', 'coex-reply__template-name');
    name.name = 'template_name';
    name.placeholder = s.templateName;
    name.defaultValue = template.name ?? '';
    const lang = el(doc, 'input', 'coex-reply__template-language');
    lang.name = 'template_language';
    lang.placeholder = s.templateLanguage;
    lang.size = 5;
    lang.defaultValue = template.language ?? '';
    form.append(name, lang);
  }
  const submit = el(doc, 'button', 'button button-primary', mode === 'text' ? s.send : s.sendTemplate);
  submit.type = 'submit';
  form.append(submit);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const fd = new FormData(form);
    const payload =
      mode === 'text'
        ? { text: String(fd.get('text') ?? '').trim() }
        : { template: { name: String(fd.get('template_name') ?? '').trim(), language: String(fd.get('template_language') ?? '').trim() } };
    if ('text' in payload && payload.text === '') return;
    // Idempotency key: a retried submit (double click, flaky network) cannot send twice.
    opts.onSend?.({ ...payload, client_ref: form.dataset.clientRef ?? (form.dataset.clientRef = newClientRef()) });
  });
  return form;
}

function newClientRef() {
  const bytes = new Uint8Array(12);
  crypto.getRandomValues(bytes);
  return `wc_${Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')}`;
}

/**
 * JSON request to the plugin's own REST routes (same origin, cookie + nonce).
 * @param {string} url
 * @param {string} nonce
 * @param {Record<string, unknown>} [body]
 */
async function callPlugin(url, nonce, body) {
  const res = await fetch(url, {
    method: body ? 'POST' : 'GET',
    credentials: 'same-origin',
    headers: { 'X-WP-Nonce': nonce, Accept: 'application/json', ...(body ? { 'Content-Type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  let json = null;
  try {
    json = await res.json();
  } catch {
    json = null;
  }
  return { ok: res.ok, status: res.status, json };
}

/**
 * Wires one meta box container: load, render, bot buttons, reply box.
 * @param {HTMLElement} container
 */
export async function mount(container) {
  const { timelineUrl = '', botUrl = '', messagesUrl = '', nonce = '' } = container.dataset;
  /** @type {Record<string, string>} */
  let strings = {};
  try {
    strings = JSON.parse(container.dataset.i18n || '{}');
  } catch {
    strings = {};
  }
  const s = { ...DEFAULT_STRINGS, ...strings };

  const showError = (/** @type {any} */ json) => {
    const box = container.querySelector('.coex-timeline__error');
    const message = json && typeof json.message === 'string' ? json.message : s.loadFailed;
    if (box instanceof HTMLElement) {
      box.textContent = message;
      box.hidden = false;
    } else {
      const p = el(container.ownerDocument, 'p', 'coex-timeline__error', message);
      p.setAttribute('role', 'alert');
      container.append(p);
    }
  };

  const load = async () => {
    const res = await callPlugin(timelineUrl, nonce);
    if (!res.ok) {
      // On CoEx errors the route still sends the order's own events in error.data.
      const data = res.json && res.json.data ? res.json.data : {};
      renderTimeline(container, { order: data.order ?? null, events: data.events ?? [], messages: [], thread: null }, { strings, onBot, onSend });
      showError(res.json);
      return;
    }
    renderTimeline(container, res.json, { strings, onBot, onSend });
  };
  const onBot = (/** @type {string} */ action) => {
    void callPlugin(botUrl, nonce, { action }).then((res) => (res.ok ? load() : showError(res.json)));
  };
  const onSend = (/** @type {Record<string, unknown>} */ payload) => {
    void callPlugin(messagesUrl, nonce, payload).then((res) => (res.ok ? load() : showError(res.json)));
  };
  try {
    await load();
  } catch {
    showError(null);
  }
}

/**
 * Mounts every timeline container under `root`.
 * @param {ParentNode} [root]
 */
export function boot(root = document) {
  const containers = root.querySelectorAll('[data-coex-timeline]');
  return Promise.all([...containers].map((c) => mount(/** @type {HTMLElement} */ (c))));
}

if (typeof document !== 'undefined' && typeof window !== 'undefined') {
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', () => void boot());
  else void boot();
}
