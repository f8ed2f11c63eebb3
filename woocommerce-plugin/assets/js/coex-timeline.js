/**
 * CoEx WhatsApp order timeline (plain ES module: no build step for this file; the shared view it
 * imports from vendor/ is generated from ui-shared/).
 *
 * Pure logic, exported for tests: parseTime, buildTimeline (messages and order events interleaved
 * by time), originBadge (one badge per message origin), replyMode (free text inside WhatsApp's
 * 24-hour window, an approved template outside it), botStatus; for the template picker
 * sendableTemplates, templatePreviewParts and templateMessage (body_parameters as a list for
 * positional templates, an object for named ones, as docs/extension-api.md says); for the campaigns
 * block campaignOutcome, optOutText and campaignCountsText; timelineStrings (its words in a
 * language, from the shared catalogue).
 * DOM side: renderTimeline, renderTemplatePicker, renderCampaigns, and boot(root) — boot runs by
 * itself in a browser on every `[data-coex-timeline]` container the meta box printed, fetching the
 * plugin's REST routes with the `wp_rest` nonce (X-WP-Nonce). All text goes into the DOM as text
 * nodes, never as HTML.
 *
 * The thread view rules (timestamps, window, templates, campaign outcomes) come from
 * vendor/coex-thread-view.js, generated from ui-shared/ (the one source of every in-CRM UI) by
 * `npm run build -w ui-shared`; the functions below adapt them to this timeline's shapes.
 */
import {
  composerMode,
  controlView,
  formatMessage,
  parseTimestamp,
  recipientOutcome,
  templateChoices,
  templateBodyParameters,
  templateParameterProblem,
  templatePreview,
  translator,
} from './vendor/coex-thread-view.js';

/**
 * The timeline's words by the names its functions use → keys of the shared catalogue
 * (ui-shared/src/strings.ts, English, French, Arabic). `{name}` marks a value filled in with
 * formatMessage. WordPress's own PHP strings (settings page, REST errors, the meta box's first line)
 * stay in PHP gettext; ui-shared/catalogue-only.test.ts fails on a sentence written here instead.
 */
const STRING_KEYS = Object.freeze({
  customer: 'customer',
  app: 'wc_business_app',
  api: 'api',
  agent: 'ai_agent',
  history: 'history',
  eventStatus: 'wc_event_status',
  eventNote: 'wc_event_note',
  eventBot: 'wc_event_bot',
  eventBotBy: 'wc_event_bot_by',
  windowOpenUntil: 'wc_window_open_until',
  windowClosed: 'wc_window_closed',
  botActive: 'wc_bot_active',
  botPaused: 'wc_bot_paused',
  botPausedUntil: 'wc_bot_paused_until',
  botOff: 'wc_bot_off',
  botHandoff: 'bot_handoff',
  historyImport: 'wc_history_import',
  historyImportPercent: 'wc_history_import_percent',
  pause: 'wc_pause',
  resume: 'wc_resume',
  off: 'wc_off',
  send: 'send',
  sendTemplate: 'send_template',
  replyPlaceholder: 'reply_placeholder',
  noThread: 'no_thread',
  noPhone: 'wc_no_phone',
  transcriptLine: 'transcript_line',
  transcribing: 'transcribing',
  voiceNote: 'voice_note',
  loadFailed: 'wc_load_failed',
  retry: 'retry',
  template: 'template_label',
  chooseTemplate: 'choose_approved_template',
  templatesLoading: 'templates_loading',
  templatesEmpty: 'wc_templates_empty',
  templatesFailed: 'approved_templates_failed',
  templatesStale: 'wc_templates_stale',
  templateValue: 'wc_template_value',
  templatePreview: 'preview',
  templateMissing: 'wc_template_missing',
  campaigns: 'campaigns',
  campaignsLoading: 'campaign_reports_loading',
  campaignsNone: 'wc_campaigns_none',
  campaignsFailed: 'campaign_reports_failed',
  campaignTemplate: 'wc_campaign_template',
  campaignDraft: 'campaign_draft',
  campaignScheduled: 'campaign_scheduled',
  campaignRunning: 'campaign_running',
  campaignPaused: 'campaign_paused',
  campaignCompleted: 'campaign_completed',
  campaignCustomer: 'wc_campaign_customer',
  campaignCounts: 'campaign_totals_line',
  outcomeQueued: 'wc_outcome_queued',
  outcomeSending: 'wc_outcome_sending',
  outcomeSent: 'wc_outcome_sent',
  outcomeDelivered: 'wc_outcome_delivered',
  outcomeRead: 'wc_outcome_read',
  outcomeFailed: 'wc_outcome_failed',
  outcomeSkipped: 'wc_outcome_skipped',
  outcomeReplied: 'wc_outcome_replied',
  optedOut: 'wc_opted_out',
  optedOutOn: 'wc_opted_out_on',
  optOutKeyword: 'wc_opt_out_keyword',
  optOutApi: 'wc_opt_out_api',
  optOutCrm: 'wc_opt_out_crm',
  optOutBlocked: 'wc_opt_out_whatsapp',
});

