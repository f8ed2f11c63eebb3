import { createOdooTransport, ZohoOAuth, type OdooDomain } from '@coex/connectors';
import type { Kysely } from 'kysely';
import { z } from 'zod';
import type { Database } from '../db/schema.js';
import type { TokenCipher } from '../crypto.js';
import { crmCredentialsSchema, hubSpotTokenManager, type CrmCredentials } from '../crm/registry.js';
import { hubspotFilterGroupsSchema, HubSpotSegmentSource, OdooSegmentSource, WooCommerceSegmentSource, ZohoSegmentSource, type SegmentSource } from './segments.js';

/**
 * A campaign's CRM segment as the API and the CLI accept it: what to ask the connection's CRM for.
 * Which fields apply depends on the connection's CRM; the others are refused (strict objects), so a
 * Zoho criteria sent to a HubSpot connection is an error, not silently "everyone".
 */
const fieldName = z.string().min(1).max(100);

export const hubspotSegmentSchema = z.strictObject({
  filter_groups: hubspotFilterGroupsSchema,
  /** Contact properties that become var1..varN. */
  variable_properties: z.array(fieldName).max(20).default([]),
});
export const wooCommerceSegmentSchema = z.strictObject({
  /** Customers who ordered this product (or variation parent); absent = every customer with an order. */
  product_id: z.number().int().positive().optional(),
  statuses: z.array(z.string().regex(/^[a-z0-9_-]{1,40}$/)).max(10).optional(),
  /** Dotted paths into the customer's latest order JSON, e.g. "billing.first_name". */
  variable_fields: z.array(fieldName).max(20).default([]),
});
// An Odoo domain: prefix operators ('&', '|', '!') and [field, operator, value] leaves.
const odooLeaf = z.tuple([fieldName, z.string().min(1).max(20), z.unknown()]);
export const odooSegmentSchema = z.strictObject({
  domain: z.array(z.union([z.enum(['&', '|', '!']), odooLeaf])).min(1).max(30),
  variable_fields: z.array(fieldName).max(20).default([]),
});
export const zohoSegmentSchema = z.strictObject({
  criteria: z.string().min(3).max(2000),
  module: z.enum(['Contacts', 'Leads']).optional(),
  variable_fields: z.array(fieldName).max(20).default([]),
});

export const segmentSpecSchemas = { hubspot: hubspotSegmentSchema, woocommerce: wooCommerceSegmentSchema, odoo: odooSegmentSchema, zoho: zohoSegmentSchema } as const;
export type SegmentSpec =
  | { crm: 'hubspot'; spec: z.output<typeof hubspotSegmentSchema> }
  | { crm: 'woocommerce'; spec: z.output<typeof wooCommerceSegmentSchema> }
  | { crm: 'odoo'; spec: z.output<typeof odooSegmentSchema> }
  | { crm: 'zoho'; spec: z.output<typeof zohoSegmentSchema> };

export class SegmentSpecError extends Error {
  override readonly name = 'SegmentSpecError';
}

/** Validates a segment (without connection_id) against the schema of the connection's CRM. */
export function parseSegmentSpec(crm: string, raw: unknown): SegmentSpec {
  const schema = segmentSpecSchemas[crm as keyof typeof segmentSpecSchemas];
  if (!schema) throw new SegmentSpecError(`segments are not available for ${crm} connections`);
  const parsed = schema.safeParse(raw);
  if (!parsed.success) throw new SegmentSpecError(`invalid ${crm} segment: ${z.prettifyError(parsed.error)}`);
  return { crm, spec: parsed.data } as SegmentSpec;
}

function isLoopback(url: string): boolean {
  const host = new URL(url).hostname;
  return host === '127.0.0.1' || host === 'localhost' || host === '[::1]';
}

