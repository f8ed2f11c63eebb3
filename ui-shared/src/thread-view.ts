/*
 * The thread view model of every in-CRM UI, without DOM, framework or CRM SDK: how a message is
 * badged, grouped by day and transcribed, what the 24-hour window allows, what the bot toggle does
 * and why it changed, history-sync progress, the template picker (sendable templates, parameters,
 * preview, the `template` object to send), the customer's outcome in each campaign and the
 * marketing opt-out, and where to scroll the timeline. Shapes follow docs/extension-api.md.
 *
 * Inputs are server answers the UIs have not parsed with a schema library (the browser assets ship
 * without one), so every function reads them defensively as `unknown`. Labels are returned as keys
 * of the catalogue in strings.ts.
 */

type Json = Record<string, unknown>;

function record(value: unknown): Json | null {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Json) : null;
}

function text(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

// ── messages ──

export interface Badge {
  key: string;
  css: string;
}

/** origin (CoEx extension API) → badge key and CSS modifier. */
export const ORIGIN_BADGES: Readonly<Record<string, Badge>> = {
  customer: { key: 'customer', css: 'customer' },
  app: { key: 'phone_app', css: 'app' },
  agent: { key: 'agent', css: 'agent' },
  api: { key: 'api', css: 'api' },
  history: { key: 'history', css: 'history' },
};

const UNKNOWN_BADGE: Badge = { key: 'unknown', css: 'unknown' };

export interface ExtMessage {
  id?: string | number;
  direction?: string;
  origin?: string;
  type?: string;
  text?: string | null;
  timestamp?: string | number | null;
  status?: string | null;
  transcript?: string | null;
  transcript_state?: string | null;
  media?: unknown;
}

export function badgeFor(message: ExtMessage | null | undefined): Badge {
  return (message && message.origin !== undefined && Object.hasOwn(ORIGIN_BADGES, message.origin) ? ORIGIN_BADGES[message.origin] : undefined) ?? UNKNOWN_BADGE;
}

/**
 * Timestamps arrive as ISO strings, epoch seconds (Meta's convention, sometimes as a string) or
 * epoch milliseconds. Returns epoch ms, or null when unreadable.
 */
export function parseTimestamp(value: unknown): number | null {
  if (value === null || value === undefined || value === '') {
    return null;
  }
  if (typeof value === 'number' || /^\d+(\.\d+)?$/.test(String(value))) {
    const n = Number(value);
    if (!Number.isFinite(n)) {
      return null;
    }
    // Below 1e11 it cannot be milliseconds of any date after 1973: treat as seconds.
    return n < 1e11 ? Math.round(n * 1000) : Math.round(n);
  }
  const iso = String(value).trim();
  // A date-time without a zone (WooCommerce's GMT columns) is UTC: never let a browser read it as local time.
  const ms = Date.parse(/T\d\d:\d\d/.test(iso) && !/([zZ]|[+-]\d\d:?\d\d)$/.test(iso) ? `${iso}Z` : iso);
  return Number.isNaN(ms) ? null : ms;
}

export interface FormatOptions {
  timeZone?: string | undefined;
  locale?: string | undefined;
}

/** 'YYYY-MM-DD' of an instant in a time zone (en-CA formats dates that way). */
export function dayKey(ms: number, timeZone?: string): string {
  return new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(new Date(ms));
}

export function formatTime(ms: number, { timeZone, locale }: FormatOptions = {}): string {
  return new Intl.DateTimeFormat(locale || 'en', { timeZone, hour: '2-digit', minute: '2-digit' }).format(new Date(ms));
}

export function formatDay(ms: number, { timeZone, locale }: FormatOptions = {}): string {
  return new Intl.DateTimeFormat(locale || 'en', { timeZone, weekday: 'short', year: 'numeric', month: 'short', day: 'numeric' }).format(new Date(ms));
}

export interface TranscriptView {
  kind: 'none' | 'pending' | 'text' | 'failed';
  text: string;
}

/** What to show under a voice note: nothing, "transcribing…", the text, or "unavailable". */
export function transcriptView(message: ExtMessage): TranscriptView {
  const transcript = typeof message.transcript === 'string' ? message.transcript.trim() : '';
  if (transcript) {
    return { kind: 'text', text: transcript };
  }
  const state = message.transcript_state;
  if (state === 'pending' || state === 'processing' || state === 'queued' || state === 'transcribing') {
    return { kind: 'pending', text: '' };
  }
  if (state === 'failed' || state === 'error' || state === 'unavailable') {
    return { kind: 'failed', text: '' };
  }
  // An audio message without a transcript state yet is still waiting for one.
  if (message.type === 'audio' || message.type === 'voice') {
    return { kind: 'pending', text: '' };
  }
  return { kind: 'none', text: '' };
}

export interface BodyView {
  kind: 'text' | 'media';
  text: string;
  mediaType?: string;
}

/** Placeholder key for messages without text (media, stickers, reactions...). */
export function bodyFor(message: ExtMessage): BodyView {
  if (typeof message.text === 'string' && message.text.trim()) {
    return { kind: 'text', text: message.text };
  }
  const type = typeof message.type === 'string' && message.type ? message.type : 'unknown';
  return { kind: 'media', mediaType: type, text: '' };
}

export interface TimelineItem {
  id: string | number | undefined;
  direction: 'inbound' | 'outbound';
  badge: Badge;
  body: BodyView;
  transcript: TranscriptView;
  status: string;
  time: string;
  at: number | null;
}

export interface TimelineGroup {
  day: string;
  label: string;
  items: TimelineItem[];
}

/**
 * Messages → day groups in chronological order. Messages are deduplicated by id (the server may
 * return a history copy and a live copy of one message); unreadable timestamps sort last.
 */
export function buildTimeline(messages: readonly (ExtMessage | null | undefined)[] | null | undefined, { timeZone, locale }: FormatOptions = {}): TimelineGroup[] {
  const seen = new Set<string | number>();
  const rows: { message: ExtMessage; at: number | null; index: number }[] = [];
  for (const [index, message] of (messages || []).entries()) {
    if (!message || (message.id !== undefined && seen.has(message.id))) {
      continue;
    }
    if (message.id !== undefined) {
      seen.add(message.id);
    }
    rows.push({ message, at: parseTimestamp(message.timestamp), index });
  }
  rows.sort((a, b) => {
    if (a.at === null || b.at === null) {
      return a.at === null && b.at === null ? a.index - b.index : a.at === null ? 1 : -1;
    }
    return a.at - b.at || a.index - b.index;
  });
  const groups: TimelineGroup[] = [];
  for (const { message, at } of rows) {
    const key = at === null ? 'unknown' : dayKey(at, timeZone);
    let group = groups[groups.length - 1];
    if (!group || group.day !== key) {
      group = { day: key, label: at === null ? '' : formatDay(at, { timeZone, locale }), items: [] };
      groups.push(group);
    }
    group.items.push({
      id: message.id,
      direction: message.direction === 'outbound' ? 'outbound' : 'inbound',
      badge: badgeFor(message),
      body: bodyFor(message),
      transcript: transcriptView(message),
      status: message.status || '',
      time: at === null ? '' : formatTime(at, { timeZone, locale }),
      at,
    });
  }
  return groups;
}

// ── the 24-hour window ──

export interface ComposerMode {
  mode: 'none' | 'text' | 'template';
  closesAt: number | null;
  minutesLeft: number | null;
}

/**
 * Free text is only allowed inside the 24-hour customer-service window; outside it the reply box
 * becomes a template picker. The server's closes_at wins over a stale `open: true`.
 */
export function composerMode(payload: unknown, nowMs: number): ComposerMode {
  const thread = record(record(payload)?.thread);
  if (!thread) {
    return { mode: 'none', closesAt: null, minutesLeft: 0 };
  }
  const win = record(thread.window) ?? {};
  const closesAt = parseTimestamp(win.closes_at);
  const open = Boolean(win.open) && (closesAt === null || closesAt > nowMs);
  if (!open) {
    return { mode: 'template', closesAt, minutesLeft: 0 };
  }
  const minutesLeft = closesAt === null ? null : Math.max(0, Math.floor((closesAt - nowMs) / 60000));
  return { mode: 'text', closesAt, minutesLeft };
}

/** A 409 { code: 'window_closed' } from the server switches the composer to templates. */
export function isWindowClosedError(error: unknown): boolean {
  const e = record(error);
  return e !== null && (e.code === 'window_closed' || e.status === 409);
}

// ── the bot ──

const BOT_STATES: Readonly<Record<string, { key: string; toggle: 'pause' | 'resume' }>> = {
  active: { key: 'bot_active', toggle: 'pause' },
  paused: { key: 'bot_paused', toggle: 'resume' },
  handoff_requested: { key: 'bot_handoff', toggle: 'resume' },
  off: { key: 'bot_off', toggle: 'resume' },
};

/** Known hand-off causes → label keys; anything else is shown as the server sent it. */
export const CAUSE_KEYS: Readonly<Record<string, string>> = {
  app_echo: 'cause_app_echo',
  echo: 'cause_app_echo',
  crm_reply: 'cause_crm_reply',
  agent_reply: 'cause_crm_reply',
  customer_request: 'cause_customer_request',
  handoff_requested: 'cause_customer_request',
  manual: 'cause_manual',
  quiet_period: 'cause_quiet_period',
  auto_resume: 'cause_quiet_period',
  timeout: 'cause_quiet_period',
};

function lookup<T>(table: Readonly<Record<string, T>>, key: unknown): T | undefined {
  return typeof key === 'string' || typeof key === 'number' ? (Object.hasOwn(table, key) ? table[key] : undefined) : undefined;
}

export interface BotHistoryView {
  from: string;
  to: string;
  cause: string;
  causeKey: string | null;
  actor: string;
  at: number | null;
  index: number;
}

export interface BotView {
  state: string;
  key: string;
  toggleAction: 'pause' | 'resume';
  canTurnOff: boolean;
  pausedUntil: number | null;
  history: BotHistoryView[];
}

export function botView(botInput: unknown, nowMs: number): BotView | null {
  const bot = record(botInput);
  if (!bot) {
    return null;
  }
  const known = lookup(BOT_STATES, bot.state) ?? { key: 'bot_unknown', toggle: 'resume' as const };
  const pausedUntil = parseTimestamp(bot.paused_until);
  const history = (Array.isArray(bot.history) ? bot.history : [])
    .map((entry: unknown, index: number) => {
      const h = record(entry) ?? {};
      return {
        from: text(h.from),
        to: text(h.to),
        cause: text(h.cause),
        causeKey: lookup(CAUSE_KEYS, h.cause) ?? null,
        actor: text(h.actor),
        at: parseTimestamp(h.at),
        index,
      };
    })
    // Newest first; the panel shows the last few.
    .sort((a, b) => (b.at ?? -Infinity) - (a.at ?? -Infinity) || b.index - a.index);
  return {
    state: text(bot.state),
    key: known.key,
    toggleAction: known.toggle,
    canTurnOff: bot.state !== 'off',
    pausedUntil: pausedUntil !== null && pausedUntil > nowMs ? pausedUntil : null,
    history,
  };
}

// ── who holds the thread (Meta's Conversation Routing) ──

export interface ControlView {
  /** Who answers the customer instead of CoEx. */
  holder: 'meta_agent' | 'other_app';
  labelKey: 'control_meta_agent' | 'control_other_app';
  /** What that means for CoEx's agent and for a reply sent from the CRM. */
  detailKey: 'control_meta_agent_detail' | 'control_other_app_detail';
  /** The other app's Meta app id, when Meta named it. */
  appId: string | null;
  /** When the holder last changed (epoch ms), or null when unknown. */
  since: number | null;
}

const CONTROL_KEYS = {
  meta_agent: { labelKey: 'control_meta_agent', detailKey: 'control_meta_agent_detail' },
  other_app: { labelKey: 'control_other_app', detailKey: 'control_other_app_detail' },
} as const;

/**
 * `thread.control` of GET /thread → what to show next to the bot state, or null when there is
 * nothing to say: CoEx holds the thread (the normal case), or the server sent no readable `control`
 * (an older server, garbage). The server's agent answers only while the holder is exactly `coex`
 * (core/src/agent/orchestrator.ts), so any other holder it may name one day reads as another app:
 * CoEx's agent is silent either way.
 */
export function controlView(input: unknown): ControlView | null {
  const control = record(input);
  const holder = control?.holder;
  if (!control || typeof holder !== 'string' || holder.trim() === '' || holder === 'coex') {
    return null;
  }
  const known = holder === 'meta_agent' ? 'meta_agent' : 'other_app';
  const appId = control.app_id;
  return {
    holder: known,
    ...CONTROL_KEYS[known],
    appId: known === 'other_app' && (typeof appId === 'string' || typeof appId === 'number') && String(appId).trim() !== '' ? String(appId).trim() : null,
    since: parseTimestamp(control.since),
  };
}

// ── history sync ──

/** Progress comes as 0..1, 0..100, or { percent }: normalise to an integer percentage or null. */
export function progressPercent(progress: unknown): number | null {
  let value = progress;
  const wrapped = record(value);
  if (wrapped) {
    value = wrapped.percent;
  }
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    return null;
  }
  const pct = value <= 1 ? value * 100 : value;
  return Math.max(0, Math.min(100, Math.round(pct)));
}

