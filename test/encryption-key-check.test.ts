import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { backends, createTestDatabase } from './helpers/backends.js';
import { startTestServer } from './helpers/runtime.js';
import { EncryptionKeyMismatchError } from '../core/src/key-check.js';
import { TokenCipher } from '../core/src/crypto.js';

const key = () => randomBytes(32).toString('base64');

describe('TokenCipher.fingerprint', () => {
  it('is stable for a key, differs between keys, and does not contain the key', () => {
    const k = key();
    expect(TokenCipher.fromKey(k).fingerprint()).toBe(TokenCipher.fromKey(k).fingerprint());
    expect(TokenCipher.fromKey(k).fingerprint()).not.toBe(TokenCipher.fromKey(key()).fingerprint());
    expect(TokenCipher.fromKey(k).fingerprint()).toMatch(/^[0-9a-f]{16}$/);
  });
});

// Two processes on one database.
describe.each(backends())('encryption key fingerprint at start-up [%s]', (backend) => {
  it('records the key on first start, accepts it again, and stops a start with another key with a clear message', async () => {
    const database = await createTestDatabase(backend);
    const good = key();
    try {
      const first = await startTestServer(backend, { COEX_ENCRYPTION_KEY: good }, { http: false }, database);
      const row = await first.runtime.db.selectFrom('coex_settings').select('value').where('key', '=', 'encryption_key_fingerprint').executeTakeFirstOrThrow();
      expect(row.value).toBe(TokenCipher.fromKey(good).fingerprint());
      await first.close();

      const again = await startTestServer(backend, { COEX_ENCRYPTION_KEY: good }, { http: false }, database);
      await again.close();

      const error = await startTestServer(backend, { COEX_ENCRYPTION_KEY: key() }, { http: false }, database).then(
        () => null,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(EncryptionKeyMismatchError);
      expect((error as Error).message).toMatch(/COEX_ENCRYPTION_KEY does not match/);
      expect((error as EncryptionKeyMismatchError).hint).toMatch(/restore COEX_ENCRYPTION_KEY/);
    } finally {
      await database.drop();
    }
  });

  it('a database from before the fingerprint: a stored secret that does not decrypt stops the start', async () => {
    const database = await createTestDatabase(backend);
    const good = key();
    try {
      const first = await startTestServer(backend, { COEX_ENCRYPTION_KEY: good }, { http: false }, database);
      await first.runtime.db.insertInto('tenants').values({ id: 'atlas', name: 'Atlas' }).execute();
      await first.runtime.db.insertInto('crm_connections').values({ tenant_id: 'atlas', crm: 'odoo', account: 'https://erp#db', credentials_enc: first.runtime.cipher.encrypt('{}') }).execute();
      await first.runtime.db.deleteFrom('coex_settings').execute();
      await first.close();
      await expect(startTestServer(backend, { COEX_ENCRYPTION_KEY: key() }, { http: false }, database)).rejects.toBeInstanceOf(EncryptionKeyMismatchError);
      // The right key still starts, and is recorded from then on.
      const ok = await startTestServer(backend, { COEX_ENCRYPTION_KEY: good }, { http: false }, database);
      expect(await ok.runtime.db.selectFrom('coex_settings').select('value').executeTakeFirst()).toEqual({ value: TokenCipher.fromKey(good).fingerprint() });
      await ok.close();
    } finally {
      await database.drop();
    }
  });
});
