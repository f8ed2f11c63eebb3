import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { backends } from './helpers/backends.js';
import { startTestServer, type TestServer } from './helpers/runtime.js';
import { FakeHubSpot } from './fakes/hubspot.js';
import * as P from '../core/src/whatsapp/payloads.js';
import { CRM_QUEUE } from '../core/src/crm/capability.js';
import { CampaignLanePacer, campaignLaneKey, DEFAULT_CAMPAIGN_SHARE } from '../core/src/campaigns/lane-pacer.js';

/**
 * README promises on the way out (CRM outbox, campaign lane), checked from the outside: a real
 * runtime, HubSpot's fake failing the way HubSpot fails, and the outbox state read from its table.
 */

const N: P.NumberRef = { wabaId: '102290129340398', phoneNumberId: '106540352242922', displayPhoneNumber: '212522123456' };

describe.each(backends())('README promises on the CRM outbox and the campaign lane [%s]', (backend) => {
  let hs: FakeHubSpot;
  let s: TestServer;
  let connectionId: string;
  let seq = 0;

  beforeAll(async () => {
    hs = await FakeHubSpot.start();
    s = await startTestServer(backend, { COEX_AGENT: 'off' });
    await s.runtime.db.insertInto('tenants').values({ id: 'atlas', name: 'Atlas Boutique' }).execute();
    const res = await s.api('/api/v1/crm/connections', {
      method: 'POST',
      body: JSON.stringify({ tenant_id: 'atlas', credentials: { crm: 'hubspot', portalId: String(hs.portalId), clientSecret: 'hs-secret', accessToken: 'test-token', basePath: hs.url } }),
    });
    expect(res.status).toBe(201);
    connectionId = ((await res.json()) as { connection: { id: string } }).connection.id;
    // Only this test drains the outbox: the runtime's own CRM job would race it for the same rows.
    await s.runtime.boss.offWork(CRM_QUEUE.name);
    await s.runtime.db.insertInto('whatsapp_numbers').values({ phone_number_id: N.phoneNumberId, tenant_id: 'atlas', display_phone_number: N.displayPhoneNumber, waba_id: N.wabaId, verified_name: null, access_token_enc: null, connection_reason: null, connection_changed_at: null, last_echo_at: null }).execute();
  });
  afterAll(async () => {
    await s?.close();
    await hs?.close();
  });

  /** Posts one live message and returns its archive item in the outbox. */
  async function archiveItemFor(text: string): Promise<string> {
    seq += 1;
    const wamid = `wamid.OBX-${seq}`;
    expect((await s.postWebhook(P.inboundMessage(N, { waId: '212612345678', name: 'Youssef' }, wamid, Date.now() + seq, P.text(text)))).status).toBe(200);
    await s.runtime.waitForInboxDrained();
    const message = await s.runtime.db.selectFrom('messages').select('id').where('wamid', '=', wamid).executeTakeFirstOrThrow();
    // The first drain queues the message (catch-up) and makes the first attempt.
    await s.runtime.crm.drain(connectionId);
    const item = await s.runtime.db.selectFrom('crm_outbox').select('id').where('connection_id', '=', connectionId).where('kind', '=', 'archive').where('ref_id', '=', message.id).executeTakeFirstOrThrow();
    return item.id;
  }
  const itemState = (id: string) =>
    s.runtime.db
      .selectFrom('crm_outbox')
      .select(['status', 'attempts', 'last_error', sql<number>`extract(epoch from (next_attempt_at - now()))::float8`.as('due_in_seconds')])
      .where('id', '=', id)
      .executeTakeFirstOrThrow();

  it('honours Retry-After: a 429 asking for 10 minutes is not retried after the 5-second backoff', async () => {
    hs.failNext({ status: 429, times: 1, retryAfter: 600, match: (r) => r.path.includes('/communications/') });
    const id = await archiveItemFor('Retry-After please');
    const state = await itemState(id);
    expect(state).toMatchObject({ status: 'pending', attempts: 1 });
    // Own backoff after one failure is at most 5 s; Retry-After says 600 s.
    expect(Number(state.due_in_seconds)).toBeGreaterThan(500);
    expect(Number(state.due_in_seconds)).toBeLessThanOrEqual(600);
    // Let it come due: it is written once.
    await sql`update crm_outbox set next_attempt_at = now() where id = ${id}`.execute(s.runtime.db);
    await s.runtime.crm.drain(connectionId);
    expect((await itemState(id)).status).toBe('done');
    expect(hs.list('communications').filter((c) => String(c.properties.hs_communication_body).includes('Retry-After please'))).toHaveLength(1);
  });

  it('dead-letters with the reason after about 3 hours of retryable failures, not before', { timeout: 120_000 }, async () => {
    hs.failNext({ status: 503, times: 1000, match: (r) => r.path.includes('/communications/') });
    try {
      const id = await archiveItemFor('HubSpot is down all afternoon');
      // The wait scheduled after each failed attempt, by attempt number.
      const waits = new Map<number, number>();
      const first = await itemState(id);
      expect(first).toMatchObject({ status: 'pending', attempts: 1 });
      waits.set(1, Number(first.due_in_seconds));
      for (let round = 0; round < 60; round++) {
        const before = await itemState(id);
        if (before.status === 'dead') break;
        await sql`update crm_outbox set next_attempt_at = now() where id = ${id}`.execute(s.runtime.db);
        await s.runtime.crm.drain(connectionId);
        const after = await itemState(id);
        if (after.status === 'pending' && after.attempts > 0 && !waits.has(after.attempts)) waits.set(after.attempts, Number(after.due_in_seconds));
      }
      const final = await itemState(id);
      expect(final.status).toBe('dead');
      expect(final.attempts).toBe(20);
      expect(final.last_error).toMatch(/503|internal|error/i);
      // Every attempt before the last was retried, with a wait: together they span ~3 hours
      // (exponential backoff from 5 s capped at 15 min, with jitter between half and full).
      expect([...waits.keys()].sort((a, b) => a - b)).toEqual(Array.from({ length: 19 }, (_, i) => i + 1));
      const hours = [...waits.values()].reduce((a, b) => a + b, 0) / 3600;
      expect(hours).toBeGreaterThan(1.5);
      expect(hours).toBeLessThan(3.2);
      const list = (await (await s.api('/api/v1/crm/connections')).json()) as { connections: Array<{ id: string; dead: number; last_dead_reason: string | null }> };
      const mine = list.connections.find((c) => c.id === connectionId);
      expect(mine?.dead).toBeGreaterThan(0);
      expect(mine?.last_dead_reason).toBeTruthy();
    } finally {
      hs.clearFailures();
    }
  });

  it('caps the campaign lane at 60 % of the number’s rate', async () => {
    const lane = new CampaignLanePacer(s.runtime.db);
    expect(lane.share).toBe(DEFAULT_CAMPAIGN_SHARE);
    expect(DEFAULT_CAMPAIGN_SHARE).toBe(0.6);
    // A slow number (0.1 msg/s) keeps the lane's slots far apart, so the machine's load cannot blur
    // them: two campaign sends in a row book lane slots exactly one lane interval apart.
    const pn = '106540352249001';
    const rate = 0.1;
    const tatOf = async () =>
      (await s.runtime.db.selectFrom('send_pacers').select('tat').where('phone_number_id', '=', campaignLaneKey(pn)).executeTakeFirstOrThrow()).tat.getTime();
    await lane.acquire(pn, { ratePerSecond: rate });
    const first = await tatOf();
    const stop = new AbortController();
    stop.abort(new Error('the test does not wait for the slot'));
    await expect(lane.acquire(pn, { ratePerSecond: rate }, stop.signal)).rejects.toThrow(/does not wait/);
    const second = await tatOf();
    // DbPacer keeps a 0.95 safety margin on every bucket.
    const laneIntervalMs = 1000 / (rate * 0.6 * 0.95);
    expect(second - first).toBeGreaterThan(laneIntervalMs - 5);
    expect(second - first).toBeLessThan(laneIntervalMs + 5);
  });
});