export interface SyncView {
  history: { status: string; percent: number | null; running: boolean; declined: boolean; failed: boolean; visible: boolean };
  contacts: { status: string };
}

export function syncView(sync: unknown): SyncView {
  const history = record(record(sync)?.history) ?? {};
  const contacts = record(record(sync)?.contacts) ?? {};
  const status = text(history.status) || 'unknown';
  const running = ['pending', 'in_progress', 'running', 'importing'].includes(status);
  return {
    history: {
      status,
      percent: progressPercent(history.progress),
      running,
      declined: status === 'declined',
      failed: status === 'failed',
      // Nothing to say once history is fully in.
      visible: running || status === 'declined' || status === 'failed',
    },
    contacts: { status: text(contacts.status) || 'unknown' },
  };
}

// ── templates (GET /ext/v1/:crm/templates) ──

/** {{1}} or {{first_name}} in a template body; the names match the server's `parameters.names`. */
const PLACEHOLDER = /\{\{\s*([A-Za-z0-9_]+)\s*\}\}/g;

export interface TemplateChoice {
  id: string;
  name: string;
  language: string;
  category: string;
  body: string;
  format: 'positional' | 'named';
  names: string[];
}

export interface TemplateChoices {
  choices: TemplateChoice[];
  unsendable: number;
  stale: boolean;
  fetchedAt: number | null;
}