/**
 * The timeline's words in the language of a locale (the WordPress user's, `fr_FR`, `ar`, …);
 * English where the catalogue has no such language.
 * @param {string | null | undefined} locale
 * @returns {Readonly<Record<string, string>>}
 */
export function timelineStrings(locale) {
  const t = translator(locale);
  return Object.freeze(Object.fromEntries(Object.entries(STRING_KEYS).map(([name, key]) => [name, t(key)])));
}

/** The words in English: the default of every function below. */
export const DEFAULT_STRINGS = timelineStrings('en');

const ORIGINS = ['customer', 'app', 'api', 'agent', 'history'];

/**
 * Milliseconds since the epoch from an ISO 8601 string or a Unix time (seconds below 1e12, else
 * milliseconds; WhatsApp's own timestamps are seconds as strings). NaN when unreadable.
 * @param {unknown} value
 * @returns {number}
 */
export function parseTime(value) {
  return parseTimestamp(value) ?? NaN;
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
  return composerMode({ thread: hasThread ? { window: window ?? {} } : null }, now).mode;
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
    return typeof event.actor === 'string' && event.actor
      ? formatMessage(strings.eventBotBy, { state: event.state, actor: event.actor })
      : formatMessage(strings.eventBot, { state: event.state });
  }
  if (event.type === 'status' && typeof event.from === 'string' && typeof event.to === 'string') {
    return formatMessage(strings.eventStatus, { from: event.from, to: event.to });
  }
  if (typeof event.text === 'string' && event.text !== '') return event.type === 'note' ? formatMessage(strings.eventNote, { text: event.text }) : event.text;
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

// ── templates ───────────────────────────────────────────────────────────────────────────────

/**
 * The templates the reply box can send: `sendable` ones with a name and language (the server marks
 * as unsendable those needing a media header, button values or a one-time code).
 * @param {unknown} templates  the `templates` array of GET /templates
 * @returns {Array<{ name: string, language: string, category: string | null, body: string, format: 'positional' | 'named', names: string[] }>}
 */
export function sendableTemplates(templates) {
  return templateChoices({ templates: Array.isArray(templates) ? templates : [] }).choices.map((c) => ({
    name: c.name,
    language: c.language,
    category: c.category || null,
    body: c.body,
    format: c.format,
    names: c.names,
  }));
}

/**
 * A template body cut into text and placeholders, each placeholder filled with its typed value
 * (trimmed) or left as `{{name}}` while empty — the picker's live preview.
 * @param {string} body
 * @param {Record<string, string>} values  by placeholder name (`"1"`, `"first_name"`)
 * @returns {Array<{ text: string, placeholder: string | null, filled: boolean }>}
 */
