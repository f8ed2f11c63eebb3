import type { Campaign, CampaignCounts, CampaignRecipient, OptOut } from './contract.js';
import { recipientOutcome as sharedOutcome } from './vendor/ui-shared/index.js';
import { formatDateTime, sharedLabel, type Badge } from './thread-logic.js';

/*
 * The "Campaigns" section without React (docs/extension-api.md, GET …/campaigns?phone=): for each
 * template campaign that included this customer, what happened to the customer's own message, how
 * the campaign went overall, and whether the customer has opted out of marketing.
 */

const CAMPAIGN_STATUSES: Record<string, Badge> = {
  draft: { label: sharedLabel('campaign_draft'), variant: 'default' },
  scheduled: { label: sharedLabel('campaign_scheduled'), variant: 'info' },
  running: { label: sharedLabel('campaign_running'), variant: 'info' },
  paused: { label: sharedLabel('campaign_paused'), variant: 'warning' },
  completed: { label: sharedLabel('campaign_completed'), variant: 'success' },
};

export function campaignStatusBadge(status: string): Badge {
  return CAMPAIGN_STATUSES[status] ?? { label: status.replace(/_/g, ' '), variant: 'default' };
}

export interface RecipientOutcome {
  badge: Badge;
  /** The error for a failed or skipped message, e.g. "Error 131049: …". */
  detail: string | null;
}

/** Why the campaign runner skipped a customer (core/src/campaigns: the recipient's `error`). */
const SKIP_REASONS: Record<string, string> = {
  opted_out: 'The customer had opted out of marketing messages',
  opted_out_whatsapp: 'The customer had stopped promotions in WhatsApp',
  marketing_limit_24h: 'The customer already got a marketing message in the last 24 hours',
};

function errorDetail(r: CampaignRecipient): string | null {
  if (r.error_code === null && r.error === null) return null;
  if (r.error_code === null && r.status === 'skipped' && r.error !== null) return SKIP_REASONS[r.error] ?? r.error.replace(/_/g, ' ');
  if (r.error_code === null) return r.error;
  return `Error ${r.error_code}${r.error ? `: ${r.error}` : ''}`;
}

/**
 * This customer's message: the furthest state WhatsApp reported once it was sent (read ⊃
 * delivered ⊃ sent), a failure with its error (also when it failed after Meta accepted it), or
 * where it stands in the campaign before sending.
 */
export function recipientOutcome(r: CampaignRecipient): RecipientOutcome {
  // Which state was reached is the shared rule (ui-shared); the card adds its labels and details.
  const outcome = sharedOutcome(r)!;
  if (outcome.key === 'failed') return { badge: { label: sharedLabel('outcome_failed'), variant: 'error' }, detail: errorDetail(r) ?? 'No reason given' };
  if (!RECIPIENT_STATUSES.has(r.status)) return { badge: { label: r.status.replace(/_/g, ' '), variant: 'default' }, detail: errorDetail(r) };
  switch (outcome.key) {
    case 'skipped':
      return { badge: { label: sharedLabel('outcome_skipped'), variant: 'default' }, detail: errorDetail(r) };
    case 'pending':
      return { badge: { label: outcome.sending ? 'Sending' : sharedLabel('outcome_pending'), variant: 'info' }, detail: null };
    case 'read':
      return { badge: { label: sharedLabel('outcome_read'), variant: 'success' }, detail: null };
    case 'delivered':
      return { badge: { label: sharedLabel('outcome_delivered'), variant: 'success' }, detail: null };
    default:
      return { badge: { label: sharedLabel('outcome_sent'), variant: 'info' }, detail: null };
  }
}

/** Recipient statuses of docs/extension-api.md; another one is shown as the server wrote it. */
const RECIPIENT_STATUSES = new Set(['queued', 'sending', 'sent', 'failed', 'skipped']);

const number = new Intl.NumberFormat('en-US');

/** One compact line; a table of nine counts does not fit a record tab. */
export function campaignTotals(c: CampaignCounts): string {
  const parts = [`${number.format(c.sent)} sent`, `${number.format(c.delivered)} delivered`, `${number.format(c.read)} read`, `${number.format(c.failed)} failed`, `${number.format(c.replied)} replied`];
  return `${parts.join(' · ')} of ${number.format(c.total)}`;
}

/** The largest failure codes first (the server sorts and keeps ≤ 5), e.g. "131049 ×5, 131026 ×1". */
export function topFailures(failures: Campaign['failures'], limit = 3): string | null {
  if (failures.length === 0) return null;
  const shown = failures.slice(0, limit).map((f) => `${f.code} ×${number.format(f.count)}`);
  const more = failures.length - shown.length;
  return `${shown.join(', ')}${more > 0 ? ` and ${more} more` : ''}`;
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

export function campaignView(c: Campaign, timeZone?: string): CampaignView {
  const outcome = c.recipient ? recipientOutcome(c.recipient) : null;
  const replied = c.recipient?.replied === true;
  const title = outcome ? `${c.name}: ${outcome.badge.label.toLowerCase()}${replied ? ', replied' : ''}` : c.name;
  const when = c.recipient?.sent_at
    ? `Sent ${formatDateTime(c.recipient.sent_at, timeZone)}`
    : c.started_at
      ? `Started ${formatDateTime(c.started_at, timeZone)}`
      : `Created ${formatDateTime(c.created_at, timeZone)}`;
  return {
    id: c.id,
    title,
    template: `${c.template.name} (${c.template.language})`,
    status: campaignStatusBadge(c.status),
    outcome,
    replied,
    when,
    totals: campaignTotals(c.counts),
    failures: topFailures(c.failures),
  };
}

export interface OptOutView {
  title: string;
  body: string;
}

/** The customer asked not to receive marketing: campaigns of the number leave them out. */
export function optOutView(o: OptOut | null, timeZone?: string): OptOutView | null {
  if (!o) return null;
  const at = formatDateTime(o.at, timeZone);
  const detail = o.detail?.trim() ? o.detail.trim() : null;
  let how: string;
  switch (o.source) {
    case 'keyword':
      how = detail ? `Wrote "${detail}"` : 'Wrote an opt-out keyword';
      break;
    case '131050':
    case 'whatsapp':
      how = 'Stopped marketing messages from this business in WhatsApp';
      break;
    case 'crm':
      how = detail ? `Opted out in a CRM (${detail})` : 'Opted out in a CRM';
      break;
    case 'api':
      how = detail ? `Opted out through the CoEx API (${detail})` : 'Opted out through the CoEx API';
      break;
    default:
      how = detail ? `Opted out (${o.source.replace(/_/g, ' ')}: ${detail})` : `Opted out (${o.source.replace(/_/g, ' ')})`;
  }
  return { title: sharedLabel('opt_out'), body: `${how} on ${at}. Marketing campaigns leave this customer out; service replies and utility templates still reach them.` };
}