/** One picker entry from one template of GET /templates, or null for an entry without a name and language. */
export function templateChoice(input: unknown): TemplateChoice | null {
  const tpl = record(input);
  if (!tpl || typeof tpl.name !== 'string' || !tpl.name || typeof tpl.language !== 'string' || !tpl.language) {
    return null;
  }
  const parameters = record(tpl.parameters) ?? {};
  return {
    id: `${tpl.name}|${tpl.language}`,
    name: tpl.name,
    language: tpl.language,
    category: text(tpl.category),
    body: text(tpl.body),
    format: parameters.format === 'named' ? 'named' : 'positional',
    // One input per placeholder name: a repeated or malformed name is left out.
    names: Array.isArray(parameters.names) ? [...new Set(parameters.names.filter((n): n is string => typeof n === 'string' && n !== ''))] : [],
  };
}

/**
 * GET /templates → what the picker offers: the sendable templates only (the others need a media
 * header, button values or a one-time code the reply box cannot give), how many were left out, and
 * whether the server served its last list because Meta could not be reached (`stale`).
 */
export function templateChoices(response: unknown): TemplateChoices {
  const res = record(response);
  const all: unknown[] = res && Array.isArray(res.templates) ? res.templates : [];
  const choices: TemplateChoice[] = [];
  let unsendable = 0;
  for (const tpl of all) {
    const choice = templateChoice(tpl);
    if (!choice) {
      continue;
    }
    if (record(tpl)?.sendable !== true) {
      unsendable += 1;
      continue;
    }
    choices.push(choice);
  }
  return { choices, unsendable, stale: Boolean(res && res.stale), fetchedAt: parseTimestamp(res && res.fetched_at) };
}