export function templatePreviewParts(body, values) {
  return templatePreview({ body: String(body ?? '') }, values).segments.map((seg) => ({
    text: seg.text,
    placeholder: seg.name,
    filled: seg.name !== null && seg.filled,
  }));
}

/**
 * The `template` object of POST …/messages, or the names still missing a value. Every placeholder
 * is required; `body_parameters` is a list in placeholder order (positional) or an object keyed by
 * name (named), and absent when the template has no parameter.
 * @param {{ name: string, language: string, format: 'positional' | 'named', names: string[] }} template
 * @param {Record<string, string>} values
 * @returns {{ missing: string[], template: { name: string, language: string, body_parameters?: string[] | Record<string, string> } }}
 */
export function templateMessage(template, values) {
  const missing = template.names.filter((name) => templateParameterProblem(values[name]) === 'param_required');
  /** @type {{ name: string, language: string, body_parameters?: string[] | Record<string, string> }} */
  const message = { name: template.name, language: template.language };
  const bodyParameters = templateBodyParameters(template, values);
  if (bodyParameters !== undefined) message.body_parameters = bodyParameters;
  return { missing, template: message };
}

// ── campaigns ───────────────────────────────────────────────────────────────────────────────

/**
 * This customer's own outcome in a campaign, from the report's `recipient`: the furthest message
 * status reached (read ⊃ delivered ⊃ sent), failed with its error, or still queued / skipped.
 * @param {unknown} recipient
 * @returns {{ key: 'queued' | 'sending' | 'sent' | 'delivered' | 'read' | 'failed' | 'skipped', error: string | null, replied: boolean } | null}
 */
export function campaignOutcome(recipient) {
  const outcome = recipientOutcome(recipient);
  if (!outcome) return null;
  const { key, sending, errorCode, error, skipReason, replied } = outcome;
  if (key === 'failed') return { key, error: errorCode && error ? `${errorCode}: ${error}` : errorCode || error || null, replied };
  if (key === 'skipped') return { key, error: skipReason || null, replied };
  return { key: key === 'pending' ? (sending ? 'sending' : 'queued') : key, error: null, replied };
}

/**
 * "Opted out of marketing — 'baraka', 3 Dec 2026" (date in the page's locale), or null when the
 * customer may receive marketing.
 * @param {unknown} optOut  `{ source, detail, at }` or null
 * @param {Record<string, string>} [strings]
 * @param {string} [locale]
 * @returns {string | null}
 */
export function optOutText(optOut, strings = DEFAULT_STRINGS, locale = undefined) {
  if (!optOut || typeof optOut !== 'object') return null;
  const o = /** @type {Record<string, unknown>} */ (optOut);
  const detail = typeof o.detail === 'string' && o.detail.trim() !== '' ? o.detail.trim() : '';
  const reason =
    o.source === 'keyword' && detail
      ? formatMessage(strings.optOutKeyword, { word: detail })
      : o.source === '131050' || o.source === 'whatsapp'
        ? strings.optOutBlocked
        : o.source === 'crm'
          ? strings.optOutCrm
          : o.source === 'api'
            ? strings.optOutApi
            : detail || String(o.source ?? '');
  const at = parseTime(o.at);
  const date = Number.isNaN(at) ? '' : new Intl.DateTimeFormat(locale, { day: 'numeric', month: 'short', year: 'numeric' }).format(new Date(at));
  return date ? formatMessage(strings.optedOutOn, { reason, date }) : formatMessage(strings.optedOut, { reason });
}

/**
 * The campaign totals line: sent, delivered, read, failed, replied, of the total.
 * @param {unknown} counts
 * @param {Record<string, string>} [strings]
 * @param {string} [locale]
 * @returns {string}
 */