/** The SegmentSource for a connection's stored credentials and a validated segment. */
export function segmentSourceFor(creds: CrmCredentials, segment: SegmentSpec): SegmentSource {
  if (creds.crm !== segment.crm) throw new SegmentSpecError(`a ${segment.crm} segment cannot run on a ${creds.crm} connection`);
  switch (segment.crm) {
    case 'hubspot': {
      const c = creds as Extract<CrmCredentials, { crm: 'hubspot' }>;
      // One token manager for the whole listing: it refreshes once, not on every page.
      const manager = c.accessToken ? null : hubSpotTokenManager(c.clientSecret, c.oauth!, c.portalId, c.basePath);
      const auth = manager ? { tokenProvider: () => manager.getAccessToken() } : { accessToken: c.accessToken! };
      return new HubSpotSegmentSource({ ...auth, ...(c.basePath ? { basePath: c.basePath } : {}), filterGroups: segment.spec.filter_groups, variableProperties: segment.spec.variable_properties });
    }
    case 'woocommerce': {
      const c = creds as Extract<CrmCredentials, { crm: 'woocommerce' }>;
      return new WooCommerceSegmentSource({
        url: c.url,
        consumerKey: c.consumerKey,
        consumerSecret: c.consumerSecret,
        ...(segment.spec.product_id !== undefined ? { productId: segment.spec.product_id } : {}),
        ...(segment.spec.statuses ? { statuses: segment.spec.statuses } : {}),
        variableFields: segment.spec.variable_fields,
        // Basic auth travels in clear over HTTP: only for a store on this machine (development, tests).
        allowPlainHttp: isLoopback(c.url),
      });
    }
    case 'odoo': {
      const c = creds as Extract<CrmCredentials, { crm: 'odoo' }>;
      return new OdooSegmentSource({ transport: createOdooTransport(c), domain: segment.spec.domain as OdooDomain, variableFields: segment.spec.variable_fields });
    }
    case 'zoho': {
      const c = creds as Extract<CrmCredentials, { crm: 'zoho' }>;
      const oauth = new ZohoOAuth({
        clientId: c.clientId,
        clientSecret: c.clientSecret,
        ...(c.allowedAccountsServers ? { allowedAccountsServers: c.allowedAccountsServers } : {}),
        ...(c.allowedApiDomains ? { allowedApiDomains: c.allowedApiDomains } : {}),
      });
      // The stored access token while it is valid (a minute of margin), else one refresh for the whole listing.
      let token = c.accessToken && (c.accessTokenExpiresAt ?? 0) - 60_000 > Date.now() ? Promise.resolve(c.accessToken) : null;
      const tokenProvider = (): Promise<string> => (token ??= oauth.refreshAccessToken({ refreshToken: c.refreshToken, accountsServer: c.accountsServer }).then((t) => t.accessToken));
      return new ZohoSegmentSource({
        apiDomain: c.apiDomain,
        tokenProvider,
        module: segment.spec.module ?? c.module,
        criteria: segment.spec.criteria,
        variableFields: segment.spec.variable_fields,
        ...(c.allowedApiDomains ? { allowedApiDomains: c.allowedApiDomains } : {}),
      });
    }
  }
}

/** Segments through a tenant's stored CRM connection (what the API and the CLI use). */
export function connectionSegmentSource(db: Kysely<Database>, cipher: TokenCipher) {
  return async (req: { tenantId: string; connectionId: string; segment: SegmentSpec }): Promise<SegmentSource> => {
    const row = await db.selectFrom('crm_connections').select(['credentials_enc', 'status']).where('id', '=', req.connectionId).where('tenant_id', '=', req.tenantId).executeTakeFirst();
    if (!row || row.status !== 'active' || row.credentials_enc === '') throw new SegmentSpecError('the CRM connection has no API credentials (connect it with `coex crm connect` first)');
    return segmentSourceFor(crmCredentialsSchema.parse(JSON.parse(cipher.decrypt(row.credentials_enc))), req.segment);
  };
}
