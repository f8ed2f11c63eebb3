import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends } from './helpers/backends.js';
import { startTestServer, type TestServer } from './helpers/runtime.js';
import { sha256Hex } from '../core/src/crypto.js';

const profile = JSON.parse(readFileSync(new URL('../examples/knowledge/atlas-shop.json', import.meta.url), 'utf8')) as { name: string };

describe.each(backends())('tenant business profile API [%s]', (backend) => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer(backend, { COEX_AGENT: 'off' });
    await s.runtime.db.insertInto('tenants').values([{ id: 'atlas', name: 'Atlas' }, { id: 'other', name: 'Other' }]).execute();
    await s.runtime.db.insertInto('api_tokens').values({ token_hash: sha256Hex('tenant-other-token-000000'), tenant_id: 'other', label: 'test' }).execute();
  });
  afterAll(async () => {
    await s?.close();
  });

  it('stores a validated profile the agent answers from, scoped to the tenant', async () => {
    const put = await s.api('/api/v1/tenants/atlas/profile', { method: 'PUT', body: JSON.stringify(profile) });
    expect(put.status).toBe(200);
    const got = (await (await s.api('/api/v1/tenants/atlas/profile')).json()) as { profile: { name: string; faq: unknown[] } };
    expect(got.profile.name).toBe(profile.name);
    expect(got.profile.faq.length).toBeGreaterThan(10);
    expect((await s.api('/api/v1/tenants/atlas/profile', { method: 'PUT', body: JSON.stringify({ name: '' }) })).status).toBe(400);
    // Another tenant's token cannot read or overwrite it.
    expect((await s.api('/api/v1/tenants/atlas/profile', { token: 'tenant-other-token-000000' })).status).toBe(404);
    expect((await s.api('/api/v1/tenants/atlas/profile', { method: 'PUT', body: JSON.stringify(profile), token: 'tenant-other-token-000000' })).status).toBe(404);
    expect((await s.api('/api/v1/tenants/other/profile', { token: 'tenant-other-token-000000' })).status).toBe(200);
  });
});
