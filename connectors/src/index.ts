export * from './types.js';
export * from './phone.js';
export * from './http.js';
export * from './hubspot/index.js';
export * from './odoo/index.js';
export * from './zoho/index.js';
export * from './woocommerce/index.js';
export * from './consent-text.js';
