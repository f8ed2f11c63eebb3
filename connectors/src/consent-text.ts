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

/**
 * The source in two words, as the CRM UIs and properties show it: "WhatsApp: stop promotions" when
 * the customer set it in WhatsApp itself (the `user_preferences` webhook, or Meta's 131050 refusal),
 * "keyword" when they wrote STOP / baraka / توقف, "API", "CRM".
 */
export function consentSourceLabel(change: Pick<MarketingConsentChange, 'source' | 'action' | 'detail'>): string {
  switch (change.source) {
    case 'whatsapp':
      if (change.action === 'opt_out') return 'WhatsApp: stop promotions';
      return change.detail?.startsWith('signed up') ? 'WhatsApp: signed up' : 'WhatsApp: resume promotions';
    case '131050':
      return 'WhatsApp: stop promotions';
    case 'keyword':
      return 'keyword';
    case 'api':
      return 'API';
    case 'crm':
      return 'CRM';
    default:
      return change.source;
  }
}

/** How the change came about, in words a CRM user understands (starts with consentSourceLabel for WhatsApp's own signals). */
export function consentSource(change: Pick<MarketingConsentChange, 'source' | 'detail'> & Partial<Pick<MarketingConsentChange, 'action'>>): string {
  const detail = change.detail?.trim();
  switch (change.source) {
    case 'keyword':
      return detail ? `keyword: the customer wrote "${detail}"` : 'keyword: the customer sent an opt-out keyword';
    case 'whatsapp': {
      const label = consentSourceLabel({ source: change.source, action: change.action ?? 'opt_out', detail: change.detail });
      const how =
        change.action === 'opt_in'
          ? label === 'WhatsApp: signed up'
            ? 'the customer signed up for marketing messages from this business in WhatsApp'
            : 'the customer turned marketing messages from this business back on in WhatsApp'
          : 'the customer turned off marketing messages from this business in WhatsApp';
      return `${label} (${how})`;
    }
    case '131050':
      return 'WhatsApp: stop promotions (WhatsApp reported that the customer stopped marketing messages from this business, error 131050)';
    case 'api':
      return detail ? `set through the CoEx API (${detail})` : 'set through the CoEx API';
    case 'crm':
      return detail ? `set from the CRM by ${detail}` : 'set from the CRM';
    default:
      return detail ? `${change.source} (${detail})` : change.source;
  }
}
