import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import pg from 'pg';
import { backends } from './helpers/backends.js';
import { startTestServer, type TestServer } from './helpers/runtime.js';
import { waitFor } from './helpers/wait.js';
import { FakeHubSpot } from './fakes/hubspot.js';
import * as P from '../core/src/whatsapp/payloads.js';

const N: P.NumberRef = { wabaId: '102290129340398', phoneNumberId: '106540352242922', displayPhoneNumber: '212522123456' };

describe.each(backends())('CRM outbox into HubSpot [%s]', (backend) => {
  let hs: FakeHubSpot;
  let s: TestServer;
  let connectionId: string;

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
    // Numbers of this test belong to the tenant that connected HubSpot.
    await s.runtime.db.insertInto('whatsapp_numbers').values({ phone_number_id: N.phoneNumberId, tenant_id: 'atlas', display_phone_number: N.displayPhoneNumber, waba_id: N.wabaId, verified_name: null, access_token_enc: null, connection_reason: null, connection_changed_at: null, last_echo_at: null }).execute();
  });
  afterAll(async () => {
    await s?.close();
    await hs?.close();
  });

  const outbox = async (status: string) =>
    Number((await s.runtime.db.selectFrom('crm_outbox').select((eb) => eb.fn.countAll<string>().as('n')).where('connection_id', '=', connectionId).where('status', '=', status).executeTakeFirstOrThrow()).n);

  it('archives live messages, echoes and history as WhatsApp communications on the matched contact', async () => {
    hs.seed('contacts', { firstname: 'Youssef', phone: '06 12 34 56 78' });
    await s.postWebhook(P.inboundMessage(N, { waId: '212612345678', name: 'Youssef' }, 'wamid.CRM-1', Date.now(), P.text('salam, wach kayn?')));
    await s.postWebhook(P.echo(N, '212612345678', 'wamid.CRM-2', Date.now() + 1000, P.text('Iyeh kayn')));
    await s.postWebhook(P.historyChunk(N, { phase: 1, chunkOrder: 1, progress: 100 }, [{ waId: '212699999999', messages: Array.from({ length: 30 }, (_, i) => ({ wamid: `wamid.CRM-H${i}`, fromCustomer: i % 2 === 0, at: Date.now() - 86_400_000 + i * 1000, body: P.text(`old ${i}`) })) }]));
    await s.runtime.waitForInboxDrained();
    await waitFor(async () => (await outbox('pending')) === 0 && (await outbox('done')) >= 33, 'outbox drained');
    const comms = hs.list('communications');
    expect(comms).toHaveLength(32);
    const youssef = hs.list('contacts').filter((c) => c.properties.firstname === 'Youssef');
    expect(youssef).toHaveLength(1);
    const byBody = comms.find((c) => String(c.properties.hs_communication_body).includes('Iyeh kayn'))!;
    expect(byBody.properties.hs_communication_channel_type).toBe('WHATS_APP');
    expect(hs.associationsOf('communications', byBody.id, 'contacts').map((a) => a.toId)).toEqual([youssef[0]!.id]);
    // The echo paused the agent: the bot-state change is a note in HubSpot too.
    expect(hs.list('notes').some((n) => /paused/i.test(String(n.properties.hs_note_body)))).toBe(true);
    // History backfill is batched: far fewer API calls than messages.
    const calls = hs.apiRequests().filter((r) => r.path.includes('/communications/')).length;
    expect(calls).toBeLessThan(10);
  });

  it('updates the archived record in place when a later status arrives', async () => {
    const before = hs.list('communications').length;
    // wamid.CRM-H1 is an outbound history message archived by the first test.
    await s.postWebhook(P.statusUpdate(N, 'wamid.CRM-H1', 'read', Date.now(), '212699999999'));
    await s.runtime.waitForInboxDrained();
    await s.runtime.crm.drain(connectionId);
    const updated = hs.list('communications').find((c) => String(c.properties.hs_communication_body).includes('old 1<'));
    expect(String(updated?.properties.hs_communication_body)).toContain('read');
    expect(hs.list('communications').length).toBe(before);
  });

  it('survives a CRM outage with 429 and 5xx: retried with backoff, nothing lost, nothing written twice', async () => {
    hs.failNext({ status: 503, times: 3 });
    hs.failNext({ status: 429, times: 2, retryAfter: 7 });
    const before = hs.list('communications').length;
    for (let i = 0; i < 10; i++) await s.postWebhook(P.inboundMessage(N, { waId: '212612345678', name: 'Youssef' }, `wamid.OUT-${i}`, Date.now() + 10_000 + i, P.text(`msg ${i}`)));
    await s.runtime.waitForInboxDrained();
    // Let failed rows come due immediately instead of waiting out the real backoff.
    for (let round = 0; round === 0 || (round < 12 && (await outbox('pending')) > 0); round++) {
      await sql`update crm_outbox set next_attempt_at = now() where connection_id = ${connectionId} and status = 'pending'`.execute(s.runtime.db);
      await s.runtime.crm.drain(connectionId);
    }
    expect(await outbox('pending')).toBe(0);
    expect(await outbox('dead')).toBe(0);
    expect(hs.list('communications').length).toBe(before + 10);
    const retried = await s.runtime.db.selectFrom('crm_outbox').select(['attempts', 'last_error']).where('connection_id', '=', connectionId).where('attempts', '>', 0).execute();
    expect(retried.length).toBeGreaterThan(0);
    // Re-draining (or a retry after a lost response) writes nothing new.
    await sql`update crm_outbox set status = 'pending', next_attempt_at = now() where connection_id = ${connectionId} and kind = 'archive'`.execute(s.runtime.db);
    await s.runtime.crm.drain(connectionId);
    expect(hs.list('communications').length).toBe(before + 10);
  });

  it('new work is not held behind a retry scheduled for later: the connection is woken for it at once', async () => {
    // The outage test before this one leaves the worker's own retry run scheduled (its drains met the
    // 429s and 503s while the test forced the rows through): under load it is still waiting, holds the
    // connection's `:later` key, and the run this test waits for would be swallowed by it (seen: one
    // due in 42 s, and this test timed out). Its rows are all written; the run is left over.
    await sql`delete from pgboss.job where name = 'coex-crm' and state = 'created' and singleton_key = ${`${connectionId}:later`}`.execute(s.runtime.db);
    // HubSpot asks for 10 minutes' patience on one write: the worker's drain schedules its next run then.
    hs.failNext({ status: 429, times: 1, retryAfter: 600, match: (r) => r.path.includes('/communications') });
    await s.postWebhook(P.inboundMessage(N, { waId: '212612345678', name: 'Youssef' }, 'wamid.LATER-1', Date.now() + 20_000, P.text('wach kayn chi jdid?')));
    await s.runtime.waitForInboxDrained();
    const later = async () =>
      (await sql<{ n: number }>`select count(*)::int as n from pgboss.job where name = 'coex-crm' and state = 'created' and start_after > now() + interval '5 minutes'`.execute(s.runtime.db)).rows[0]!.n > 0;
    await waitFor(later, 'a drain scheduled 10 minutes ahead');
    // A new message meanwhile is archived by the worker now, not in 10 minutes.
    const before = hs.list('communications').length;
    await s.postWebhook(P.inboundMessage(N, { waId: '212612345678', name: 'Youssef' }, 'wamid.LATER-2', Date.now() + 21_000, P.text('safi, chokran')));
    await s.runtime.waitForInboxDrained();
    await waitFor(async () => hs.list('communications').some((c) => String(c.properties.hs_communication_body).includes('safi, chokran')), 'the new message archived by the worker');
    expect(hs.list('communications').length).toBe(before + 1);
    // The held write goes through when it is due.
    await sql`update crm_outbox set next_attempt_at = now() where connection_id = ${connectionId} and status = 'pending'`.execute(s.runtime.db);
    await s.runtime.crm.drain(connectionId);
    expect(await outbox('pending')).toBe(0);
  });

  it('writes an opt-out to the contact and takes it back on opt-in, in order even when the opt-out needs a retry', async () => {
    const waId = '212612340099';
    const contactOf = () => hs.list('contacts').find((c) => String(c.properties.phone ?? '').replace(/\D/g, '').endsWith('612340099'));
    const consentNotes = () => hs.list('notes').filter((n) => /opt/i.test(String(n.properties.hs_note_body)) && /marketing/i.test(String(n.properties.hs_note_body)));
    // HubSpot is down for the first consent write: the opt-out waits for its retry…
    // (Only the consent write's own calls — contact properties — so an archive job running at the same
    // moment cannot take the failure in its place.)
    hs.failNext({ status: 503, times: 1, match: (r) => /^\/crm\/(v3\/)?properties\/contacts\b/.test(r.path) });
    await s.postWebhook(P.inboundMessage(N, { waId, name: 'Sara' }, 'wamid.OPT-OUT-1', Date.now() + 60_000, P.text('baraka')));
    await s.runtime.waitForInboxDrained();
    await s.runtime.crm.drain(connectionId);
    const optOutRow = await s.runtime.db.selectFrom('opt_out_events').select('id').where('wa_id', '=', waId).executeTakeFirstOrThrow();
    // …and the customer comes back at once: the opt-in must not overtake it.
    await s.postWebhook(P.inboundMessage(N, { waId }, 'wamid.OPT-IN-1', Date.now() + 61_000, P.text('START')));
    await s.runtime.waitForInboxDrained();
    await s.runtime.crm.drain(connectionId);
    const items = await s.runtime.db.selectFrom('crm_outbox').select(['ref_id', 'status', 'attempts']).where('connection_id', '=', connectionId).where('kind', '=', 'consent').orderBy('id').execute();
    expect(items).toHaveLength(2);
    expect(items[0]).toMatchObject({ ref_id: String(optOutRow.id), status: 'pending', attempts: 1 });
    expect(items[1]).toMatchObject({ status: 'pending', attempts: 0 });
    await sql`update crm_outbox set next_attempt_at = now() where connection_id = ${connectionId} and status = 'pending'`.execute(s.runtime.db);
    await s.runtime.crm.drain(connectionId);
    expect(await s.runtime.db.selectFrom('crm_outbox').select('status').where('connection_id', '=', connectionId).where('kind', '=', 'consent').execute()).toEqual([{ status: 'done' }, { status: 'done' }]);
    expect(contactOf()?.properties.coex_whatsapp_marketing_opt_out).toBe('false');
    expect(consentNotes()).toHaveLength(2);
    // Campaigns exclude the customer no longer; the record says so too. A second opt-out marks it again.
    await s.postWebhook(P.inboundMessage(N, { waId }, 'wamid.OPT-OUT-2', Date.now() + 62_000, P.text('stop')));
    await s.runtime.waitForInboxDrained();
    // The property and the note are two calls: wait for both (then no third one may come).
    await waitFor(async () => contactOf()?.properties.coex_whatsapp_marketing_opt_out === 'true' && consentNotes().length >= 3, 'opt-out written by the worker');
    await s.runtime.crm.drain(connectionId);
    expect(consentNotes()).toHaveLength(3);
  });

  it('a drain waits while another drain of the same connection runs, in this process or another', async () => {
    // Another process's drain holds the connection's lock (the key is the cross-process contract):
    // two drains reading the same pending rows would write each of them to the CRM twice.
    const other = new pg.Client({ connectionString: s.runtime.handle.connectionString });
    await other.connect();
    try {
      await other.query('select pg_advisory_lock(hashtextextended($1, 0))', [`coex:crm-outbox:${connectionId}`]);
      let finished = false;
      const drain = s.runtime.crm.drain(connectionId).then(() => (finished = true));
      await new Promise((r) => setTimeout(r, 500));
      expect(finished).toBe(false);
      await other.query('select pg_advisory_unlock(hashtextextended($1, 0))', [`coex:crm-outbox:${connectionId}`]);
      await drain;
      expect(finished).toBe(true);
    } finally {
      await other.end();
    }
  });

  it('dead-letters with a visible reason after repeated permanent failures', async () => {
    hs.failNext({ status: 400, times: 10, match: (r) => r.path.includes('/communications/') });
    await s.postWebhook(P.inboundMessage(N, { waId: '212612345678', name: 'Youssef' }, 'wamid.DEAD-1', Date.now() + 50_000, P.text('ghadi ymout')));
    await s.runtime.waitForInboxDrained();
    for (let round = 0; round < 5; round++) {
      await sql`update crm_outbox set next_attempt_at = now() where connection_id = ${connectionId} and status = 'pending'`.execute(s.runtime.db);
      await s.runtime.crm.drain(connectionId);
    }
    expect(await outbox('dead')).toBeGreaterThan(0);
    const list = (await (await s.api('/api/v1/crm/connections')).json()) as { connections: Array<{ dead: number; last_dead_reason: string | null }> };
    expect(list.connections[0]!.dead).toBeGreaterThan(0);
    expect(list.connections[0]!.last_dead_reason).toBeTruthy();
  });
});
