import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { TokenCipher } from '../crypto.js';
import { OAUTH_STATE_TTL_MS, openOAuthState, sealOAuthState } from './oauth-routes.js';

const cipher = TokenCipher.fromKey(randomBytes(32).toString('base64'));
const NOW = 1_770_000_000_000;
const payload = { provider: 'zoho' as const, tenantId: 'tenant-a', nonce: 'n'.repeat(22), expiresAt: NOW + OAUTH_STATE_TTL_MS, orgId: '42' };

describe('OAuth state', () => {
  it('round-trips through a URL-safe token that does not reveal the tenant', () => {
    const state = sealOAuthState(cipher, payload);
    expect(state).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(state).not.toContain('tenant-a');
    expect(openOAuthState(cipher, state, 'zoho', NOW)).toEqual({ ok: true, payload: { kind: 'coex-oauth-state', ...payload } });
  });

  it('is refused for another provider, after expiry, or under another key', () => {
    const state = sealOAuthState(cipher, payload);
    expect(openOAuthState(cipher, state, 'hubspot', NOW)).toEqual({ ok: false, reason: 'wrong provider' });
    expect(openOAuthState(cipher, state, 'zoho', payload.expiresAt)).toEqual({ ok: false, reason: 'expired' });
    const other = TokenCipher.fromKey(randomBytes(32).toString('base64'));
    expect(openOAuthState(other, state, 'zoho', NOW)).toEqual({ ok: false, reason: 'invalid' });
  });

  it('refuses a state whose GCM tag was truncated (Node would otherwise accept 4-byte tags)', () => {
    const sealed = Buffer.from(sealOAuthState(cipher, payload), 'base64url').toString('utf8');
    const [v, iv, tag, body] = sealed.split(':') as [string, string, string, string];
    const short = [v, iv, Buffer.from(tag, 'base64').subarray(0, 4).toString('base64'), body].join(':');
    expect(openOAuthState(cipher, Buffer.from(short).toString('base64url'), 'zoho', NOW)).toEqual({ ok: false, reason: 'invalid' });
  });

  it('refuses any other ciphertext of the same key (e.g. stored credentials)', () => {
    const credentials = Buffer.from(cipher.encrypt(JSON.stringify({ crm: 'zoho', refreshToken: 'x' }))).toString('base64url');
    expect(openOAuthState(cipher, credentials, 'zoho', NOW)).toEqual({ ok: false, reason: 'invalid' });
  });
});
