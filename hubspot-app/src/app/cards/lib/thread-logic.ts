import type { Bot, BotEvent, BotState, Message, Origin, Sync, Thread, ThreadResponse } from './contract.js';
import { composerMode as sharedComposerMode, controlView, dayKey as sharedDayKey, languageOf, translator, type Translate } from './vendor/ui-shared/index.js';

/**
 * Every word the card shows comes from the shared catalogue (ui-shared/src/strings.ts) in the HubSpot
 * user's language (`context.user.locale`), English when the catalogue has not got it; dates and
 * numbers follow the same locale. `ui-shared/catalogue-only.test.ts` fails on a sentence written here instead.
 */
export interface CardLanguage {
  t: Translate;
  /** Locale for dates (English keeps the card's day-month order, en-GB). */
  dates: string;
  /** Locale for numbers. */
  numbers: string;
}

function supportedLocale(locale: string, fallback: string): string {
  try {
    return Intl.DateTimeFormat.supportedLocalesOf([locale]).length > 0 ? locale : fallback;
  } catch {
    // Not a BCP 47 tag at all.
    return fallback;
  }
}

export function cardLanguage(locale?: string | null): CardLanguage {
  const language = languageOf(locale);
  if (language === 'en') return { t: translator('en'), dates: 'en-GB', numbers: 'en-US' };
  // HubSpot writes locales like "fr" or "ar-ma"; Intl reads them as they are (ar-MA keeps Latin digits).
  const tag = supportedLocale(String(locale).replace(/_/g, '-'), language);
  return { t: translator(language), dates: tag, numbers: tag };
}

/** The card in English: the default of every function below (tests, and users HubSpot gives no locale). */
export const ENGLISH: CardLanguage = cardLanguage('en');

/*
 * Everything the card decides, without React: which phone to ask for, how a message is badged and
 * grouped, whether the reply box offers free text or templates, what the bot toggle does, how sync
 * progress reads. The React card only renders what these functions return.
 */

export type TagVariant = 'default' | 'warning' | 'success' | 'error' | 'info';
export interface Badge {
  label: string;
  variant: TagVariant;
}

/** A badge before translation: its catalogue key and colour (the tables below). */
export interface BadgeKey {
  key: string;
  variant: TagVariant;
}

/** The badge in the card's language, or `otherwise` for a value the table does not know. */
export function badgeOf(entry: BadgeKey | undefined, { t }: CardLanguage, otherwise: () => Badge): Badge {
  return entry ? { label: t(entry.key), variant: entry.variant } : otherwise();
}

// ---------------------------------------------------------------------------------------------
// Phone of the record

/** Read in this order: the WhatsApp-specific property wins over the generic ones. */
export const PHONE_PROPERTIES = ['hs_whatsapp_phone_number', 'mobilephone', 'phone'] as const;
export type PhoneProperty = (typeof PHONE_PROPERTIES)[number];

/**
 * Strips display formatting from a CRM phone value; the server does the real normalisation
 * (libphonenumber, Moroccan `06…`/`00212…` forms). Returns null for values that cannot be a phone.
 */
export function cleanPhone(raw: string | null | undefined): string | null {
  if (raw == null) return null;
  const trimmed = raw.trim();
  if (trimmed === '' || /[a-z]/i.test(trimmed.replace(/^tel:/i, ''))) return null;
  const withoutScheme = trimmed.replace(/^tel:/i, '');
  const plus = withoutScheme.startsWith('+') ? '+' : '';
  const digits = withoutScheme.replace(/[\s().\-/]/g, '').replace(/^\+/, '');
  if (!/^\d{6,15}$/.test(digits)) return null;
  return plus + digits;
}

export function pickPhone(properties: Readonly<Record<string, string | null | undefined>>): { phone: string; property: PhoneProperty } | null {
  for (const property of PHONE_PROPERTIES) {
    const phone = cleanPhone(properties[property]);
    if (phone) return { phone, property };
  }
  return null;
}

