import { createCipheriv, createDecipheriv, createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * Tokens at rest: AES-256-GCM with a 32-byte key (COEX_ENCRYPTION_KEY, base64 or hex). The embedded
 * mode without a configured key creates one in DATA_DIR with mode 0600 so a fresh install works;
 * production sets the key explicitly.
 */
export class TokenCipher {
  private constructor(private readonly key: Buffer) {}

  static fromKey(encoded: string): TokenCipher {
    const key = /^[0-9a-fA-F]{64}$/.test(encoded) ? Buffer.from(encoded, 'hex') : Buffer.from(encoded, 'base64');
    if (key.length !== 32) throw new Error('COEX_ENCRYPTION_KEY must be 32 bytes (64 hex characters or base64)');
    return new TokenCipher(key);
  }

  static fromKeyFile(path: string): TokenCipher {
    if (!existsSync(path)) {
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, randomBytes(32).toString('base64'), { mode: 0o600 });
    }
    return TokenCipher.fromKey(readFileSync(path, 'utf8').trim());
  }

  /**
   * A short public identifier of the key (HMAC of a fixed label under the key: it reveals nothing
   * about the key), stored in the database to recognise a server started with another key.
   */
  fingerprint(): string {
    return createHmac('sha256', this.key).update('coex encryption key fingerprint v1').digest('hex').slice(0, 16);
  }

  encrypt(plain: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    return ['v1', iv.toString('base64'), cipher.getAuthTag().toString('base64'), body.toString('base64')].join(':');
  }

  decrypt(sealed: string): string {
    const [version, iv, tag, body] = sealed.split(':');
    if (version !== 'v1' || !iv || !tag || body === undefined) throw new Error('Unrecognized encrypted token format');
    // A 16-byte tag only: Node would otherwise accept truncated tags (weaker authentication).
    const decipher = createDecipheriv('aes-256-gcm', this.key, Buffer.from(iv, 'base64'), { authTagLength: 16 });
    decipher.setAuthTag(Buffer.from(tag, 'base64'));
    return Buffer.concat([decipher.update(Buffer.from(body, 'base64')), decipher.final()]).toString('utf8');
  }
}

export function sha256Hex(value: string | Buffer): string {
  return createHash('sha256').update(value).digest('hex');
}

/** Constant-time equality of two secrets of any length (compares their hashes). */
export function secretEquals(a: string, b: string): boolean {
  return timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest());
}
