import type { Campaign, CampaignCounts, CampaignRecipient, OptOut } from './contract.js';
import { recipientOutcome as sharedOutcome } from './vendor/ui-shared/index.js';
import { badgeOf, ENGLISH, formatDateTime, type Badge, type BadgeKey, type CardLanguage } from './thread-logic.js';

/*
 * The "Campaigns" section without React (docs/extension-api.md, GET …/campaigns?phone=): for each
 * template campaign that included this customer, what happened to the customer's own message, how
 * the campaign went overall, and whether the customer has opted out of marketing.
 */

const CAMPAIGN_STATUSES: Record<string, BadgeKey> = {
  draft: { key: 'campaign_draft', variant: 'default' },
  scheduled: { key: 'campaign_scheduled', variant: 'info' },
  running: { key: 'campaign_running', variant: 'info' },
  paused: { key: 'campaign_paused', variant: 'warning' },
  completed: { key: 'campaign_completed', variant: 'success' },
};

export function campaignStatusBadge(status: string, lang: CardLanguage = ENGLISH): Badge {
  return badgeOf(CAMPAIGN_STATUSES[status], lang, () => ({ label: status.replace(/_/g, ' '), variant: 'default' }));
}

export interface RecipientOutcome {
  badge: Badge;
  /** The error for a failed or skipped message, e.g. "Error 131049: …". */
  detail: string | null;
}

/** Why the campaign runner skipped a customer (core/src/campaigns: the recipient's `error`) → catalogue keys. */
const SKIP_REASONS: Record<string, string> = {
  opted_out: 'card_skip_opted_out',
  opted_out_whatsapp: 'card_skip_opted_out_whatsapp',
  marketing_limit_24h: 'card_skip_marketing_limit',
};

function errorDetail(r: CampaignRecipient, { t }: CardLanguage): string | null {
  if (r.error_code === null && r.error === null) return null;
  if (r.error_code === null && r.status === 'skipped' && r.error !== null) {
    const reason = SKIP_REASONS[r.error];
    return reason ? t(reason) : r.error.replace(/_/g, ' ');
  }
  if (r.error_code === null) return r.error;
  return r.error ? t('card_error_code_detail', { code: r.error_code, error: r.error }) : t('card_error_code', { code: r.error_code });
}

/**
 * This customer's message: the furthest state WhatsApp reported once it was sent (read ⊃
 * delivered ⊃ sent), a failure with its error (also when it failed after Meta accepted it), or
 * where it stands in the campaign before sending.
 */
export function recipientOutcome(r: CampaignRecipient, lang: CardLanguage = ENGLISH): RecipientOutcome {
  const { t } = lang;
  // Which state was reached is the shared rule (ui-shared); the card adds its labels and details.
  const outcome = sharedOutcome(r)!;
  if (outcome.key === 'failed') return { badge: { label: t('outcome_failed'), variant: 'error' }, detail: errorDetail(r, lang) ?? t('card_no_reason') };
  if (!RECIPIENT_STATUSES.has(r.status)) return { badge: { label: r.status.replace(/_/g, ' '), variant: 'default' }, detail: errorDetail(r, lang) };
  switch (outcome.key) {
    case 'skipped':
      return { badge: { label: t('outcome_skipped'), variant: 'default' }, detail: errorDetail(r, lang) };
    case 'pending':
      return { badge: { label: outcome.sending ? t('card_outcome_sending') : t('outcome_pending'), variant: 'info' }, detail: null };
    case 'read':
      return { badge: { label: t('outcome_read'), variant: 'success' }, detail: null };
    case 'delivered':
      return { badge: { label: t('outcome_delivered'), variant: 'success' }, detail: null };
    default:
      return { badge: { label: t('outcome_sent'), variant: 'info' }, detail: null };
  }
}

/** Recipient statuses of docs/extension-api.md; another one is shown as the server wrote it. */
const RECIPIENT_STATUSES = new Set(['queued', 'sending', 'sent', 'failed', 'skipped']);