export function campaignCountsText(counts, strings = DEFAULT_STRINGS, locale = undefined) {
  const c = counts && typeof counts === 'object' ? /** @type {Record<string, unknown>} */ (counts) : {};
  const n = new Intl.NumberFormat(locale);
  const num = (/** @type {string} */ key) => n.format(typeof c[key] === 'number' && Number.isFinite(c[key]) ? /** @type {number} */ (c[key]) : 0);
  return formatMessage(strings.campaignCounts, { sent: num('sent'), delivered: num('delivered'), read: num('read'), failed: num('failed'), replied: num('replied'), total: num('total') });
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
 * In template mode the reply area holds an empty `.coex-templates` box; `opts.onTemplateBox(box,
 * thread)` fills it (mount() loads the list from the plugin), or `opts.templates` is rendered in it
 * at once.
 * @param {{ strings?: Record<string, string>, now?: number, locale?: string, onBot?: (action: string) => void, onSend?: (payload: Record<string, unknown>) => void, templates?: TemplateState, onTemplateBox?: (box: HTMLElement, thread: Record<string, any>) => void }} [opts]
 */
export function renderTimeline(container, data, opts = {}) {
  const doc = container.ownerDocument;
  const now = opts.now ?? Date.now();
  const locale = opts.locale ?? (doc.documentElement.lang || undefined);
  const s = opts.strings ?? timelineStrings(locale);
  container.replaceChildren();

  const thread = data.thread ?? null;
  // Meta's agent or another app holds the chat: CoEx's agent is silent whatever its state says.
  // Words that only this notice uses come straight from the shared catalogue, in the same language.
  const control = thread ? controlView(thread.control) : null;
  const shared = translator(locale);
  const header = el(doc, 'div', 'coex-timeline__header');
  if (thread) {
    header.append(el(doc, 'strong', 'coex-timeline__contact', thread.contact_name || `+${thread.wa_id ?? ''}`));
    if (thread.wa_id) header.append(el(doc, 'span', 'coex-timeline__waid', ` +${thread.wa_id}`));
    const bot = botStatus(thread.bot, now);
    const botText =
      bot.state === 'paused'
        ? bot.until !== null
          ? formatMessage(s.botPausedUntil, { date: formatTime(bot.until, locale) })
          : s.botPaused
        : bot.state === 'off'
          ? s.botOff
          : bot.state === 'handoff'
            ? s.botHandoff
            : s.botActive;
    const botBox = el(doc, 'div', 'coex-bot');
    botBox.dataset.state = bot.state;
    botBox.append(el(doc, 'span', `coex-bot__state coex-bot__state--${bot.state}`, botText));
    if (control) {
      const holder = el(doc, 'span', `coex-control coex-control--${control.holder}`, `${shared(control.labelKey)}${control.appId ? ` (${control.appId})` : ''}`);
      holder.dataset.control = control.holder;
      botBox.append(holder);
    }
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
  if (control) {
    const detail = el(doc, 'p', 'coex-timeline__control', shared(control.detailKey));
    detail.setAttribute('role', 'status');
    if (control.since !== null) detail.append(' ', el(doc, 'span', 'coex-timeline__control-since', `${shared('control_since')} ${formatTime(control.since, locale)}`));
    container.append(detail);
  }
  if (historyImporting(data.sync)) {
    const progress = Number(data.sync.history.progress);
    container.append(el(doc, 'p', 'coex-timeline__sync', Number.isFinite(progress) ? formatMessage(s.historyImportPercent, { percent: progress }) : s.historyImport));
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
        li.append(el(doc, 'p', 'coex-item__transcript', formatMessage(s.transcriptLine, { text: m.transcript })));
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
  if (mode === 'text') container.append(replyForm(doc, s, locale, thread, opts));
  const error = el(doc, 'p', 'coex-timeline__error');
  error.setAttribute('role', 'alert');
  error.hidden = true;
  if (mode === 'template') {
    const reply = el(doc, 'div', 'coex-reply coex-reply--template');
    reply.dataset.mode = 'template';
    reply.append(el(doc, 'p', 'coex-reply__window coex-reply__window--closed', s.windowClosed));
    const box = el(doc, 'div', 'coex-templates');
    reply.append(box);
    container.append(reply, error);
    if (opts.templates) renderTemplatePicker(box, opts.templates, { strings: s, onSend: opts.onSend });
    opts.onTemplateBox?.(box, thread);
    return;
  }
  container.append(error);
}

/**
 * The free-text reply box (inside the 24-hour window).
 * @param {Document} doc
 * @param {Record<string, string>} s
 * @param {string | undefined} locale
 * @param {Record<string, any>} thread
 * @param {{ onSend?: (payload: Record<string, unknown>) => void }} opts
 */
function replyForm(doc, s, locale, thread, opts) {
  const form = el(doc, 'form', 'coex-reply coex-reply--text');
  form.dataset.mode = 'text';
  const closes = parseTime((thread.window ?? {}).closes_at);
  if (!Number.isNaN(closes)) form.append(el(doc, 'p', 'coex-reply__window', formatMessage(s.windowOpenUntil, { date: formatTime(closes, locale) })));
  const area = el(doc, 'textarea', 'coex-reply__text');
  area.name = 'text';
  area.rows = 2;
  area.maxLength = 4096;
  area.placeholder = s.replyPlaceholder;
  const submit = el(doc, 'button', 'button button-primary', s.send);
  submit.type = 'submit';
  form.append(area, submit);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const text = String(new FormData(form).get('text') ?? '').trim();
    if (text === '') return;
    // Idempotency key: a retried submit (double click, flaky network) cannot send twice.
    opts.onSend?.({ text, client_ref: form.dataset.clientRef ?? (form.dataset.clientRef = newClientRef()) });
  });
  return form;
}

/**
 * @typedef {{ status: 'loading' } | { status: 'failed', message?: string } | { status: 'ready', templates: unknown, stale?: unknown }} TemplateState
 */

/**
 * The template picker (outside the 24-hour window), replacing `box`'s content: the sendable
 * templates in a select, one required input per body placeholder, a preview filled as one types,
 * and the send button. Loading, failure (with Retry), an empty list and a stale list each say so.
 * @param {HTMLElement} box
 * @param {TemplateState} state
 * @param {{ strings?: Record<string, string>, locale?: string, onSend?: (payload: Record<string, unknown>) => void, onRetry?: () => void }} [opts]
 */
export function renderTemplatePicker(box, state, opts = {}) {
  const doc = box.ownerDocument;
  const s = opts.strings ?? timelineStrings(opts.locale ?? (doc.documentElement.lang || undefined));
  box.replaceChildren();
  box.dataset.state = state.status;
  if (state.status === 'loading') {
    box.append(el(doc, 'p', 'coex-templates__loading', s.templatesLoading));
    return;
  }
  if (state.status === 'failed') {
    const p = el(doc, 'p', 'coex-templates__error', state.message || s.templatesFailed);
    p.setAttribute('role', 'alert');
    const retry = el(doc, 'button', 'button button-small coex-templates__retry', s.retry);
    retry.type = 'button';
    retry.addEventListener('click', () => opts.onRetry?.());
    p.append(' ', retry);
    box.append(p);
    return;
  }
  if (state.stale === true) box.append(el(doc, 'p', 'coex-templates__stale', s.templatesStale));
  const templates = sendableTemplates(state.templates);
  if (templates.length === 0) {
    box.append(el(doc, 'p', 'coex-templates__empty', s.templatesEmpty));
    return;
  }

  const form = el(doc, 'form', 'coex-template-form');
  const label = el(doc, 'label', 'coex-template-form__label', `${s.template} `);
  const select = el(doc, 'select', 'coex-template-form__select');
  select.name = 'template';
  select.required = true;
  const placeholder = el(doc, 'option', '', s.chooseTemplate);
  placeholder.value = '';
  select.append(placeholder);
  templates.forEach((t, i) => {
    const option = el(doc, 'option', '', `${t.name} (${t.language})`);
    option.value = String(i);
    select.append(option);
  });
  label.append(select);
  const fields = el(doc, 'div', 'coex-template-form__fields');
  const preview = el(doc, 'p', 'coex-template-form__preview');
  preview.hidden = true;
  const missing = el(doc, 'p', 'coex-template-form__missing', s.templateMissing);
  missing.hidden = true;
  const submit = el(doc, 'button', 'button button-primary', s.sendTemplate);
  submit.type = 'submit';
  submit.disabled = true;
  form.append(label, fields, preview, missing, submit);
  box.append(form);

  const chosen = () => (select.value === '' ? null : (templates[Number(select.value)] ?? null));
  const values = () => {
    /** @type {Record<string, string>} */
    const out = {};
    for (const input of fields.querySelectorAll('input')) out[input.dataset.param ?? ''] = input.value;
    return out;
  };
  const paintPreview = () => {
    const t = chosen();
    preview.replaceChildren();
    preview.hidden = !t;
    if (!t) return;
    preview.append(el(doc, 'span', 'coex-template-form__preview-label', `${s.templatePreview}: `));
    for (const part of templatePreviewParts(t.body, values())) {
      if (part.placeholder === null) preview.append(doc.createTextNode(part.text));
      else preview.append(el(doc, 'span', part.filled ? 'coex-placeholder coex-placeholder--filled' : 'coex-placeholder', part.text));
    }
  };
  // A new idempotency key whenever the message changes: a retry of the same message reuses it.
  const changed = () => {
    delete form.dataset.clientRef;
    missing.hidden = true;
    paintPreview();
  };
  select.addEventListener('change', () => {
    const t = chosen();
    fields.replaceChildren();
    submit.disabled = !t;
    form.dataset.template = t ? `${t.name}:${t.language}` : '';
    for (const name of t ? t.names : []) {
      const field = el(doc, 'label', 'coex-template-form__field', `${formatMessage(s.templateValue, { name: `{{${name}}}` })} `);
      const input = el(doc, 'input', 'coex-template-form__value');
      input.type = 'text';
      input.required = true;
      input.maxLength = 1024;
      input.dataset.param = name;
      input.addEventListener('input', changed);
      field.append(input);
      fields.append(field);
    }
    changed();
  });
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const t = chosen();
    if (!t) return;
    const message = templateMessage(t, values());
    if (message.missing.length > 0) {
      missing.hidden = false;
      return;
    }
    opts.onSend?.({ template: message.template, client_ref: form.dataset.clientRef ?? (form.dataset.clientRef = newClientRef()) });
  });
}

