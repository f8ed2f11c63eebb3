import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { CrmConnector, HubSpotTokens } from '@coex/connectors';
import type { Database } from '../db/schema.js';
import type { TokenCipher } from '../crypto.js';
import { createConnector, crmCredentialsSchema, type CrmCredentials } from './registry.js';

/**
 * Writes refreshed OAuth tokens (HubSpot access + refresh tokens, Zoho access tokens) back into
 * crm_connections.credentials_enc (encrypted), with optimistic concurrency: read the row, decide,
 * then update only if credentials_enc is still the value read
 * (compare-and-swap on the ciphertext, which changes on every write because of the random IV).
 * Two processes refreshing the same connection therefore never clobber each other: the later writer
 * re-reads and keeps whichever tokens are newer.
 */

export type TokenSaveOutcome =
  /** Our tokens are now stored. */
  | { outcome: 'written'; credentialsEnc: string }
  /** The row holds newer tokens (another process refreshed later, or the app was reinstalled): kept. */
  | { outcome: 'superseded'; credentialsEnc: string }
  /** The connection is gone, inactive, or no longer this kind of OAuth connection: nothing written. */
  | { outcome: 'gone' };

const MAX_CAS_ATTEMPTS = 5;

/**
 * Read-decide-compare-and-swap on a connection's credentials. `decide` gets the stored credentials and
 * returns the ones to store, or why not. Retried when another writer got in between.
 */
export async function updateCredentials(
  db: Kysely<Database>,
  cipher: TokenCipher,
  connectionId: string,
  decide: (stored: CrmCredentials) => CrmCredentials | 'superseded' | 'gone',
): Promise<TokenSaveOutcome> {
  for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
    const row = await db.selectFrom('crm_connections').select(['credentials_enc', 'status']).where('id', '=', connectionId).executeTakeFirst();
    if (!row || row.status !== 'active') return { outcome: 'gone' };
    const decision = decide(crmCredentialsSchema.parse(JSON.parse(cipher.decrypt(row.credentials_enc))));
    if (decision === 'gone') return { outcome: 'gone' };
    if (decision === 'superseded') return { outcome: 'superseded', credentialsEnc: row.credentials_enc };
    const credentialsEnc = cipher.encrypt(JSON.stringify(decision));
    const updated = await db
      .updateTable('crm_connections')
      .set({ credentials_enc: credentialsEnc, updated_at: new Date() })
      .where('id', '=', connectionId)
      .where('credentials_enc', '=', row.credentials_enc)
      .returning('id')
      .executeTakeFirst();
    if (updated) return { outcome: 'written', credentialsEnc };
    // Someone wrote between our read and our update: decide again on what they wrote.
  }
  throw new Error(`crm connection ${connectionId}: token write kept losing races (${MAX_CAS_ATTEMPTS} attempts)`);
}

/**
 * Stores HubSpot `tokens`, obtained by refreshing `fromRefreshToken`, on connection `connectionId`.
 * The stored tokens win when they descend from a different refresh token (reinstall) or expire later.
 */
export function saveHubSpotTokens(db: Kysely<Database>, cipher: TokenCipher, connectionId: string, fromRefreshToken: string, tokens: HubSpotTokens): Promise<TokenSaveOutcome> {
  return updateCredentials(db, cipher, connectionId, (stored) => {
    if (stored.crm !== 'hubspot' || !stored.oauth) return 'gone';
    const sameLineage = stored.oauth.refreshToken === fromRefreshToken || stored.oauth.refreshToken === tokens.refreshToken;
    if (!sameLineage || (stored.oauth.expiresAt ?? 0) >= tokens.expiresAt) return 'superseded';
    return { ...stored, oauth: { ...stored.oauth, accessToken: tokens.accessToken, refreshToken: tokens.refreshToken, expiresAt: tokens.expiresAt } };
  });
}