export type ParameterProblem = 'param_required' | 'param_whitespace' | 'param_too_long';

/** The server's limit for one body parameter (core/src/api/reply.ts). */
export const MAX_PARAMETER_LENGTH = 1024;

/**
 * Why a parameter value cannot be sent, or null. Meta refuses body parameters with new lines, tabs
 * or more than four spaces in a row (error 132018), so the picker says it before sending.
 */
export function templateParameterProblem(value: unknown): ParameterProblem | null {
  const trimmed = typeof value === 'string' ? value.trim() : '';
  if (!trimmed) {
    return 'param_required';
  }
  if (trimmed.length > MAX_PARAMETER_LENGTH) {
    return 'param_too_long';
  }
  if (/[\n\r\t]| {5,}/.test(trimmed)) {
    return 'param_whitespace';
  }
  return null;
}

export interface PreviewSegment {
  text: string;
  name: string | null;
  filled: boolean;
}

type Values = Readonly<Record<string, unknown>> | null | undefined;

function valueOf(values: Values, name: string): string {
  const value = values && Object.hasOwn(values, name) ? values[name] : undefined;
  return typeof value === 'string' ? value.trim() : '';
}

/**
 * The body with the values typed so far: `segments` alternate plain text and placeholders
 * ({ text, name, filled }) so a UI can mark the missing ones; `text` is the flat preview.
 */
