import type { Kysely } from 'kysely';
import type { Config } from './config.js';
import type { Database } from './db/schema.js';

/** A setting left out, and what the server therefore does not do. Logged at start-up and listed by /readyz. */
export interface ConfigurationGap {
  missing: string;
  disables: string;
  /** warn: a core function is off (webhooks, sending, the admin API); info: an optional integration. */
  level: 'warn' | 'info';
}

export const NO_SEND_TOKEN_REASON =
  'no access token to send with: this number was not onboarded through Embedded Signup (which stores its own token) and WHATSAPP_ACCESS_TOKEN is not set';

/**
 * What is not configured and what that disables, from the configuration alone. `adminToken` is the
 * token the API actually accepts (configured, generated in DATA_DIR, or none).
 */
export function configurationGaps(config: Config, opts: { adminToken: 'configured' | 'generated' | 'none' }): ConfigurationGap[] {
  const gaps: ConfigurationGap[] = [];
  const CORE = new Set(['WHATSAPP_APP_SECRET', 'WHATSAPP_VERIFY_TOKEN', 'WHATSAPP_ACCESS_TOKEN', 'COEX_API_TOKEN', 'COEX_AGENT=on']);
  const gap = (missing: string, disables: string) => gaps.push({ missing, disables, level: CORE.has(missing) ? 'warn' : 'info' });
  if (!config.WHATSAPP_APP_SECRET) gap('WHATSAPP_APP_SECRET', 'webhooks: POST /webhooks/whatsapp answers 503, nothing is received from Meta');
  if (!config.WHATSAPP_VERIFY_TOKEN) gap('WHATSAPP_VERIFY_TOKEN', "Meta's webhook verification (GET /webhooks/whatsapp) fails: the callback URL cannot be saved in the App Dashboard");
  if (!config.WHATSAPP_ACCESS_TOKEN) gap('WHATSAPP_ACCESS_TOKEN', 'sending (agent replies, API replies, campaigns) works only on numbers onboarded through Embedded Signup; on other numbers the agent records why it does not answer');
  if (!config.META_APP_ID || !config.WHATSAPP_APP_SECRET) gap(!config.META_APP_ID ? 'META_APP_ID' : 'WHATSAPP_APP_SECRET', 'onboarding: POST /api/v1/onboarding and `coex onboard` answer 503');
  if (!config.META_CONFIG_ID) gap('META_CONFIG_ID', 'the onboarding page (/onboarding) cannot start Embedded Signup');
  if (!config.HUBSPOT_CLIENT_SECRET) gap('HUBSPOT_CLIENT_SECRET', 'the HubSpot app card and the HubSpot inbox webhook are refused (their signatures cannot be checked)');
  if (!config.HUBSPOT_CLIENT_ID || !config.HUBSPOT_CLIENT_SECRET || !config.PUBLIC_BASE_URL) gap(missingOf(config, ['HUBSPOT_CLIENT_ID', 'HUBSPOT_CLIENT_SECRET', 'PUBLIC_BASE_URL']), 'HubSpot install by OAuth: /oauth/hubspot/install answers 404 (connect with a private-app token instead)');
  if (!config.ZOHO_CLIENT_ID || !config.ZOHO_CLIENT_SECRET || !config.PUBLIC_BASE_URL) gap(missingOf(config, ['ZOHO_CLIENT_ID', 'ZOHO_CLIENT_SECRET', 'PUBLIC_BASE_URL']), 'Zoho install by OAuth: /oauth/zoho/install answers 404');
  if (!config.GEMINI_API_KEY) gap('GEMINI_API_KEY', `the agent is the offline FAQ responder (answers only from the tenant's FAQ)${config.WHISPER_MODEL_PATH ? '' : '; voice notes are not transcribed (or set WHISPER_MODEL_PATH)'}`);
  if (config.COEX_AGENT === 'off') gap('COEX_AGENT=on', 'the agent never answers (COEX_AGENT=off)');
  if (opts.adminToken === 'none') gap('COEX_API_TOKEN', 'the admin API: /api/v1 accepts only tenant tokens (`coex token create`), the admin token is refused with 401');
  else if (opts.adminToken === 'generated' && config.DATABASE_URL) gap('COEX_API_TOKEN', 'a shared admin token: on PostgreSQL each host generates its own DATA_DIR/admin-token, so web processes on other hosts answer 401 to it');
  if (!config.COEX_METRICS_TOKEN) gap('COEX_METRICS_TOKEN', '/metrics protection: anyone who reaches the port can read the metrics');
  return gaps;
}

function missingOf(config: Config, keys: Array<keyof Config>): string {
  return keys.filter((k) => !config[k]).join(', ');
}

/** Numbers nothing can send from: no token of their own and no WHATSAPP_ACCESS_TOKEN (the agent is silent there). */
export async function numbersWithoutSendToken(db: Kysely<Database>, config: Config): Promise<string[]> {
  if (config.WHATSAPP_ACCESS_TOKEN) return [];
  const rows = await db.selectFrom('whatsapp_numbers').select('phone_number_id').where('access_token_enc', 'is', null).orderBy('phone_number_id').limit(100).execute();
  return rows.map((r) => r.phone_number_id);
}