export interface PhoneCandidate {
  contactId: string;
  label: string;
  phone: string;
}

/** Associated contacts of a deal or ticket that have a usable phone, one entry per distinct phone. */
export function phoneCandidates(
  contacts: readonly { toObjectId: number; properties: Readonly<Record<string, string | null | undefined>> }[],
): PhoneCandidate[] {
  const seen = new Set<string>();
  const out: PhoneCandidate[] = [];
  for (const c of contacts) {
    const picked = pickPhone(c.properties);
    if (!picked || seen.has(picked.phone)) continue;
    seen.add(picked.phone);
    const name = [c.properties.firstname, c.properties.lastname].filter((p): p is string => typeof p === 'string' && p.trim() !== '').join(' ');
    out.push({ contactId: String(c.toObjectId), label: name ? `${name} (${picked.phone})` : picked.phone, phone: picked.phone });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Message badges and bodies

const ORIGIN_BADGES: Record<Origin, BadgeKey> = {
  customer: { key: 'customer', variant: 'default' },
  // Sent by the owner from the WhatsApp Business App on the phone (an echo).
  app: { key: 'phone_app', variant: 'info' },
  // The AI agent's replies (origin `agent` in the store).
  agent: { key: 'ai_agent', variant: 'success' },
  // Sent through the CoEx API, which includes replies typed in a CRM card.
  api: { key: 'api', variant: 'warning' },
  history: { key: 'history', variant: 'default' },
};

export function originBadge(origin: Origin, lang: CardLanguage = ENGLISH): Badge {
  return badgeOf(ORIGIN_BADGES[origin], lang, () => ({ label: origin, variant: 'default' }));
}

export function directionBadge(direction: Message['direction'], { t }: CardLanguage = ENGLISH): Badge {
  return direction === 'inbound' ? { label: t('card_direction_in'), variant: 'default' } : { label: t('card_direction_out'), variant: 'info' };
}

export function messageBadges(m: Message, lang: CardLanguage = ENGLISH): Badge[] {
  const badges = [directionBadge(m.direction, lang), originBadge(m.origin, lang)];
  if (m.direction === 'outbound' && m.status === 'failed') badges.push({ label: lang.t('outcome_failed'), variant: 'error' });
  return badges;
}

export type TranscriptLine =
  | { state: 'done'; text: string }
  | { state: 'pending'; text: string }
  | { state: 'failed'; text: string };

export interface MessageBody {
  text: string;
  transcript: TranscriptLine | null;
}

const VOICE_TYPES = new Set(['audio', 'voice']);

export function messageBody(m: Message, { t }: CardLanguage = ENGLISH): MessageBody {
  const isVoice = VOICE_TYPES.has(m.type);
  const text = m.text && m.text.trim() !== '' ? m.text : isVoice ? t('voice_note') : `[${m.type.replace(/_/g, ' ')}]`;
  if (!isVoice) return { text, transcript: null };
  switch (m.transcript_state) {
    case 'done':
      return { text, transcript: m.transcript ? { state: 'done', text: m.transcript } : { state: 'failed', text: t('card_transcript_empty') } };
    case 'pending':
    case 'transcribing':
      return { text, transcript: { state: 'pending', text: t('transcribing') } };
    case 'failed':
      return { text, transcript: { state: 'failed', text: t('transcript_failed') } };
    default:
      return { text, transcript: m.transcript ? { state: 'done', text: m.transcript } : null };
  }
}

// ---------------------------------------------------------------------------------------------
// Timeline

export interface TimelineEntry {
  id: string;
  time: string;
  badges: Badge[];
  body: MessageBody;
}
export interface TimelineDay {
  key: string;
  label: string;
  entries: TimelineEntry[];
}
export interface Timeline {
  days: TimelineDay[];
  /** Older messages left out by `limit`. */
  hidden: number;
}

function safeTimeZone(timeZone: string | undefined): string {
  if (!timeZone) return 'UTC';
  try {
    new Intl.DateTimeFormat('en', { timeZone });
    return timeZone;
  } catch {
    return 'UTC';
  }
}

function dayKey(date: Date, timeZone: string): string {
  return sharedDayKey(date.getTime(), timeZone);
}

export function formatTime(iso: string, timeZone?: string, { dates }: CardLanguage = ENGLISH): string {
  return new Intl.DateTimeFormat(dates, { timeZone: safeTimeZone(timeZone), hour: '2-digit', minute: '2-digit' }).format(new Date(iso));
}

export function formatDateTime(iso: string, timeZone?: string, { dates }: CardLanguage = ENGLISH): string {
  return new Intl.DateTimeFormat(dates, { timeZone: safeTimeZone(timeZone), day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit' }).format(new Date(iso));
}

/**
 * Messages in time order grouped by calendar day in the portal's time zone. Duplicates (same id,
 * e.g. a live message and its history copy merged late) are shown once, keeping the last seen.
 */
export function buildTimeline(messages: readonly Message[], opts: { timeZone?: string; now: Date; limit?: number; lang?: CardLanguage }): Timeline {
  const lang = opts.lang ?? ENGLISH;
  const timeZone = safeTimeZone(opts.timeZone);
  const byId = new Map<string, Message>();
  for (const m of messages) byId.set(m.id, m);
  const ordered = [...byId.values()]
    .map((m, i) => ({ m, i, t: Date.parse(m.timestamp) }))
    .sort((a, b) => a.t - b.t || a.i - b.i)
    .map((x) => x.m);
  const limit = opts.limit ?? ordered.length;
  const shown = limit >= ordered.length ? ordered : ordered.slice(ordered.length - limit);

  const today = dayKey(opts.now, timeZone);
  const yesterday = dayKey(new Date(opts.now.getTime() - 86_400_000), timeZone);
  const labelFormat = new Intl.DateTimeFormat(lang.dates, { timeZone, weekday: 'short', day: 'numeric', month: 'short', year: 'numeric' });

  const days: TimelineDay[] = [];
  for (const m of shown) {
    const date = new Date(m.timestamp);
    const key = dayKey(date, timeZone);
    let day = days[days.length - 1];
    if (!day || day.key !== key) {
      day = { key, label: key === today ? lang.t('card_today') : key === yesterday ? lang.t('card_yesterday') : labelFormat.format(date), entries: [] };
      days.push(day);
    }
    day.entries.push({ id: m.id, time: formatTime(m.timestamp, timeZone, lang), badges: messageBadges(m, lang), body: messageBody(m, lang) });
  }
  return { days, hidden: ordered.length - shown.length };
}

// ---------------------------------------------------------------------------------------------
// Customer-service window and the reply box

export type Composer =
  | { mode: 'none' }
  | { mode: 'text'; closesAt: string | null }
  | { mode: 'template'; reason: 'window_closed' | 'server_refused' };

/**
 * Free text only inside the 24-hour window; templates otherwise. The client clock closes the window
 * when `closes_at` passes even if the data is stale, and a 409 `window_closed` from the server wins
 * over whatever the last fetch said.
 */
export function composerMode(thread: Thread | null, now: Date, serverRefusedText = false): Composer {
  if (!thread) return { mode: 'none' };
  if (serverRefusedText) return { mode: 'template', reason: 'server_refused' };
  // Open or not is the shared rule (ui-shared): the client clock closes a stale `open: true`.
  if (sharedComposerMode({ thread }, now.getTime()).mode === 'text') return { mode: 'text', closesAt: thread.window.closes_at };
  return { mode: 'template', reason: 'window_closed' };
}

export function formatRemaining(ms: number, { t }: CardLanguage = ENGLISH): string {
  const minutes = Math.max(0, Math.floor(ms / 60_000));
  const h = Math.floor(minutes / 60);
  const m = minutes % 60;
  return h > 0 ? t('card_duration_hm', { h, m }) : t('card_duration_m', { m });
}

export function windowBadge(thread: Thread, now: Date, serverRefusedText = false, lang: CardLanguage = ENGLISH): Badge {
  const c = composerMode(thread, now, serverRefusedText);
  if (c.mode !== 'text') return { label: lang.t('card_window_closed_badge'), variant: 'warning' };
  if (c.closesAt === null) return { label: lang.t('card_window_open'), variant: 'success' };
  return { label: lang.t('card_window_open_for', { remaining: formatRemaining(Date.parse(c.closesAt) - now.getTime(), lang) }), variant: 'success' };
}

// ---------------------------------------------------------------------------------------------
// Bot state

export type BotAction = 'pause' | 'resume' | 'off';

export function botStateBadge(bot: Bot, timeZone?: string, lang: CardLanguage = ENGLISH): Badge {
  const { t } = lang;
  switch (bot.state) {
    case 'active':
      return { label: t('bot_active'), variant: 'success' };
    case 'paused':
      return { label: bot.paused_until ? t('card_bot_paused_until', { date: formatDateTime(bot.paused_until, timeZone, lang) }) : t('bot_paused'), variant: 'warning' };
    case 'handoff_requested':
      return { label: t('bot_handoff'), variant: 'error' };
    case 'off':
      return { label: t('bot_off'), variant: 'default' };
  }
}

export interface ControlNotice {
  /** Shown next to the bot state. */
  badge: Badge;
  /** What it means for CoEx's agent and for a reply sent from the card. */
  detail: string;
  /** "since 25 Nov, 10:00", or null when the server does not know. */
  since: string | null;
}

/**
 * Meta's AI agent or another app holds the chat (Conversation Routing): CoEx's agent is silent
 * whatever the bot state says. null while CoEx holds it, the normal case.
 */
export function controlNotice(thread: Pick<Thread, 'control'>, timeZone?: string, lang: CardLanguage = ENGLISH): ControlNotice | null {
  const view = controlView(thread.control);
  if (!view) return null;
  return {
    badge: { label: `${lang.t(view.labelKey)}${view.appId ? ` (${view.appId})` : ''}`, variant: 'info' },
    detail: lang.t(view.detailKey),
    since: view.since === null ? null : `${lang.t('control_since')} ${formatDateTime(new Date(view.since).toISOString(), timeZone, lang)}`,
  };
}

export interface BotToggle {
  primary: { action: BotAction; label: string };
  secondary: { action: BotAction; label: string } | null;
}

export function botToggle(state: BotState, { t }: CardLanguage = ENGLISH): BotToggle {
  switch (state) {
    case 'active':
      return { primary: { action: 'pause', label: t('pause') }, secondary: { action: 'off', label: t('off') } };
    case 'paused':
    case 'handoff_requested':
      return { primary: { action: 'resume', label: t('resume') }, secondary: { action: 'off', label: t('off') } };
    case 'off':
      return { primary: { action: 'resume', label: t('card_turn_on') }, secondary: null };
  }
}

/** Bot causes the server records → catalogue keys. */
const CAUSES: Record<string, string> = {
  app_echo: 'card_cause_app_echo',
  crm_reply: 'card_cause_crm_reply',
  manual_pause: 'card_cause_manual_pause',
  manual_resume: 'card_cause_manual_resume',
  manual_off: 'card_cause_manual_off',
  quiet_period_elapsed: 'card_cause_quiet_period',
};

/** Product names: the same in every language. */
const CRM_NAMES: Record<string, string> = { hubspot: 'HubSpot', woocommerce: 'WooCommerce', odoo: 'Odoo', zoho: 'Zoho CRM' };

export function causeLabel(cause: string | null, { t }: CardLanguage = ENGLISH): string {
  if (!cause) return t('card_cause_unknown');
  const known = CAUSES[cause];
  if (known) return t(known);
  // A toggle from a CRM extension: crm_<crm>_<action> (docs/extension-api.md).
  const toggle = /^crm_([a-z]+)_(pause|resume|off)$/.exec(cause);
  if (toggle) return t(`card_cause_crm_${toggle[2]!}`, { crm: CRM_NAMES[toggle[1]!] ?? toggle[1]! });
  if (cause.startsWith('handoff:')) return t('card_cause_handoff', { detail: cause.slice('handoff:'.length).replace(/_/g, ' ') });
  // app_edit, app_revoke, …: any other app activity by the owner.
  if (cause.startsWith('app_')) return t('card_cause_app_activity', { detail: cause.slice(4).replace(/_/g, ' ') });
  return cause.replace(/_/g, ' ');
}

export interface BotHistoryRow {
  at: string;
  change: string;
  cause: string;
  actor: string;
}

/** Newest first. */
export function botHistoryRows(history: readonly BotEvent[], timeZone?: string, limit = 10, lang: CardLanguage = ENGLISH): BotHistoryRow[] {
  return [...history]
    .sort((a, b) => Date.parse(b.at) - Date.parse(a.at))
    .slice(0, limit)
    .map((e) => ({
      at: formatDateTime(e.at, timeZone, lang),
      change: `${(e.from ?? '?').replace(/_/g, ' ')} → ${e.to.replace(/_/g, ' ')}`,
      cause: causeLabel(e.cause, lang),
      actor: e.actor ?? lang.t('card_actor_system'),
    }));
}

// ---------------------------------------------------------------------------------------------
// Sync progress

export interface SyncView {
  history: Badge & { progress: number | null; declined: boolean };
  contacts: Badge;
}

/** Sync statuses → catalogue keys and tag colours. */
const HISTORY_STATES: Record<string, BadgeKey> = {
  complete: { key: 'card_history_complete', variant: 'success' },
  declined: { key: 'card_history_declined', variant: 'warning' },
  requested: { key: 'card_history_requested', variant: 'info' },
  request_failed: { key: 'card_history_request_failed', variant: 'warning' },
  not_requested: { key: 'card_history_not_requested', variant: 'default' },
};

const CONTACT_STATES: Record<string, BadgeKey> = {
  // Contacts keep arriving while the app shares them: "receiving" is the healthy steady state.
  receiving: { key: 'card_contacts_synced', variant: 'success' },
  complete: { key: 'card_contacts_synced', variant: 'success' },
  requested: { key: 'card_contacts_requested', variant: 'info' },
  request_failed: { key: 'card_contacts_failed', variant: 'warning' },
  not_requested: { key: 'card_contacts_not_synced', variant: 'default' },
};

/** null when the tenant has no WhatsApp number connected yet. */
export function syncView(sync: Sync | null, lang: CardLanguage = ENGLISH): SyncView | null {
  if (!sync) return null;
  const { t } = lang;
  const h = sync.history;
  const c = sync.contacts.status;
  const history: SyncView['history'] =
    h.status === 'in_progress'
      ? { label: t('card_history_importing', { percent: Math.round(h.progress) }), variant: 'info', progress: Math.round(h.progress), declined: false }
      : {
          ...badgeOf(HISTORY_STATES[h.status], lang, () => ({ label: t('card_history_other', { status: h.status.replace(/_/g, ' ') }), variant: 'default' })),
          progress: null,
          declined: h.status === 'declined',
        };
  const contacts = badgeOf(CONTACT_STATES[c], lang, () => ({ label: t('card_contacts_other', { status: c.replace(/_/g, ' ') }), variant: 'default' }));
  return { history, contacts };
}

/**
 * Poll again only while something is moving on the server (a voice note being transcribed, history
 * being imported); a settled thread is refreshed by hand, to stay well inside hubspot.fetch limits.
 */
export function refreshDelayMs(data: ThreadResponse, delayMs: number): number | null {
  const transcribing = data.messages.some((m) => VOICE_TYPES.has(m.type) && (m.transcript_state === 'pending' || m.transcript_state === 'transcribing'));
  return transcribing || data.sync?.history.status === 'in_progress' ? delayMs : null;
}