export function templatePreview(choice: Pick<TemplateChoice, 'body'> | null | undefined, values: Values): { segments: PreviewSegment[]; text: string } {
  const body = (choice && choice.body) || '';
  const segments: PreviewSegment[] = [];
  let last = 0;
  for (const match of body.matchAll(PLACEHOLDER)) {
    if (match.index > last) {
      segments.push({ text: body.slice(last, match.index), name: null, filled: true });
    }
    const name = match[1]!;
    const value = valueOf(values, name);
    // An empty placeholder stays as the template writes it, so the person sees what is missing.
    segments.push({ text: value || match[0], name, filled: Boolean(value) });
    last = match.index + match[0].length;
  }
  if (last < body.length) {
    segments.push({ text: body.slice(last), name: null, filled: true });
  }
  return { segments, text: segments.map((s) => s.text).join('') };
}

export interface TemplateMessage {
  name: string;
  language: string;
  body_parameters?: string[] | Record<string, string>;
}

/**
 * The trimmed values as `body_parameters`: an array in `names` order (positional) or an object keyed
 * by name (named); undefined for a template without parameters. Does not check the values.
 */
export function templateBodyParameters(choice: Pick<TemplateChoice, 'format' | 'names'>, values: Values): string[] | Record<string, string> | undefined {
  if (!choice.names.length) {
    return undefined;
  }
  const trimmed = choice.names.map((name) => valueOf(values, name));
  return choice.format === 'named' ? Object.fromEntries(choice.names.map((name, i) => [name, trimmed[i]!])) : trimmed;
}

/**
 * The `template` object of POST /threads/:id/messages, or null while a parameter is missing or
 * invalid; `body_parameters` as templateBodyParameters builds it, left out without parameters.
 */
export function templateMessage(choice: Pick<TemplateChoice, 'name' | 'language' | 'format' | 'names'> | null | undefined, values: Values): TemplateMessage | null {
  if (!choice) {
    return null;
  }
  if (choice.names.some((name) => templateParameterProblem(valueOf(values, name)) !== null)) {
    return null;
  }
  const message: TemplateMessage = { name: choice.name, language: choice.language };
  const bodyParameters = templateBodyParameters(choice, values);
  if (bodyParameters !== undefined) {
    message.body_parameters = bodyParameters;
  }
  return message;
}

// ── campaign reports (GET /ext/v1/:crm/campaigns) ──

const CAMPAIGN_STATUS_KEYS: Readonly<Record<string, string>> = {
  draft: 'campaign_draft',
  scheduled: 'campaign_scheduled',
  running: 'campaign_running',
  paused: 'campaign_paused',
  completed: 'campaign_completed',
};

const OPT_OUT_SOURCE_KEYS: Readonly<Record<string, string>> = {
  keyword: 'opt_out_keyword',
  api: 'opt_out_api',
  crm: 'opt_out_crm',
  131050: 'opt_out_meta',
  // The customer's own "Stop promotions" in WhatsApp (user_preferences webhook).
  whatsapp: 'opt_out_whatsapp',
};

export type OutcomeKey = 'failed' | 'skipped' | 'pending' | 'read' | 'delivered' | 'sent';

export interface RecipientOutcome {
  /** The furthest state reached; `pending` covers queued and sending (not accepted by Meta yet). */
  key: OutcomeKey;
  labelKey: string;
  /** Set for `pending` when the runner is sending it right now (the HubSpot card and WooCommerce say so). */
  sending: boolean;
  errorCode: string;
  error: string;
  /** Why the campaign runner skipped the customer (e.g. `opted_out`), for `skipped` only. */
  skipReason: string;
  sentAt: number | null;
  replied: boolean;
}

