import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { configuredCountry, parseConnectorConfig } from './connector-config.js';
import { hashExtensionSecret, storedSecretHash } from './extension-secret.js';

describe('connector construction helpers', () => {
  const schema = z.object({ url: z.url(), apiKey: z.string().min(8) });

  it('parses a config, and names the connector and the field but never the value when it is invalid', () => {
    expect(parseConnectorConfig(schema, { url: 'https://crm.example', apiKey: 'k'.repeat(8) }, 'X')).toEqual({ url: 'https://crm.example', apiKey: 'kkkkkkkk' });
    const error = (() => {
      try {
        parseConnectorConfig(schema, { url: 'https://crm.example', apiKey: 'secret' }, 'OdooConnector');
      } catch (e) {
        return (e as Error).message;
      }
      return '';
    })();
    expect(error).toMatch(/^OdooConnector: invalid config: .*apiKey/s);
    expect(error).not.toContain('secret');
  });

  it('reads the phone country in upper case, Morocco by default', () => {
    expect([configuredCountry('fr'), configuredCountry(undefined)]).toEqual(['FR', 'MA']);
  });

  it('stores an install secret as its hash, keeps a stored hash, and has none when unset', () => {
    const hash = hashExtensionSecret('install-key');
    expect(storedSecretHash('install-key')).toBe(hash);
    expect(storedSecretHash(hash)).toBe(hash);
    expect(storedSecretHash(undefined)).toBeNull();
  });
});
