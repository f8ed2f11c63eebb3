export { ZohoConnector, ZOHO_EXTENSION_HEADER, ZOHO_MESSAGES_PER_NOTE, ZOHO_NOTES_PER_CALL, escapeCriteria, splitName } from './connector.js';
export type { ZohoConnectorConfig, ZohoConnectorOptions } from './connector.js';
export { ZohoOAuth, ZOHO_ACCOUNTS_SERVERS, ZOHO_API_DOMAINS, ZOHO_DEFAULT_SCOPES, checkZohoOrigin } from './oauth.js';
export type { ZohoOAuthConfig, ZohoTokenSet } from './oauth.js';
export { hashExtensionSecret as hashZohoInstallToken } from '../extension-secret.js';
