export {
  clearOptOut,
  isOptedOut,
  optOutHook,
  optOutSkipReason,
  recordConsentSignal,
  recordOptOut,
  recordOptOutIfAny,
  SKIP_REASON_LABELS,
  WHATSAPP_CONSENT_SOURCES,
  type ConsentOutcome,
  type ConsentSignal,
  type OptOutEvent,
  type OptOutListener,
} from './opt-outs.js';
export { CsvFormatError, parseCsv, recipientsFromCsv, recipientsFromList, resolveBodyParameters, type PreparedList, type PreparedRecipient, type RecipientInput } from './recipients.js';
export { CampaignLanePacer, DEFAULT_CAMPAIGN_SHARE, campaignLaneKey, type CampaignLanePacerOptions, type LaneReservation } from './lane-pacer.js';
export { CampaignRunner, clientRefFor, createCampaignSender, type CampaignRunnerOptions, type CampaignSender } from './runner.js';
export { CampaignError, campaignReport, createCampaign, listCampaigns, pauseCampaign, startCampaign, type CampaignReport } from './store.js';
export {
  HubSpotSegmentSource,
  OdooSegmentSource,
  WooCommerceSegmentSource,
  ZohoSegmentSource,
  type OdooSegmentOptions,
  type SegmentRunStats,
  type SegmentSource,
  type WooCommerceSegmentOptions,
  type ZohoSegmentOptions,
} from './segments.js';
