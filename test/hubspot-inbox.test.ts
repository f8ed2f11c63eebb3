import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { registerHubSpotCustomChannel } from '@coex/connectors';
import { backends } from './helpers/backends.js';
import { startTestServer, type TestServer } from './helpers/runtime.js';
import { waitFor } from './helpers/wait.js';
import { FakeHubSpot } from './fakes/hubspot.js';
import { startGraphApiFake, DEFAULT_FAKE_TOKEN, DEFAULT_FAKE_PHONE_NUMBER, type GraphApiFake } from './fakes/graph-api.js';
import { connectHubSpotInbox } from '../core/src/crm/hubspot-inbox.js';
import { persistentConnectorFactory } from '../core/src/crm/token-store.js';
import * as P from '../core/src/whatsapp/payloads.js';

const SECRET = 'hs-app-secret-0123';
const N: P.NumberRef = { wabaId: DEFAULT_FAKE_PHONE_NUMBER.wabaId, phoneNumberId: DEFAULT_FAKE_PHONE_NUMBER.id, displayPhoneNumber: DEFAULT_FAKE_PHONE_NUMBER.displayPhoneNumber };
const OTHER_PORTAL = '7770001';

describe.each(backends())('HubSpot inbox channel [%s]', (backend) => {
  let hs: FakeHubSpot;
  let graph: GraphApiFake;
  let s: TestServer;
  let connectionId = '';
  let channelAccountId = '';
  let seq = 0;

  beforeAll(async () => {
    hs = await FakeHubSpot.start({ appClientSecret: SECRET });
    graph = await startGraphApiFake();
    s = await startTestServer(backend, { GRAPH_API_BASE_URL: graph.url, WHATSAPP_ACCESS_TOKEN: DEFAULT_FAKE_TOKEN, COEX_AGENT: 'off', HUBSPOT_CLIENT_SECRET: SECRET });
    const db = s.runtime.db;
    await db.insertInto('tenants').values([{ id: 'atlas', name: 'Atlas Boutique' }, { id: 'other', name: 'Other Shop' }]).execute();
    await db.insertInto('whatsapp_numbers').values({ phone_number_id: N.phoneNumberId, tenant_id: 'atlas', display_phone_number: N.displayPhoneNumber, waba_id: N.wabaId, verified_name: 'Atlas Boutique', access_token_enc: null, connection_reason: null, connection_changed_at: null, last_echo_at: null }).execute();
    for (const [tenant, portal] of [['atlas', String(hs.portalId)], ['other', OTHER_PORTAL]] as const) {
      const res = await s.api('/api/v1/crm/connections', {
        method: 'POST',
        body: JSON.stringify({ tenant_id: tenant, credentials: { crm: 'hubspot', portalId: portal, clientSecret: SECRET, accessToken: 'test-token', basePath: hs.url } }),
      });
      expect(res.status).toBe(201);
      if (tenant === 'atlas') connectionId = ((await res.json()) as { connection: { id: string } }).connection.id;
    }
    // One-time registration (developer API key), then the tenant's channel account.
    const channel = await registerHubSpotCustomChannel({ developerApiKey: 'dev-api-key', appId: '3141592', name: 'WhatsApp (CoEx)', webhookUrl: `${s.url}/webhooks/hubspot/inbox`, basePath: hs.url });
    expect(hs.customChannel(channel.id)?.capabilities).toMatchObject({ deliveryIdentifierTypes: ['HS_PHONE_NUMBER'], allowOutgoingMessages: true });
    const connected = await connectHubSpotInbox(
      { db, cipher: s.runtime.cipher, connectorFor: persistentConnectorFactory({ db, cipher: s.runtime.cipher, logger: s.runtime.logger }), now: () => new Date(Date.now() - 60 * 60_000) },
      { tenantId: 'atlas', channelId: channel.id, inboxId: '909', phoneNumberId: N.phoneNumberId },
    );
    channelAccountId = connected.channelAccountId;
    expect(hs.channelAccount(channelAccountId)).toMatchObject({ inboxId: '909', authorized: true, deliveryIdentifier: { type: 'HS_PHONE_NUMBER', value: `+${N.displayPhoneNumber}` } });
  });
  afterAll(async () => {
    await s?.close();
    await graph?.close();
    await hs?.close();
  });

  /** A customer who wrote on the number (now, unless `at` says otherwise); returns wa_id and thread id. */
  async function customer(text: string, at = Date.now()): Promise<{ waId: string; phone: string; threadId: string }> {
    seq += 1;
    const waId = `2126124${String(seq).padStart(5, '0')}`;
    await s.postWebhook(P.inboundMessage(N, { waId, name: `Client ${seq}` }, `wamid.INBOX-${backend}-${seq}`, at, P.text(text)));
    await s.runtime.waitForInboxDrained();
    const thread = await s.runtime.db.selectFrom('threads as t').innerJoin('contacts as c', 'c.id', 't.contact_id').select('t.id').where('c.wa_id', '=', waId).executeTakeFirstOrThrow();
    return { waId, phone: `+${waId}`, threadId: thread.id };
  }

  const published = () => hs.inboxMessages(channelAccountId).filter((m) => m.clientType === 'INTEGRATION');
  const sentTo = (waId: string) => graph.state.sent.filter((r) => (r.body as { to?: string }).to === waId);
  const outboxRows = (kind: string) => s.runtime.db.selectFrom('crm_outbox').select(['ref_id', 'status', 'attempts', 'crm_record_id', 'last_error']).where('connection_id', '=', connectionId).where('kind', '=', kind as 'inbox').execute();

  it('publishes the customer message, the phone-app echo and an API reply once each, in the right direction, through a retry', async () => {
    hs.failNext({ status: 503, times: 1, match: (r) => r.path.endsWith('/messages') && r.method === 'POST' });
    const c = await customer('salam, wach kayn l produit?');
    await s.postWebhook(P.echo(N, c.waId, `wamid.INBOX-ECHO-${backend}`, Date.now(), P.text('Iyeh kayn, 250 dh')));
    await s.runtime.waitForInboxDrained();
    const reply = await s.api(`/api/v1/threads/${c.threadId}/messages`, { method: 'POST', body: JSON.stringify({ text: 'Livraison demain inchallah' }) });
    expect(reply.status).toBeLessThan(300);
    const mine = () => published().filter((m) => [...m.senders, ...m.recipients].some((p) => p.deliveryIdentifier?.value === c.phone));
    for (let round = 0; round < 20 && mine().length < 3; round++) {
      await sql`update crm_outbox set next_attempt_at = now() where connection_id = ${connectionId} and status = 'pending'`.execute(s.runtime.db);
      await s.runtime.crm.drain(connectionId);
    }
    // Published in timestamp order; the customer message and the echo may share a second, so compare as a set.
    expect(mine().map((m) => [m.direction, m.text]).sort()).toEqual([
      ['INCOMING', 'salam, wach kayn l produit?'],
      ['OUTGOING', 'Iyeh kayn, 250 dh'],
      ['OUTGOING', 'Livraison demain inchallah'],
    ]);
    const incoming = mine().find((m) => m.direction === 'INCOMING');
    const echo = mine().find((m) => m.text === 'Iyeh kayn, 250 dh');
    expect(incoming!.senders[0]).toMatchObject({ deliveryIdentifier: { type: 'HS_PHONE_NUMBER', value: c.phone }, name: `Client ${seq}` });
    expect(incoming!.recipients[0]!.deliveryIdentifier).toEqual({ type: 'HS_PHONE_NUMBER', value: `+${N.displayPhoneNumber}` });
    expect(echo!.senders[0]).toMatchObject({ deliveryIdentifier: { value: `+${N.displayPhoneNumber}` }, name: 'WhatsApp Business app' });
    // One HubSpot thread per customer number.
    expect(new Set(mine().map((m) => m.conversationsThreadId)).size).toBe(1);
    // The 503 was retried; re-publishing everything (a lost response) adds nothing.
    expect((await outboxRows('inbox')).some((r) => r.attempts > 0)).toBe(true);
    await sql`update crm_outbox set status = 'pending', next_attempt_at = now() where connection_id = ${connectionId} and kind = 'inbox'`.execute(s.runtime.db);
    await s.runtime.crm.drain(connectionId);
    expect(mine()).toHaveLength(3);
    // The Communications archive still runs beside the inbox.
    expect(hs.list('communications').some((x) => String(x.properties.hs_communication_body).includes('Livraison demain'))).toBe(true);
  });

  it('sends an agent reply from the inbox on WhatsApp exactly once through a redelivery, pauses the agent, reports SENT and does not publish it back', async () => {
    const c = await customer('fin wslat l commande?');
    await waitFor(async () => published().some((m) => m.text === 'fin wslat l commande?'), 'customer message in the inbox');
    const { message, status } = await hs.agentReply({ channelAccountId, customerPhone: c.phone, text: 'Rah f triq, ghadi twslk lyoum', agent: { userId: 42, name: 'Nadia' } });
    expect(status).toBe(200);
    expect((await hs.redeliver(message.id)).status).toBe(200);
    await waitFor(async () => message.status?.statusType === 'SENT', 'SENT reported to HubSpot');
    expect((await hs.redeliver(message.id)).status).toBe(200);
    await s.runtime.crm.drain(connectionId);
    expect(sentTo(c.waId).map((r) => (r.body as { text: { body: string } }).text.body)).toEqual(['Rah f triq, ghadi twslk lyoum']);
    expect(message.statusUpdates).toEqual([{ statusType: 'SENT' }]);
    const row = await s.runtime.db.selectFrom('messages').select(['origin', 'actor', 'client_ref', 'direction']).where('client_ref', '=', `hubspot-inbox:${message.id}`).executeTakeFirstOrThrow();
    expect(row).toMatchObject({ origin: 'api', direction: 'outbound', actor: 'Nadia (hubspot-user:42)' });
    const thread = await s.runtime.db.selectFrom('threads').select('bot_state').where('id', '=', c.threadId).executeTakeFirstOrThrow();
    expect(thread.bot_state).toBe('paused');
    const pause = await s.runtime.db.selectFrom('bot_events').select(['cause', 'actor']).where('thread_id', '=', c.threadId).orderBy('id', 'desc').executeTakeFirstOrThrow();
    expect(pause).toMatchObject({ cause: 'crm_reply', actor: 'Nadia (hubspot-user:42)' });
    // Not published back: the inbox holds the agent's own message only.
    await s.runtime.crm.drain(connectionId);
    expect(hs.inboxMessages(channelAccountId).filter((m) => m.text === 'Rah f triq, ghadi twslk lyoum')).toHaveLength(1);
    expect((await outboxRows('inbox_reply')).filter((r) => r.ref_id === message.id)).toHaveLength(1);
  });

  it('refuses unsigned, expired and badly signed webhooks with 401 and sends nothing', async () => {
    const c = await customer('salam');
    const before = graph.state.sent.length;
    const unsigned = await hs.agentReply({ channelAccountId, customerPhone: c.phone, text: 'unsigned', signWith: null });
    const expired = await hs.agentReply({ channelAccountId, customerPhone: c.phone, text: 'expired', timestamp: Date.now() - 6 * 60_000 });
    const forged = await hs.agentReply({ channelAccountId, customerPhone: c.phone, text: 'forged', signWith: 'not-the-secret' });
    expect([unsigned.status, expired.status, forged.status]).toEqual([401, 401, 401]);
    // Control: the same reply properly signed (the query string is covered by the signature) goes out.
    const moved = await hs.agentReply({ channelAccountId, customerPhone: c.phone, text: 'moved', url: `${s.url}/webhooks/hubspot/inbox?x=1` });
    expect(moved.status).toBe(200);
    await s.runtime.crm.drain(connectionId);
    expect(graph.state.sent.length - before).toBe(1);
    const replies = (await outboxRows('inbox_reply')).map((r) => r.ref_id);
    for (const m of [unsigned, expired, forged]) expect(replies).not.toContain(m.message.id);
  });

  it('reports FAILED with the reason when the 24-hour window is closed or the customer never wrote, and sends nothing', async () => {
    const stale = await customer('wach mazal?', Date.now() - 26 * 60 * 60_000);
    const before = graph.state.sent.length;
    const closed = await hs.agentReply({ channelAccountId, customerPhone: stale.phone, text: 'Sorry for the delay' });
    const never = await hs.agentReply({ channelAccountId, customerPhone: '+212699000111', text: 'Hello stranger' });
    expect([closed.status, never.status]).toEqual([200, 200]);
    await waitFor(async () => closed.message.status !== null && never.message.status !== null, 'FAILED reported to HubSpot');
    expect(closed.message.status).toMatchObject({ statusType: 'FAILED' });
    expect(closed.message.status?.errorMessage).toMatch(/24-hour customer-service window closed/);
    expect(never.message.status).toMatchObject({ statusType: 'FAILED' });
    expect(never.message.status?.errorMessage).toMatch(/never written to this WhatsApp number.*template/);
    expect(graph.state.sent.length).toBe(before);
    expect(sentTo(stale.waId)).toHaveLength(0);
  });

  it('keeps the inbox when HubSpot is connected again (a reinstall brings new tokens, not the inbox ids)', async () => {
    const res = await s.api('/api/v1/crm/connections', {
      method: 'POST',
      body: JSON.stringify({ tenant_id: 'atlas', credentials: { crm: 'hubspot', portalId: String(hs.portalId), clientSecret: SECRET, accessToken: 'test-token', appId: 'reinstalled-app', basePath: hs.url } }),
    });
    expect(res.status, await res.clone().text()).toBe(201);
    const row = await s.runtime.db.selectFrom('crm_connections').select('credentials_enc').where('id', '=', connectionId).executeTakeFirstOrThrow();
    const stored = JSON.parse(s.runtime.cipher.decrypt(row.credentials_enc)) as { appId: string; inboxChannel?: { channelAccountId: string } };
    expect(stored.appId).toBe('reinstalled-app');
    expect(stored.inboxChannel?.channelAccountId).toBe(channelAccountId);
    // The consent properties were created at connect time.
    expect(hs.requests.some((r) => r.method === 'POST' && r.path === '/crm/v3/properties/contacts' && JSON.stringify(r.body).includes('coex_whatsapp_marketing_opt_out'))).toBe(true);
  });

  it("does not let another portal's webhook reach this tenant's threads", async () => {
    const c = await customer('salam 3afak');
    const before = graph.state.sent.length;
    // Signed with the (shared) app secret, but for a portal that is another tenant, or nobody.
    const other = await hs.agentReply({ channelAccountId, customerPhone: c.phone, text: 'from the other portal', portalId: Number(OTHER_PORTAL) });
    const unknown = await hs.agentReply({ channelAccountId, customerPhone: c.phone, text: 'from an unknown portal', portalId: 1234 });
    expect(other.status).toBe(200);
    expect(other.body).toEqual({ accepted: 0, ignored: 1 });
    expect(unknown.body).toEqual({ accepted: 0, ignored: 1 });
    await s.runtime.crm.drain(connectionId);
    expect(graph.state.sent.length).toBe(before);
    expect(other.message.status).toBeNull();
    const rows = await s.runtime.db.selectFrom('crm_outbox').select('ref_id').where('kind', '=', 'inbox_reply').execute();
    expect(rows.map((r) => r.ref_id)).not.toContain(other.message.id);
  });
});
