export { OdooConnector, ODOO_EXTENSION_HEADER, ODOO_MESSAGES_PER_NOTE, orDomain } from './connector.js';
export type { OdooConnectorConfig, OdooConnectorOptions } from './connector.js';
export type { OdooDomain, OdooTransport, SearchReadOptions } from './transport.js';
export { OdooXmlRpcTransport } from './xmlrpc-transport.js';
export { OdooJson2Transport } from './json2-transport.js';
export { hashExtensionSecret as hashOdooAddonKey } from '../extension-secret.js';
export { createOdooTransport } from './create-transport.js';
export type { OdooTransportConfig } from './create-transport.js';