/**
 * @typedef {{ status: 'loading' } | { status: 'failed', message?: string } | { status: 'ready', data: { campaigns?: unknown, opt_out?: unknown } }} CampaignsState
 */

/**
 * The "Campaigns" block, replacing `box`'s content: the customer's marketing opt-out first (it
 * decides whether any campaign can reach them), then each campaign that included the customer with
 * its template, status, this customer's outcome and the campaign's totals.
 * @param {HTMLElement} box
 * @param {CampaignsState} state
 * @param {{ strings?: Record<string, string>, locale?: string, onRetry?: () => void }} [opts]
 */
export function renderCampaigns(box, state, opts = {}) {
  const doc = box.ownerDocument;
  const locale = opts.locale ?? (doc.documentElement.lang || undefined);
  const s = opts.strings ?? timelineStrings(locale);
  box.replaceChildren(el(doc, 'h3', 'coex-campaigns__title', s.campaigns));
  box.dataset.state = state.status;
  if (state.status === 'loading') {
    box.append(el(doc, 'p', 'coex-campaigns__loading', s.campaignsLoading));
    return;
  }
  if (state.status === 'failed') {
    const p = el(doc, 'p', 'coex-campaigns__error', state.message || s.campaignsFailed);
    p.setAttribute('role', 'alert');
    const retry = el(doc, 'button', 'button button-small coex-campaigns__retry', s.retry);
    retry.type = 'button';
    retry.addEventListener('click', () => opts.onRetry?.());
    p.append(' ', retry);
    box.append(p);
    return;
  }
  const optOut = optOutText(state.data.opt_out, s, locale);
  if (optOut !== null) {
    const banner = el(doc, 'p', 'coex-optout');
    banner.setAttribute('role', 'note');
    banner.append(el(doc, 'strong', '', optOut));
    box.append(banner);
  }
  const campaigns = Array.isArray(state.data.campaigns) ? state.data.campaigns.filter((c) => c && typeof c === 'object') : [];
  if (campaigns.length === 0) {
    box.append(el(doc, 'p', 'coex-campaigns__none', s.campaignsNone));
    return;
  }
  const list = el(doc, 'ul', 'coex-campaigns__list');
  for (const c of campaigns) {
    const li = el(doc, 'li', 'coex-campaign');
    const status = typeof c.status === 'string' ? c.status : '';
    li.dataset.status = status;
    const head = el(doc, 'div', 'coex-campaign__head');
    head.append(el(doc, 'strong', 'coex-campaign__name', String(c.name ?? '')));
    const statusKey = `campaign${status.charAt(0).toUpperCase()}${status.slice(1)}`;
    head.append(el(doc, 'span', `coex-campaign__status coex-campaign__status--${status}`, s[statusKey] ?? status));
    const at = parseTime(c.started_at ?? c.created_at);
    if (!Number.isNaN(at)) head.append(el(doc, 'span', 'coex-campaign__date', new Intl.DateTimeFormat(locale, { dateStyle: 'medium' }).format(new Date(at))));
    li.append(head);
    const t = c.template && typeof c.template === 'object' ? c.template : {};
    if (typeof t.name === 'string') li.append(el(doc, 'p', 'coex-campaign__template', formatMessage(s.campaignTemplate, { template: typeof t.language === 'string' ? `${t.name} (${t.language})` : t.name })));
    const outcome = campaignOutcome(c.recipient);
    if (outcome) {
      const keyLabel = s[`outcome${outcome.key.charAt(0).toUpperCase()}${outcome.key.slice(1)}`] ?? outcome.key;
      const words = [outcome.error ? `${keyLabel} — ${outcome.error}` : keyLabel];
      if (outcome.replied) words.push(s.outcomeReplied);
      const p = el(doc, 'p', `coex-campaign__outcome coex-outcome--${outcome.key}`, formatMessage(s.campaignCustomer, { outcome: words.join(' · ') }));
      p.dataset.outcome = outcome.key;
      if (outcome.replied) p.dataset.replied = 'true';
      li.append(p);
    }
    li.append(el(doc, 'p', 'coex-campaign__counts', campaignCountsText(c.counts, s, locale)));
    list.append(li);
  }
  box.append(list);
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
 * The plugin route's URL with query parameters added (works with pretty and plain permalinks,
 * where the route itself is in `?rest_route=`).
 * @param {string} url
 * @param {Record<string, string>} params
 */