/** This customer's outcome in one campaign: the furthest state their message reached. */
export function recipientOutcome(input: unknown): RecipientOutcome | null {
  const recipient = record(input);
  if (!recipient) {
    return null;
  }
  const status = recipient.status;
  const messageStatus = recipient.message_status;
  let key: OutcomeKey;
  if (status === 'failed' || messageStatus === 'failed') {
    key = 'failed';
  } else if (status === 'skipped') {
    key = 'skipped';
  } else if (status === 'queued' || status === 'sending') {
    key = 'pending';
  } else if (messageStatus === 'read' || messageStatus === 'played') {
    key = 'read';
  } else if (messageStatus === 'delivered') {
    key = 'delivered';
  } else {
    key = 'sent';
  }
  const errorCode = recipient.error_code === null || recipient.error_code === undefined ? '' : String(recipient.error_code);
  return {
    key,
    labelKey: `outcome_${key}`,
    sending: status === 'sending',
    errorCode: key === 'failed' ? errorCode : '',
    error: key === 'failed' ? text(recipient.error) : '',
    skipReason: key === 'skipped' ? text(recipient.error) : '',
    sentAt: parseTimestamp(recipient.sent_at),
    replied: recipient.replied === true,
  };
}

function countOf(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? Math.round(value) : 0;
}

export interface CampaignTotals {
  total: number;
  sent: number;
  delivered: number;
  read: number;
  failed: number;
  replied: number;
}

export function campaignTotals(counts: unknown): CampaignTotals {
  const c = record(counts) ?? {};
  return { total: countOf(c.total), sent: countOf(c.sent), delivered: countOf(c.delivered), read: countOf(c.read), failed: countOf(c.failed), replied: countOf(c.replied) };
}

export interface CampaignView {
  id: string;
  name: string;
  status: string;
  statusKey: string | null;
  template: string;
  startedAt: number | null;
  outcome: RecipientOutcome | null;
  totals: CampaignTotals;
}

export interface OptOutView {
  source: string;
  sourceKey: string | null;
  detail: string;
  at: number | null;
}

export interface CampaignsView {
  campaigns: CampaignView[];
  optOut: OptOutView | null;
}

/** The marketing opt-out of GET /campaigns (`opt_out`), or null. */
export function optOutView(input: unknown): OptOutView | null {
  const optOut = record(input);
  if (!optOut) {
    return null;
  }
  return {
    source: String(optOut.source ?? ''),
    sourceKey: lookup(OPT_OUT_SOURCE_KEYS, optOut.source) ?? null,
    detail: text(optOut.detail),
    at: parseTimestamp(optOut.at),
  };
}

/** GET /campaigns → the card's Campaigns block, newest first as the server sent them. */
export function campaignsView(response: unknown): CampaignsView {
  const res = record(response);
  const list: unknown[] = res && Array.isArray(res.campaigns) ? res.campaigns : [];
  const campaigns = list
    .map((entry) => record(entry))
    .filter((c): c is Json => c !== null)
    .map((c, index) => {
      const template = record(c.template) ?? {};
      const templateName = text(template.name);
      const templateLanguage = text(template.language);
      return {
        id: c.id === undefined || c.id === null ? `campaign-${index}` : String(c.id),
        name: typeof c.name === 'string' && c.name ? c.name : '—',
        status: text(c.status),
        statusKey: lookup(CAMPAIGN_STATUS_KEYS, c.status) ?? null,
        template: templateName ? `${templateName}${templateLanguage ? ` (${templateLanguage})` : ''}` : '',
        startedAt: parseTimestamp(c.started_at) ?? parseTimestamp(c.created_at),
        outcome: recipientOutcome(c.recipient),
        totals: campaignTotals(c.counts),
      };
    });
  return { campaigns, optOut: optOutView(res && res.opt_out) };
}

// ── scrolling the timeline ──

/** Within this many pixels of the end counts as "at the newest message". */
export const STICKY_BOTTOM_PX = 48;

export interface ScrollMetrics {
  scrollTop: number;
  scrollHeight: number;
  clientHeight: number;
}

export function isNearBottom(metrics: ScrollMetrics | null | undefined, slack = STICKY_BOTTOM_PX): boolean {
  if (!metrics) {
    return true;
  }
  return metrics.scrollHeight - metrics.clientHeight - metrics.scrollTop <= slack;
}

/**
 * Where the timeline should be scrolled after it re-rendered. `reason`: "load" (first render of a
 * record) and "sent" (the user's own message) go to the newest message; "refresh" follows new
 * messages only when the user was already at the bottom, and otherwise keeps their position.
 */
export function nextScrollTop(reason: 'load' | 'sent' | 'refresh', before: ScrollMetrics | null | undefined, after: ScrollMetrics): number {
  const bottom = Math.max(0, after.scrollHeight - after.clientHeight);
  if (reason !== 'refresh' || !before || isNearBottom(before)) {
    return bottom;
  }
  return Math.min(before.scrollTop, bottom);
}
