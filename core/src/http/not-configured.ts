import express, { type Router } from 'express';
import type { Config } from '../config.js';

/**
 * OAuth install URLs when the server has no OAuth client for that CRM: a 404 that says which
 * settings are missing, instead of the bare "not found" of an unknown route. Mounted after the OAuth
 * router, so it only answers what that router did not.
 */
export function oauthNotConfiguredRouter(config: Pick<Config, 'HUBSPOT_CLIENT_ID' | 'HUBSPOT_CLIENT_SECRET' | 'ZOHO_CLIENT_ID' | 'ZOHO_CLIENT_SECRET' | 'PUBLIC_BASE_URL'>): Router {
  const router = express.Router();
  const missing = (keys: Array<keyof typeof config>) => keys.filter((k) => !config[k]);
  const answer = (crm: string, keys: Array<keyof typeof config>) => (_req: express.Request, res: express.Response) =>
    void res.status(404).json({ error: `${crm} installs by OAuth are not configured on this server`, missing: missing(keys), hint: `set ${missing(keys).join(', ')} (see .env.example)` });
  router.get(['/oauth/hubspot/install', '/oauth/hubspot/callback'], answer('HubSpot', ['HUBSPOT_CLIENT_ID', 'HUBSPOT_CLIENT_SECRET', 'PUBLIC_BASE_URL']));
  router.get(['/oauth/zoho/install', '/oauth/zoho/callback'], answer('Zoho', ['ZOHO_CLIENT_ID', 'ZOHO_CLIENT_SECRET', 'PUBLIC_BASE_URL']));
  return router;
}