/** Stores a Zoho access token minted from `refreshToken` (Zoho refresh tokens do not rotate). */
export function saveZohoAccessToken(db: Kysely<Database>, cipher: TokenCipher, connectionId: string, refreshToken: string, token: { accessToken: string; expiresAt: number }): Promise<TokenSaveOutcome> {
  return updateCredentials(db, cipher, connectionId, (stored) => {
    if (stored.crm !== 'zoho') return 'gone';
    if (stored.refreshToken !== refreshToken || (stored.accessTokenExpiresAt ?? 0) >= token.expiresAt) return 'superseded';
    return { ...stored, accessToken: token.accessToken, accessTokenExpiresAt: token.expiresAt };
  });
}

export interface ConnectorFactoryDeps {
  db: Kysely<Database>;
  cipher: TokenCipher;
  logger: Logger;
  /** Clock for token expiry (tests). */
  now?: () => number;
}

export type ConnectionRow = { id: string; crm: string; credentials_enc: string };

/**
 * Connector per connection, cached, whose HubSpot OAuth token refreshes are persisted. Shape-compatible
 * with `OutboxDeps.connectorFor`. A row whose ciphertext changed behind our back (reinstall, or another
 * process refreshed) gets a fresh connector built from it.
 */
export function persistentConnectorFactory(deps: ConnectorFactoryDeps): (connection: ConnectionRow) => CrmConnector {
  const cache = new Map<string, { enc: string; connector: CrmConnector }>();
  return (connection) => {
    const hit = cache.get(connection.id);
    if (hit && hit.enc === connection.credentials_enc) return hit.connector;
    const credentials = crmCredentialsSchema.parse(JSON.parse(deps.cipher.decrypt(connection.credentials_enc)));
    const entry = { enc: connection.credentials_enc, connector: null as unknown as CrmConnector };
    let refreshedFrom = credentials.crm === 'hubspot' && credentials.oauth ? credentials.oauth.refreshToken : '';
    entry.connector = createConnector(credentials, {
      ...(deps.now ? { now: deps.now } : {}),
      onHubSpotTokens: async (tokens) => {
        // A failed write must not fail the CRM call: the tokens stay in memory and the next refresh
        // writes again (HubSpot refresh tokens stay valid until the app is uninstalled).
        try {
          const saved = await saveHubSpotTokens(deps.db, deps.cipher, connection.id, refreshedFrom, tokens);
          if (saved.outcome === 'written') entry.enc = saved.credentialsEnc;
          deps.logger.info({ connectionId: connection.id, outcome: saved.outcome }, 'hubspot token refreshed');
        } catch (error) {
          deps.logger.error({ connectionId: connection.id, err: error instanceof Error ? error.message : String(error) }, 'hubspot token refreshed but not persisted');
        }
        refreshedFrom = tokens.refreshToken;
      },
      // The connector calls this synchronously after a refresh: the write runs in the background.
      onZohoAccessToken: (token) => {
        if (credentials.crm !== 'zoho') return;
        saveZohoAccessToken(deps.db, deps.cipher, connection.id, credentials.refreshToken, token)
          .then((saved) => {
            if (saved.outcome === 'written') entry.enc = saved.credentialsEnc;
          })
          .catch((error: unknown) => deps.logger.error({ connectionId: connection.id, err: error instanceof Error ? error.message : String(error) }, 'zoho access token not persisted'));
      },
    });
    cache.set(connection.id, entry);
    return entry.connector;
  };
}

/** Loads one connection row and gives its persistent connector (for callers outside the outbox). */
export async function loadConnector(factory: (connection: ConnectionRow) => CrmConnector, db: Kysely<Database>, connectionId: string): Promise<CrmConnector | null> {
  const row = await db.selectFrom('crm_connections').select(['id', 'crm', 'credentials_enc']).where('id', '=', connectionId).where('status', '=', 'active').executeTakeFirst();
  return row ? factory(row) : null;
}
