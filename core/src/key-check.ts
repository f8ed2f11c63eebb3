import type { Kysely } from 'kysely';
import type { Database } from './db/schema.js';
import { ConfigError } from './config.js';
import type { TokenCipher } from './crypto.js';

const SETTING = 'encryption_key_fingerprint';

export class EncryptionKeyMismatchError extends ConfigError {
  readonly hint =
    'Start CoEx with the key these secrets were encrypted with: restore COEX_ENCRYPTION_KEY (or the file DATA_DIR/encryption.key) from your backup. ' +
    'If that key is lost, the stored tokens and CRM credentials cannot be read: reconnect the CRMs and onboard the numbers again after deleting coex_settings.encryption_key_fingerprint.';
}

/**
 * Checks at start-up that the configured encryption key is the one the database's secrets were sealed
 * with. The first start records the key's fingerprint; a database from before the fingerprint existed
 * is checked by decrypting one stored secret. On mismatch the process stops with a clear message.
 */
export async function checkEncryptionKey(db: Kysely<Database>, cipher: TokenCipher): Promise<void> {
  const mine = cipher.fingerprint();
  const stored = await db.selectFrom('coex_settings').select('value').where('key', '=', SETTING).executeTakeFirst();
  if (stored) {
    if (stored.value !== mine) throw mismatch(stored.value, mine);
    return;
  }
  const sample = await anyStoredSecret(db);
  if (sample !== null) {
    try {
      cipher.decrypt(sample);
    } catch {
      throw mismatch('(not recorded; a stored secret does not decrypt)', mine);
    }
  }
  await db.insertInto('coex_settings').values({ key: SETTING, value: mine }).onConflict((oc) => oc.column('key').doNothing()).execute();
  // Two processes starting at once with different keys: the first insert wins, the other must stop.
  const winner = await db.selectFrom('coex_settings').select('value').where('key', '=', SETTING).executeTakeFirstOrThrow();
  if (winner.value !== mine) throw mismatch(winner.value, mine);
}

function mismatch(expected: string, actual: string): EncryptionKeyMismatchError {
  return new EncryptionKeyMismatchError(
    `COEX_ENCRYPTION_KEY does not match the key this database's secrets were encrypted with (database expects key fingerprint ${expected}, the configured key is ${actual}).`,
  );
}

async function anyStoredSecret(db: Kysely<Database>): Promise<string | null> {
  const number = await db.selectFrom('whatsapp_numbers').select('access_token_enc as v').where('access_token_enc', 'is not', null).limit(1).executeTakeFirst();
  if (number?.v) return number.v;
  const crm = await db.selectFrom('crm_connections').select('credentials_enc as v').limit(1).executeTakeFirst();
  return crm?.v ?? null;
}
