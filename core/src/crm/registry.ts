import { z } from 'zod';
import { HubSpotConnector, HubSpotTokenManager, OdooConnector, WooCommerceConnector, ZohoConnector, type CrmConnector, type CrmName, type HubSpotTokens } from '@coex/connectors';

/** HubSpot marketplace-app tokens (OAuth install); the access token lives 30 minutes. */
export const hubSpotOAuthSchema = z.object({
  clientId: z.string().min(1),
  refreshToken: z.string().min(1),
  accessToken: z.string().min(1).optional(),
  /** Epoch ms when accessToken expires. */
  expiresAt: z.number().int().optional(),
  /** The redirect URI the install used (sent again on refresh, as the 2026-03 endpoint lists it). */
  redirectUri: z.string().url().optional(),
});
export type HubSpotOAuthCredentials = z.infer<typeof hubSpotOAuthSchema>;

/**
 * The portal's custom-channel account: WhatsApp threads of one business number in one HubSpot inbox.
 * Messages from `connectedAt` on are published (history stays in the Communications archive).
 */
export const hubSpotInboxChannelSchema = z.object({
  channelId: z.string().min(1),
  channelAccountId: z.string().min(1),
  inboxId: z.string().min(1),
  /** The CoEx business number (phone_number_id) whose threads go to this inbox. */
  phoneNumberId: z.string().regex(/^\d{1,32}$/),
  connectedAt: z.string().datetime(),
});
export type HubSpotInboxChannel = z.infer<typeof hubSpotInboxChannelSchema>;

/**
 * Connection credentials as stored (encrypted) in crm_connections.credentials_enc, one schema per CRM,
 * and the factory that turns them into a connector. Vendor specifics stay in connectors/.
 */
export const crmCredentialsSchema = z.discriminatedUnion('crm', [
  z.object({
    crm: z.literal('hubspot'),
    portalId: z.string().regex(/^\d+$/),
    clientSecret: z.string().min(1),
    /** A static token (private app / legacy install). Give this or `oauth`. */
    accessToken: z.string().min(1).optional(),
    oauth: hubSpotOAuthSchema.optional(),
    appId: z.string().optional(),
    /** API base (also the token endpoint's host); tests point it at the fake. */
    basePath: z.string().url().optional(),
    /** HubSpot inbox (Conversations custom channel), set by `coex hubspot inbox connect`; see crm/hubspot-inbox.ts. */
    inboxChannel: hubSpotInboxChannelSchema.optional(),
  }).refine((c) => (c.accessToken === undefined) !== (c.oauth === undefined), { message: 'hubspot credentials need exactly one of accessToken or oauth' }),
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
    /** Last access token (1 hour) and its expiry (epoch ms), persisted so a restart skips a refresh. */
    accessToken: z.string().min(1).optional(),
    accessTokenExpiresAt: z.number().int().optional(),
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

export interface CreateConnectorOptions {
  /** HubSpot OAuth: persist rotated tokens (see token-store.ts). Without it they live in memory only. */
  onHubSpotTokens?: (tokens: HubSpotTokens) => void | Promise<void>;
  /** Zoho: persist refreshed access tokens (see token-store.ts). */
  onZohoAccessToken?: (token: { accessToken: string; expiresAt: number }) => void;
  /** Clock for token expiry (tests). */
  now?: () => number;
}

export function createConnector(c: CrmCredentials, options: CreateConnectorOptions = {}): CrmConnector {
  switch (c.crm) {
    case 'hubspot': {
      const common = {
        portalId: c.portalId,
        clientSecret: c.clientSecret,
        ...(c.appId ? { appId: c.appId } : {}),
        ...(c.basePath ? { basePath: c.basePath } : {}),
        ...(c.inboxChannel ? { inboxChannel: { channelId: c.inboxChannel.channelId, channelAccountId: c.inboxChannel.channelAccountId, inboxId: c.inboxChannel.inboxId } } : {}),
      };
      if (c.oauth) {
        const manager = hubSpotTokenManager(c.clientSecret, c.oauth, c.portalId, c.basePath, options);
        return new HubSpotConnector({ ...common, tokenProvider: () => manager.getAccessToken() });
      }
      if (c.accessToken === undefined) throw new Error('hubspot credentials need accessToken or oauth');
      return new HubSpotConnector({ ...common, accessToken: c.accessToken });
    }
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
        ...(c.accessToken !== undefined && c.accessTokenExpiresAt !== undefined ? { accessToken: c.accessToken, accessTokenExpiresAt: c.accessTokenExpiresAt } : {}),
      }, {
        ...(options.onZohoAccessToken ? { onAccessToken: options.onZohoAccessToken } : {}),
        ...(options.now ? { now: options.now } : {}),
      });
  }
}

/** A token manager over stored OAuth credentials; an unknown expiry refreshes on first use. */
export function hubSpotTokenManager(clientSecret: string, oauth: HubSpotOAuthCredentials, portalId: string, basePath: string | undefined, options: CreateConnectorOptions = {}): HubSpotTokenManager {
  return new HubSpotTokenManager(
    { clientId: oauth.clientId, clientSecret, redirectUri: oauth.redirectUri ?? '', scopes: [], ...(basePath ? { apiBase: basePath } : {}) },
    { accessToken: oauth.accessToken ?? '', refreshToken: oauth.refreshToken, expiresAt: oauth.accessToken ? (oauth.expiresAt ?? 0) : 0, hubId: portalId },
    { ...(options.onHubSpotTokens ? { onRefresh: options.onHubSpotTokens } : {}), ...(options.now ? { now: options.now } : {}) },
  );
}

export const CRM_NAMES: readonly CrmName[] = ['hubspot', 'woocommerce', 'odoo', 'zoho'];
