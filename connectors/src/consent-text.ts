import type { MarketingConsentChange } from './types.js';

/**
 * How a marketing opt-out / opt-in reads in a CRM note, shared by the four connectors so a CRM user
 * sees the same words in HubSpot, WooCommerce, Odoo and Zoho. Plain text: each connector escapes it
 * for its own note format.
 */

/** "🚫 Opted out of WhatsApp marketing" / "✅ Opted back in to WhatsApp marketing". */
export function consentHeadline(change: Pick<MarketingConsentChange, 'action'>): string {
  return change.action === 'opt_out' ? '🚫 Opted out of WhatsApp marketing' : '✅ Opted back in to WhatsApp marketing';
}

/** How the change came about, in words a CRM user understands. */
export function consentSource(change: Pick<MarketingConsentChange, 'source' | 'detail'>): string {
  const detail = change.detail?.trim();
  switch (change.source) {
    case 'keyword':
      return detail ? `the customer wrote "${detail}"` : 'the customer sent an opt-out keyword';
    case '131050':
      return 'WhatsApp reported that the customer stopped marketing messages from this business (error 131050)';
    case 'api':
      return detail ? `set through the CoEx API (${detail})` : 'set through the CoEx API';
    case 'crm':
      return detail ? `set from the CRM by ${detail}` : 'set from the CRM';
    default:
      return detail ? `${change.source} (${detail})` : change.source;
  }
}