function withQuery(url, params) {
  const u = new URL(url, typeof location !== 'undefined' ? location.href : 'http://localhost/');
  for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
  return u.toString();
}

/**
 * Wires one meta box container: the timeline (load, render, bot buttons, reply box, template
 * picker) and, below it, the campaigns block. Templates are fetched once per business number and
 * kept across re-renders; campaigns once per page load.
 * @param {HTMLElement} container
 */
export async function mount(container) {
  const { timelineUrl = '', botUrl = '', messagesUrl = '', templatesUrl = '', campaignsUrl = '', nonce = '' } = container.dataset;
  const doc = container.ownerDocument;
  // The WordPress user's locale (get_user_locale(), e.g. fr_FR) picks the words; dates and numbers follow it.
  const locale = (container.dataset.locale || doc.documentElement.lang || '').replace(/_/g, '-') || undefined;
  const strings = timelineStrings(locale);
  const main = el(doc, 'div', 'coex-timeline__main');
  const campaignsBox = el(doc, 'section', 'coex-campaigns');
  container.replaceChildren(main, ...(campaignsUrl ? [campaignsBox] : []));

  const showError = (/** @type {any} */ json) => {
    const box = container.querySelector('.coex-timeline__error');
    const message = json && typeof json.message === 'string' ? json.message : strings.loadFailed;
    if (box instanceof HTMLElement) {
      box.textContent = message;
      box.hidden = false;
    } else {
      const p = el(doc, 'p', 'coex-timeline__error', message);
      p.setAttribute('role', 'alert');
      main.append(p);
    }
  };

  /** @type {{ key: string, state: TemplateState } | null} */
  let templates = null;
  const paintTemplates = () => {
    const box = main.querySelector('.coex-templates');
    if (box instanceof HTMLElement && templates) renderTemplatePicker(box, templates.state, { strings, locale, onSend, onRetry: () => void loadTemplates(templates?.key ?? '') });
  };
  const loadTemplates = async (/** @type {string} */ phoneNumberId) => {
    templates = { key: phoneNumberId, state: { status: 'loading' } };
    paintTemplates();
    let state;
    try {
      const res = await callPlugin(phoneNumberId ? withQuery(templatesUrl, { phone_number_id: phoneNumberId }) : templatesUrl, nonce);
      state = res.ok && res.json
        ? { status: /** @type {const} */ ('ready'), templates: res.json.templates, stale: res.json.stale }
        : { status: /** @type {const} */ ('failed'), message: res.json && typeof res.json.message === 'string' ? res.json.message : '' };
    } catch {
      state = { status: /** @type {const} */ ('failed') };
    }
    if (templates?.key !== phoneNumberId) return; // a newer load took over
    templates = { key: phoneNumberId, state };
    paintTemplates();
  };
  const onTemplateBox = (/** @type {HTMLElement} */ _box, /** @type {Record<string, any>} */ thread) => {
    const key = typeof thread.phone_number_id === 'string' ? thread.phone_number_id : '';
    if (templates && templates.key === key && templates.state.status !== 'failed') paintTemplates();
    else void loadTemplates(key);
  };

  const loadCampaigns = async () => {
    renderCampaigns(campaignsBox, { status: 'loading' }, { strings, locale });
    /** @type {CampaignsState} */
    let state;
    try {
      const res = await callPlugin(campaignsUrl, nonce);
      state = res.ok && res.json ? { status: 'ready', data: res.json } : { status: 'failed', message: res.json && typeof res.json.message === 'string' ? res.json.message : '' };
    } catch {
      state = { status: 'failed' };
    }
    renderCampaigns(campaignsBox, state, { strings, locale, onRetry: () => void loadCampaigns() });
  };

  const load = async () => {
    const res = await callPlugin(timelineUrl, nonce);
    if (!res.ok) {
      // On CoEx errors the route still sends the order's own events in error.data.
      const data = res.json && res.json.data ? res.json.data : {};
      renderTimeline(main, { order: data.order ?? null, events: data.events ?? [], messages: [], thread: null }, { strings, locale, onBot, onSend });
      showError(res.json);
      return;
    }
    renderTimeline(main, res.json, { strings, locale, onBot, onSend, onTemplateBox });
  };
  const onBot = (/** @type {string} */ action) => {
    void callPlugin(botUrl, nonce, { action }).then((res) => (res.ok ? load() : showError(res.json)));
  };
  const onSend = (/** @type {Record<string, unknown>} */ payload) => {
    void callPlugin(messagesUrl, nonce, payload).then((res) => (res.ok ? load() : showError(res.json)));
  };
  const campaignsLoaded = campaignsUrl ? loadCampaigns() : Promise.resolve();
  try {
    await load();
  } catch {
    showError(null);
  }
  await campaignsLoaded;
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
