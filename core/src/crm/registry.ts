import { z } from 'zod';
import { HubSpotConnector, OdooConnector, WooCommerceConnector, ZohoConnector, type CrmConnector, type CrmName } from '@coex/connectors';

/**
 * Connection credentials as stored (encrypted) in crm_connections.credentials_enc, one schema per CRM,
 * and the factory that turns them into a connector. Vendor specifics stay in connectors/.
 */
export const crmCredentialsSchema = z.discriminatedUnion('crm', [
  z.object({
    crm: z.literal('hubspot'),
    portalId: z.string().regex(/^\d+$/),
    clientSecret: z.string().min(1),
    accessToken: z.string().min(1),
    appId: z.string().optional(),
    basePath: z.string().url().optional(),
  }),
  z.object({
    crm: z.literal('woocommerce'),
    url: z.string().url(),
    consumerKey: z.string().min(1),
    consumerSecret: z.string().min(1),
    siteKey: z.string().min(1),
    queryStringAuth: z.boolean().optional(),
  }),
  z.object({
    crm: z.literal('odoo'),
    url: z.string().url(),
    db: z.string().min(1),
    login: z.string().optional(),
    apiKey: z.string().min(1),
    protocol: z.enum(['xmlrpc', 'json2']),
  }),
  z.object({
    crm: z.literal('zoho'),
    apiDomain: z.string().url(),
    accountsServer: z.string().url(),
    clientId: z.string().min(1),
    clientSecret: z.string().min(1),
    refreshToken: z.string().min(1),
    module: z.enum(['Contacts', 'Leads']).default('Contacts'),
    orgId: z.string().min(1),
    /** Only for tests and private deployments pointing at non-Zoho hosts. */
    allowedAccountsServers: z.array(z.string()).optional(),
    allowedApiDomains: z.array(z.string()).optional(),
  }),
]);
export type CrmCredentials = z.infer<typeof crmCredentialsSchema>;

/** The CRM account a connection is keyed by (portal, site, database, org). */
export function accountOf(c: CrmCredentials): string {
  switch (c.crm) {
    case 'hubspot':
      return c.portalId;
    case 'woocommerce':
      return c.url.replace(/\/+$/, '');
    case 'odoo':
      return `${c.url.replace(/\/+$/, '')}#${c.db}`;
    case 'zoho':
      return c.orgId;
  }
}

export function createConnector(c: CrmCredentials): CrmConnector {
  switch (c.crm) {
    case 'hubspot':
      return new HubSpotConnector({ accessToken: c.accessToken, portalId: c.portalId, clientSecret: c.clientSecret, ...(c.appId ? { appId: c.appId } : {}), ...(c.basePath ? { basePath: c.basePath } : {}) });
    case 'woocommerce':
      return new WooCommerceConnector({ url: c.url, consumerKey: c.consumerKey, consumerSecret: c.consumerSecret, siteKey: c.siteKey, ...(c.queryStringAuth !== undefined ? { queryStringAuth: c.queryStringAuth } : {}) });
    case 'odoo':
      return new OdooConnector({ url: c.url, db: c.db, apiKey: c.apiKey, protocol: c.protocol, ...(c.login ? { login: c.login } : {}) });
    case 'zoho':
      return new ZohoConnector({
        apiDomain: c.apiDomain,
        accountsServer: c.accountsServer,
        clientId: c.clientId,
        clientSecret: c.clientSecret,
        refreshToken: c.refreshToken,
        module: c.module,
        orgId: c.orgId,
        ...(c.allowedAccountsServers ? { allowedAccountsServers: c.allowedAccountsServers } : {}),
        ...(c.allowedApiDomains ? { allowedApiDomains: c.allowedApiDomains } : {}),
      });
  }
}

export const CRM_NAMES: readonly CrmName[] = ['hubspot', 'woocommerce', 'odoo', 'zoho'];
