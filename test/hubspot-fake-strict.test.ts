import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeHubSpot } from './fakes/hubspot.js';

/** The HubSpot fake refuses what HubSpot refuses, in HubSpot's error shape, instead of guessing. */
describe('HubSpot fake: as strict as HubSpot', () => {
  let hs: FakeHubSpot;
  beforeAll(async () => {
    hs = await FakeHubSpot.start();
    hs.seed('contacts', { firstname: 'Youssef', phone: '+212612345678' });
    hs.seed('contacts', { firstname: 'Salma', phone: '+212698765432' });
  });
  afterAll(async () => {
    await hs?.close();
  });

  const search = (body: unknown, contentType = 'application/json') =>
    fetch(`${hs.url}/crm/v3/objects/contacts/search`, { method: 'POST', headers: { authorization: 'Bearer test-token', 'content-type': contentType }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  const filter = { propertyName: 'phone', operator: 'EQ', value: '+212612345678' };

  it('answers a proper search with the matching contact only', async () => {
    const res = await search({ filterGroups: [{ filters: [filter] }] });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { total: number; results: Array<{ properties: Record<string, string> }> };
    expect(body.total).toBe(1);
    expect(body.results[0]!.properties.firstname).toBe('Youssef');
  });

  it('refuses unknown keys (filter_groups, property_name) with a 400 VALIDATION_ERROR instead of an unfiltered search', async () => {
    for (const body of [{ filter_groups: [{ filters: [filter] }] }, { filterGroups: [{ filters: [{ property_name: 'phone', operator: 'EQ', value: 'x' }] }] }]) {
      const res = await search(body);
      expect(res.status).toBe(400);
      const error = (await res.json()) as { status: string; category: string; message: string; correlationId: string };
      expect(error).toMatchObject({ status: 'error', category: 'VALIDATION_ERROR' });
      expect(error.message).toMatch(/Unrecognized field "(filter_groups|property_name)"/);
      expect(error.correlationId).toMatch(/^[0-9a-f-]{36}$/);
    }
  });

  it('refuses a filter on a property that does not exist', async () => {
    const res = await search({ filterGroups: [{ filters: [{ propertyName: 'telephone_portable', operator: 'EQ', value: 'x' }] }] });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ status: 'error', category: 'VALIDATION_ERROR', errors: [{ in: 'telephone_portable', code: 'PROPERTY_DOESNT_EXIST' }] });
  });

  it('reads JSON bodies only: another content type is a 415', async () => {
    const res = await search(JSON.stringify({ filterGroups: [{ filters: [filter] }] }), 'text/plain');
    expect(res.status).toBe(415);
    expect(await res.json()).toMatchObject({ status: 'error' });
  });
});
