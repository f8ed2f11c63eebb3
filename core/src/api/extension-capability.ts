import type { Capability, CapabilityContext } from '../capability.js';
import type { TemplateCatalog } from '../outbound/templates.js';
import { extensionRouter } from './extension-routes.js';

/**
 * The extension API (`/ext/v1/:crm/…`): what the in-CRM UIs (HubSpot card, WooCommerce, Odoo, Zoho)
 * read and do, authenticated by CRM signatures or install keys (docs/extension-api.md).
 */
export function extensionCapability(ctx: CapabilityContext, deps: { templates: TemplateCatalog }): Capability {
  const { config, db, cipher, logger, sender } = ctx;
  return {
    name: 'extension',
    routes: () => ({
      // Signatures are checked over the raw body.
      rawBody: [
        extensionRouter({
          db,
          sender,
          logger,
          cipher,
          ...(config.HUBSPOT_CLIENT_SECRET ? { hubspotClientSecret: config.HUBSPOT_CLIENT_SECRET } : {}),
          ...(config.PUBLIC_BASE_URL ? { publicBaseUrl: config.PUBLIC_BASE_URL } : {}),
          templates: deps.templates,
        }),
      ],
    }),
  };
}
