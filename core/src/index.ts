/** Public entry points of the CoEx engine. */
export { loadConfig, type Config } from './config.js';
export { Runtime, type RuntimeOptions } from './runtime.js';
export { openDatabase, migrateToLatest, type DatabaseHandle } from './db/index.js';
export type { Database } from './db/schema.js';
export * as payloads from './whatsapp/payloads.js';
export { normalizeChange, normalizeDelivery, type DomainEvent } from './whatsapp/normalize.js';
export { signBody, verifySignature } from './webhooks/signature.js';
