import { describe, expect, it } from 'vitest';
import { extensionSecretMatches, hashExtensionSecret, isExtensionSecretHash, singleHeader } from './extension-secret.js';

describe('extension secrets', () => {
  it('hash to sha256:<hex> and match only the same secret', () => {
    const stored = hashExtensionSecret('s3cret-key');
    expect(isExtensionSecretHash(stored)).toBe(true);
    expect(extensionSecretMatches('s3cret-key', stored)).toBe(true);
    expect(extensionSecretMatches('s3cret-kez', stored)).toBe(false);
    expect(extensionSecretMatches('', stored)).toBe(false);
    // Any length compares safely: both sides are 32-byte digests.
    expect(extensionSecretMatches('x'.repeat(10_000), stored)).toBe(false);
  });

  it('never match against something that is not a stored hash', () => {
    expect(extensionSecretMatches('plain', 'plain')).toBe(false);
  });
});

describe('singleHeader', () => {
  it('finds a header case-insensitively and rejects missing, empty or repeated ones', () => {
    expect(singleHeader({ 'X-Coex-Odoo-Key': 'a' }, 'x-coex-odoo-key')).toBe('a');
    expect(singleHeader({ 'x-coex-odoo-key': ['a'] }, 'X-Coex-Odoo-Key')).toBe('a');
    expect(singleHeader({ 'x-coex-odoo-key': ['a', 'b'] }, 'X-Coex-Odoo-Key')).toBeUndefined();
    expect(singleHeader({ 'x-coex-odoo-key': '' }, 'X-Coex-Odoo-Key')).toBeUndefined();
    expect(singleHeader({}, 'X-Coex-Odoo-Key')).toBeUndefined();
  });
});