/** One compact line (the catalogue's, as the WooCommerce timeline says it); a table of nine counts does not fit a record tab. */
export function campaignTotals(c: CampaignCounts, { t, numbers }: CardLanguage = ENGLISH): string {
  const n = new Intl.NumberFormat(numbers);
  return t('campaign_totals_line', { sent: n.format(c.sent), delivered: n.format(c.delivered), read: n.format(c.read), failed: n.format(c.failed), replied: n.format(c.replied), total: n.format(c.total) });
}

/** The largest failure codes first (the server sorts and keeps ≤ 5), e.g. "131049 ×5, 131026 ×1". */
export function topFailures(failures: Campaign['failures'], limit = 3, { t, numbers }: CardLanguage = ENGLISH): string | null {
  if (failures.length === 0) return null;
  const n = new Intl.NumberFormat(numbers);
  const list = failures.slice(0, limit).map((f) => `${f.code} ×${n.format(f.count)}`).join(', ');
  const more = failures.length - Math.min(limit, failures.length);
  return more > 0 ? t('card_failures_more', { list, count: more }) : list;
}

export interface CampaignView {
  id: string;
  /** The collapsed line: campaign name and this customer's outcome. */
  title: string;
  template: string;
  status: Badge;
  outcome: RecipientOutcome | null;
  replied: boolean;
  /** When the customer's message was sent, else when the campaign started or was created. */
  when: string;
  totals: string;
  failures: string | null;
}

export function campaignView(c: Campaign, timeZone?: string, lang: CardLanguage = ENGLISH): CampaignView {
  const { t } = lang;
  const outcome = c.recipient ? recipientOutcome(c.recipient, lang) : null;
  const replied = c.recipient?.replied === true;
  const title = outcome ? t(replied ? 'card_campaign_title_replied' : 'card_campaign_title', { name: c.name, outcome: outcome.badge.label.toLocaleLowerCase(lang.dates) }) : c.name;
  const when = c.recipient?.sent_at
    ? t('card_sent_at', { date: formatDateTime(c.recipient.sent_at, timeZone, lang) })
    : c.started_at
      ? t('card_started_at', { date: formatDateTime(c.started_at, timeZone, lang) })
      : t('card_created_at', { date: formatDateTime(c.created_at, timeZone, lang) });
  return {
    id: c.id,
    title,
    template: `${c.template.name} (${c.template.language})`,
    status: campaignStatusBadge(c.status, lang),
    outcome,
    replied,
    when,
    totals: campaignTotals(c.counts, lang),
    failures: topFailures(c.failures, 3, lang),
  };
}

export interface OptOutView {
  title: string;
  body: string;
}

/** The customer asked not to receive marketing: campaigns of the number leave them out. */
export function optOutView(o: OptOut | null, timeZone?: string, lang: CardLanguage = ENGLISH): OptOutView | null {
  if (!o) return null;
  const { t } = lang;
  const at = formatDateTime(o.at, timeZone, lang);
  const detail = o.detail?.trim() ? o.detail.trim() : null;
  const source = o.source.replace(/_/g, ' ');
  let how: string;
  switch (o.source) {
    case 'keyword':
      how = detail ? t('card_optout_wrote', { detail }) : t('card_optout_keyword');
      break;
    case '131050':
    case 'whatsapp':
      how = t('card_optout_whatsapp');
      break;
    case 'crm':
      how = detail ? t('card_optout_crm_detail', { detail }) : t('card_optout_crm');
      break;
    case 'api':
      how = detail ? t('card_optout_api_detail', { detail }) : t('card_optout_api');
      break;
    default:
      how = detail ? t('card_optout_other_detail', { source, detail }) : t('card_optout_other', { source });
  }
  return { title: t('opt_out'), body: t('card_optout_body', { how, date: at }) };
}
