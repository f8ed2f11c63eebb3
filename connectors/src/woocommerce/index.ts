export * from './connector.js';
export * from './webhook.js';
export { markedKeys as wooMarkedKeys } from './format.js';
export { coexLookup as wooLookupResponse, wooOrder, wooOrderNote, type CoexLookup as WooLookupResponse, type WooOrder, type WooOrderNote } from './schemas.js';
