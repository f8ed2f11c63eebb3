// The shared thread view: pure view model and helpers (thread-view.ts) and the string catalogue
// (strings.ts). build.mjs bundles this entry into each in-CRM UI; the HubSpot card imports its copy.
export * from './thread-view.js';
export * from './strings.js';
