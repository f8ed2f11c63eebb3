export * from './connector.js';
export * from './oauth.js';
export * from './custom-channel.js';
export { HUBSPOT_SIGNATURE_MAX_AGE_MS, decodeHubSpotUri, signHubSpotV3, verifyHubSpotRequest } from './signature.js';
