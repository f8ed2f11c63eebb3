/**
 * Meta's 2026 changes end to end through the real server (webhook → inbox → store → API → Graph
 * fake): BSUID sends, user_changed_user_id, standby / messaging_handovers, echo creation types
 * (coex-spec.md §11; docs/decisions/meta-2026-changes.md).
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends } from './helpers/backends.js';
import { startTestServer, TEST_APP_SECRET, type TestServer } from './helpers/runtime.js';
import { waitFor } from './helpers/wait.js';
import { startGraphApiFake, DEFAULT_FAKE_TOKEN, DEFAULT_FAKE_PHONE_NUMBER, DEFAULT_FAKE_TEMPLATES, type GraphApiFake } from './fakes/graph-api.js';
import * as P from '../core/src/whatsapp/payloads.js';
import * as M from './fixtures/meta-2026.js';
import { createLogger } from '../core/src/logger.js';
import { CampaignRunner, createCampaignSender } from '../core/src/campaigns/index.js';
import { COEX_HEADERS, issueExtensionKey, signExtensionRequest } from '../core/src/api/extension-auth.js';
import { handlerLabel } from '../core/src/crm/outbox.js';

const N: P.NumberRef = { wabaId: DEFAULT_FAKE_PHONE_NUMBER.wabaId, phoneNumberId: DEFAULT_FAKE_PHONE_NUMBER.id, displayPhoneNumber: DEFAULT_FAKE_PHONE_NUMBER.displayPhoneNumber };
const profile = JSON.parse(readFileSync(new URL('../examples/knowledge/atlas-shop.json', import.meta.url), 'utf8')) as unknown;

interface ThreadJson {
  id: string;
  wa_id: string | null;
  user_id: string | null;
  bot: { state: string };
  control: { holder: string; app_id: string | null; since: string | null };
}
interface MessageJson {
  wamid: string;
  direction: string;
  origin: string;
  text: string | null;
  status: string | null;
  standby: boolean;
  creation_type: string | null;
  error: unknown;
}

describe.each(backends())('Meta 2026 changes [%s]', (backend) => {
  let graph: GraphApiFake;
  let s: TestServer;
  let seq = 0;
  const base = Date.now() - 10 * 60_000;

  beforeAll(async () => {
    graph = await startGraphApiFake({
      templates: [
        ...DEFAULT_FAKE_TEMPLATES,
        { name: 'login_code', language: 'fr', category: 'AUTHENTICATION', bodyParameters: 1, body: 'Votre code : {{1}}' },
        { name: 'spring_sale', language: 'fr', category: 'MARKETING', bodyParameters: 1 },
      ],
    });
    s = await startTestServer(backend, { GRAPH_API_BASE_URL: graph.url, WHATSAPP_ACCESS_TOKEN: DEFAULT_FAKE_TOKEN });
    await s.runtime.db.insertInto('tenants').values({ id: 'default', name: 'Atlas Boutique', settings: JSON.stringify({ profile }) }).execute();
  });
  afterAll(async () => {
    await s?.close();
    await graph?.close();
  });

  const next = () => ++seq;
  const bsuid = (n: number) => `MA.8${String(n).padStart(19, '0')}`;
  const phone = (n: number) => `2126300${String(n).padStart(5, '0')}`;
  const at = (minutes: number) => base + minutes * 60_000;

  async function deliver(payload: unknown) {
    expect((await s.postWebhook(payload)).status).toBe(200);
    await s.runtime.waitForInboxDrained();
  }
  async function threadOfUser(userId: string): Promise<ThreadJson | undefined> {
    const row = await s.runtime.db.selectFrom('threads').innerJoin('contacts', 'contacts.id', 'threads.contact_id').select('threads.id').where('contacts.user_id', '=', userId).executeTakeFirst();
    return row ? threadJson(row.id) : undefined;
  }
  async function threadJson(id: string): Promise<ThreadJson> {
    return ((await (await s.api(`/api/v1/threads/${id}`)).json()) as { thread: ThreadJson }).thread;
  }
  async function threadOfPhone(waId: string): Promise<ThreadJson> {
    const res = (await (await s.api(`/api/v1/threads?wa_id=${waId}`)).json()) as { threads: ThreadJson[] };
    expect(res.threads).toHaveLength(1);
    return res.threads[0]!;
  }
  async function messagesOf(threadId: string): Promise<MessageJson[]> {
    return ((await (await s.api(`/api/v1/threads/${threadId}/messages`)).json()) as { messages: MessageJson[] }).messages;
  }
  const reply = (threadId: string, body: unknown) => s.api(`/api/v1/threads/${threadId}/messages`, { method: 'POST', body: JSON.stringify(body) });
  async function turnOf(wamid: string) {
    return waitFor(async () => {
      const row = await s.runtime.db.selectFrom('agent_turns').innerJoin('messages', 'messages.id', 'agent_turns.trigger_message_id').select(['agent_turns.status', 'agent_turns.reason']).where('messages.wamid', '=', wamid).executeTakeFirst();
      return row && !['pending', 'generating', 'waiting_transcript'].includes(row.status) ? row : undefined;
    }, `agent turn for ${wamid}`);
  }

  describe('1. sends to a customer known only by BSUID', () => {
    it('a reply goes out with `recipient` (text, media, template), statuses come back, and no longer 422', async () => {
      const n = next();
      const user = bsuid(n);
      await deliver(M.fromBsuid(N, user, `wamid.B-${backend}-${n}`, at(n), P.text('salam, wach kayn l7ala?')));
      const thread = (await threadOfUser(user))!;
      expect(thread).toMatchObject({ wa_id: null, user_id: user });
      // Found by BSUID in the admin API too.
      const listed = (await (await s.api(`/api/v1/threads?user_id=${user}`)).json()) as { threads: ThreadJson[] };
      expect(listed.threads.map((t) => [t.id, t.user_id])).toEqual([[thread.id, user]]);

      const res = await reply(thread.id, { text: 'Iyeh kayna, marhba!', actor: 'amina@shop.ma' });
      expect(res.status).toBe(201);
      const { message } = (await res.json()) as { message: { wamid: string; status: string } };
      const sent = graph.state.sent.at(-1)!;
      expect(sent).toMatchObject({ addressField: 'recipient', dropped: false, to: user });
      expect(sent.body).toEqual({ messaging_product: 'whatsapp', recipient_type: 'individual', recipient: user, type: 'text', text: { body: 'Iyeh kayna, marhba!' } });

      // Statuses of a BSUID send carry recipient_user_id and fold into the message.
      await graph.emitStatuses(`${s.url}/webhooks/whatsapp`, TEST_APP_SECRET, message.wamid, ['sent', 'delivered', 'read']);
      await s.runtime.waitForInboxDrained();
      expect((await messagesOf(thread.id)).find((m) => m.wamid === message.wamid)).toMatchObject({ status: 'read' });

      // Media (as the agent or a connector would send it) and templates take the same path.
      await s.runtime.sender.send({ threadId: thread.id, tenantId: 'default', origin: 'api', actor: 'amina@shop.ma', message: { type: 'image', media: { link: 'https://shop.example/catalogue.jpg' }, caption: 'Catalogue' } });
      expect(graph.state.sent.at(-1)!.body).toMatchObject({ recipient: user, type: 'image', image: { link: 'https://shop.example/catalogue.jpg' } });
      expect(graph.state.sent.at(-1)!.body).not.toHaveProperty('to');
      expect((await reply(thread.id, { template: { name: 'order_shipped', language: 'fr', body_parameters: ['991'] } })).status).toBe(201);
      expect(graph.state.sent.at(-1)!.body).toMatchObject({ recipient: user, type: 'template' });
    });

    it('a customer with a phone keeps `to`, even when a BSUID is known too', async () => {
      const n = next();
      await deliver(P.inboundMessage(N, { waId: phone(n), userId: bsuid(n) }, `wamid.B-${backend}-${n}`, at(n), P.text('salam'), { from_user_id: bsuid(n) }));
      const thread = await threadOfPhone(phone(n));
      expect((await reply(thread.id, { text: 'Marhba' })).status).toBe(201);
      expect(graph.state.sent.at(-1)).toMatchObject({ addressField: 'to', to: phone(n) });
      expect(graph.state.sent.at(-1)!.body).not.toHaveProperty('recipient');
    });

    it('an authentication template to a BSUID fails permanently with the reason (131062)', async () => {
      const n = next();
      const user = bsuid(n);
      await deliver(M.fromBsuid(N, user, `wamid.B-${backend}-${n}`, at(n), P.text('bghit ncodi')));
      const thread = (await threadOfUser(user))!;
      const before = graph.requests.length;
      const res = await reply(thread.id, { template: { name: 'login_code', language: 'fr', body_parameters: ['123456'] } });
      expect(res.status).toBe(502);
      const body = (await res.json()) as { error: string; code: number; kind: string; message_id: string };
      expect(body).toMatchObject({ code: 131062, kind: 'permanent' });
      expect(body.error).toMatch(/business-scoped user id.*phone number/);
      // Permanent: one call, no retry (the agent may answer the customer meanwhile: count this template only).
      const loginCalls = graph.requests.slice(before).filter((r) => r.path.endsWith('/messages') && (r.json as { template?: { name?: string } } | undefined)?.template?.name === 'login_code');
      expect(loginCalls).toHaveLength(1);
      const failed = (await messagesOf(thread.id)).find((m) => m.status === 'failed')!;
      expect(JSON.stringify(failed.error)).toMatch(/131062/);
    });

    it('campaigns reach BSUID-only customers through `recipient`; an opt-out written under a BSUID (and followed through an id change) is honoured', async () => {
      const [plain, optedOut, changed] = [next(), next(), next()];
      await deliver(M.fromBsuid(N, bsuid(plain), `wamid.C-${backend}-${plain}`, at(plain), P.text('salam')));
      await deliver(M.fromBsuid(N, bsuid(optedOut), `wamid.C-${backend}-${optedOut}`, at(optedOut), P.text('STOP')));
      await waitFor(async () => s.runtime.db.selectFrom('opt_outs').select('wa_id').where('wa_id', '=', bsuid(optedOut)).executeTakeFirst(), 'opt-out under the BSUID');
      // This one opted out, then changed id: the campaign still lists the old id.
      await deliver(M.fromBsuid(N, bsuid(changed), `wamid.C-${backend}-${changed}`, at(changed), P.text('baraka')));
      await waitFor(async () => s.runtime.db.selectFrom('opt_outs').select('wa_id').where('wa_id', '=', bsuid(changed)).executeTakeFirst(), 'opt-out under the old BSUID');
      await deliver(M.userChangedUserId(N, { previousUserId: bsuid(changed), newUserId: bsuid(changed + 500) }, `wamid.C-${backend}-${changed}-sys`, at(changed) + 1000));
      expect(await s.runtime.db.selectFrom('opt_outs').select('wa_id').where('wa_id', 'in', [bsuid(changed), bsuid(changed + 500)]).execute()).toEqual([{ wa_id: bsuid(changed + 500) }]);

      const created = await s.api('/api/v1/campaigns', {
        method: 'POST',
        body: JSON.stringify({
          phone_number_id: N.phoneNumberId,
          name: `bsuid-${backend}`,
          template: { name: 'spring_sale', language: 'fr' },
          recipients: [bsuid(plain), bsuid(optedOut), bsuid(changed)].map((phone) => ({ phone, variables: ['SPRING'] })),
          start: true,
        }),
      });
      expect(created.status).toBe(201);
      const runner = new CampaignRunner({ db: s.runtime.db, sender: createCampaignSender(s.runtime.db, s.runtime.graph, createLogger('silent')), logger: createLogger('silent'), concurrency: 1, pollIntervalMs: 50 });
      await runner.runUntilIdle();
      const sales = graph.state.sent.filter((m) => m.type === 'template' && (m.body.template as { name: string }).name === 'spring_sale');
      expect(sales.map((m) => [m.addressField, m.to])).toEqual([['recipient', bsuid(plain)]]);
      // The campaign's message sits in the customer's one thread.
      expect((await messagesOf((await threadOfUser(bsuid(plain)))!.id)).some((m) => m.direction === 'outbound')).toBe(true);
    });

    it('the fake enforces Meta’s rule: a BSUID in `to` is accepted and never delivered', async () => {
      const user = bsuid(next());
      const res = await fetch(`${graph.url}/v25.0/${N.phoneNumberId}/messages`, {
        method: 'POST',
        headers: { authorization: `Bearer ${DEFAULT_FAKE_TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ messaging_product: 'whatsapp', recipient_type: 'individual', to: user, type: 'text', text: { body: 'lost' } }),
      });
      expect(res.status).toBe(200);
      const { messages } = (await res.json()) as { messages: Array<{ id: string }> };
      expect(graph.state.sent.at(-1)).toMatchObject({ dropped: true, addressField: 'to' });
      expect(await graph.emitStatuses(`${s.url}/webhooks/whatsapp`, TEST_APP_SECRET, messages[0]!.id, ['sent', 'delivered'])).toEqual([]);
    });
  });

  describe('2. user_changed_user_id', () => {
    it('the contact follows its new id: one contact, one thread, bot state kept; late old-id messages land there too', async () => {
      const n = next();
      const [oldId, newId] = [bsuid(n), bsuid(n + 500)];
      await deliver(M.fromBsuid(N, oldId, `wamid.U-${backend}-${n}-1`, at(n), P.text('salam')));
      const before = (await threadOfUser(oldId))!;
      expect((await s.api(`/api/v1/threads/${before.id}/bot`, { method: 'POST', body: JSON.stringify({ action: 'pause', actor: 'amina' }) })).status).toBe(200);

      const change = M.userChangedUserId(N, { previousUserId: oldId, newUserId: newId }, `wamid.U-${backend}-${n}-sys`, at(n) + 1000);
      await deliver(change);
      await deliver(change); // redelivered: idempotent
      await deliver(M.fromBsuid(N, newId, `wamid.U-${backend}-${n}-2`, at(n) + 2000, P.text('rah bdelt smiti')));
      await deliver(M.fromBsuid(N, oldId, `wamid.U-${backend}-${n}-0`, at(n) - 1000, P.text('late, old id')));

      const contacts = await s.runtime.db.selectFrom('contacts').select(['id', 'contact_key', 'user_id']).where('user_id', 'in', [oldId, newId]).execute();
      expect(contacts).toEqual([expect.objectContaining({ contact_key: `bsuid:${newId}`, user_id: newId })]);
      const after = (await threadOfUser(newId))!;
      expect(after.id).toBe(before.id);
      expect(after.bot.state).toBe('paused');
      // (The agent may have answered the first message before the pause: not part of this check.)
      expect((await messagesOf(after.id)).filter((m) => m.origin !== 'agent').map((m) => m.wamid)).toEqual([`wamid.U-${backend}-${n}-0`, `wamid.U-${backend}-${n}-1`, `wamid.U-${backend}-${n}-sys`, `wamid.U-${backend}-${n}-2`]);
      // And replies now go to the new id.
      expect((await reply(after.id, { text: 'Marhba' })).status).toBe(201);
      expect(graph.state.sent.at(-1)!.body).toMatchObject({ recipient: newId });
    });

    it('in any order: messages from the new id first, then the change — the two threads become one', async () => {
      const n = next();
      const [oldId, newId] = [bsuid(n), bsuid(n + 500)];
      await deliver(M.fromBsuid(N, oldId, `wamid.V-${backend}-${n}-1`, at(n), P.text('salam')));
      const original = (await threadOfUser(oldId))!;
      await deliver(M.fromBsuid(N, newId, `wamid.V-${backend}-${n}-2`, at(n) + 2000, P.text('new id first')));
      expect((await threadOfUser(newId))!.id).not.toBe(original.id);
      await deliver(M.userChangedUserId(N, { previousUserId: oldId, newUserId: newId }, `wamid.V-${backend}-${n}-sys`, at(n) + 1000));
      const merged = (await threadOfUser(newId))!;
      expect(merged.id).toBe(original.id);
      expect(await threadOfUser(oldId)).toBeUndefined();
      // (The agent may have answered the second thread meanwhile: its reply moved along.)
      const customerSide = (await messagesOf(merged.id)).filter((m) => m.origin !== 'agent');
      expect(customerSide.map((m) => m.wamid)).toEqual([`wamid.V-${backend}-${n}-1`, `wamid.V-${backend}-${n}-sys`, `wamid.V-${backend}-${n}-2`]);
      expect(await s.runtime.db.selectFrom('threads').select('id').where('id', '=', merged.id).execute()).toHaveLength(1);
    });

    it('a customer known by phone keeps their phone contact and opt-out; only the BSUID changes', async () => {
      const n = next();
      const [oldId, newId] = [bsuid(n), bsuid(n + 500)];
      await deliver(P.inboundMessage(N, { waId: phone(n), userId: oldId }, `wamid.W-${backend}-${n}-1`, at(n), P.text('STOP'), { from_user_id: oldId }));
      const before = await threadOfPhone(phone(n));
      await waitFor(async () => s.runtime.db.selectFrom('opt_outs').select('wa_id').where('wa_id', '=', phone(n)).executeTakeFirst(), 'opt-out recorded');
      await deliver(M.userChangedUserId(N, { previousUserId: oldId, newUserId: newId, waId: phone(n) }, `wamid.W-${backend}-${n}-sys`, at(n) + 1000));
      const after = await threadOfPhone(phone(n));
      expect(after).toMatchObject({ id: before.id, user_id: newId });
      expect(await s.runtime.db.selectFrom('opt_outs').select('wa_id').where('wa_id', '=', phone(n)).executeTakeFirst()).toBeDefined();
      expect(await s.runtime.db.selectFrom('contacts').select('id').where('user_id', 'in', [oldId, newId]).execute()).toHaveLength(1);
    });
  });

  describe('3. standby and messaging_handovers', () => {
    it('standby messages are stored, the thread shows Meta’s agent holding it, and CoEx’s agent stays silent', async () => {
      const n = next();
      const c = { waId: phone(n) };
      const wamid = `wamid.S-${backend}-${n}-1`;
      await deliver(M.standbyMessage(N, c, wamid, Date.now() - 60_000, P.text('wach kayn livraison l marrakech?')));
      await deliver(M.standbyEcho(N, c.waId, `wamid.S-${backend}-${n}-2`, Date.now() - 50_000, P.text('Oui, 20 dh.'), 'created_by_1p_bot'));
      const thread = await threadOfPhone(c.waId);
      expect(thread.control).toMatchObject({ holder: 'meta_agent' });
      expect(thread.bot.state).toBe('active'); // the agent's own echo is not a person taking over
      const messages = await messagesOf(thread.id);
      expect(messages).toEqual([
        expect.objectContaining({ wamid, direction: 'inbound', origin: 'customer', standby: true }),
        expect.objectContaining({ direction: 'outbound', standby: true, creation_type: 'created_by_1p_bot' }),
      ]);
      const turns = await s.runtime.db.selectFrom('agent_turns').innerJoin('messages', 'messages.id', 'agent_turns.trigger_message_id').select('agent_turns.id').where('messages.wamid', '=', wamid).execute();
      expect(turns).toEqual([]);
      expect(graph.state.sent.filter((m) => m.to === c.waId)).toEqual([]);
    });

    it('control passed to CoEx: the agent answers again; taken by another app: silent, holder and app id shown', async () => {
      const n = next();
      const c = { waId: phone(n) };
      await deliver(M.standbyMessage(N, c, `wamid.H-${backend}-${n}-1`, Date.now() - 120_000, P.text('salam')));
      await deliver(M.handover(N, c, 'control_passed', Date.now() - 100_000));
      expect((await threadOfPhone(c.waId)).control.holder).toBe('coex');
      const answered = `wamid.H-${backend}-${n}-2`;
      await deliver(P.inboundMessage(N, { waId: c.waId }, answered, Date.now() - 90_000, P.text('wach kayn livraison l marrakech?')));
      expect(await turnOf(answered)).toMatchObject({ status: 'sent' });

      await deliver(M.handover(N, c, 'control_taken', Date.now() - 80_000, { new_owner_app_id: '4455667788' }));
      expect((await threadOfPhone(c.waId)).control).toMatchObject({ holder: 'other_app', app_id: '4455667788' });
      // A handover older than what is known (delivered late) changes nothing.
      await deliver(M.handover(N, c, 'control_passed', Date.now() - 110_000));
      expect((await threadOfPhone(c.waId)).control.holder).toBe('other_app');
      // Nor does a customer message on `messages` older than the handover, delivered late: it is
      // stored, and the thread's clock moves, but the other app keeps the thread.
      const late = `wamid.H-${backend}-${n}-3`;
      await deliver(P.inboundMessage(N, { waId: c.waId }, late, Date.now() - 85_000, P.text('ok merci')));
      const after = await threadOfPhone(c.waId);
      expect(after.control).toMatchObject({ holder: 'other_app', app_id: '4455667788' });
      expect((await messagesOf(after.id)).map((m: { wamid: string }) => m.wamid)).toContain(late);
      // A newer one on `messages` does take it back (Meta routes it to CoEx: CoEx holds the thread).
      await deliver(P.inboundMessage(N, { waId: c.waId }, `wamid.H-${backend}-${n}-4`, Date.now() - 70_000, P.text('salam')));
      expect((await threadOfPhone(c.waId)).control).toMatchObject({ holder: 'coex', app_id: null });
    });

    it('the agent never answers while another handler holds the thread, even from a `messages` turn in flight', async () => {
      const n = next();
      const c = { waId: phone(n) };
      const wamid = `wamid.F-${backend}-${n}-1`;
      // The turn exists (message on `messages`), but control is taken before it (re)runs.
      await deliver(P.inboundMessage(N, { waId: c.waId }, wamid, Date.now() - 30_000, P.text('wach kayn livraison?')));
      await deliver(M.handover(N, c, 'control_taken', Date.now() - 20_000, { new_owner: 'AI_AGENT' }));
      const turn = await turnOf(wamid);
      // Either the turn ran before the handover (sent) or it was refused; after it, nothing more goes out.
      const sentBefore = graph.state.sent.filter((m) => m.to === c.waId).length;
      expect(['sent', 'skipped', 'cancelled']).toContain(turn.status);
      const thread = await threadOfPhone(c.waId);
      expect(thread.control.holder).toBe('meta_agent');
      const row = await s.runtime.db.insertInto('agent_turns').values({ tenant_id: 'default', thread_id: thread.id, trigger_message_id: (await s.runtime.db.selectFrom('messages').select('id').where('wamid', '=', wamid).executeTakeFirstOrThrow()).id, status: 'pending' }).onConflict((oc) => oc.column('trigger_message_id').doUpdateSet({ status: 'pending' })).returning('id').executeTakeFirstOrThrow();
      expect(await s.runtime.agent.runTurn(row.id)).toMatchObject({ status: 'skipped', reason: 'thread held by meta_agent' });
      // The send path refuses an agent reply on its own too (compare-and-set in the claim).
      const bot = await s.runtime.db.selectFrom('threads').select('bot_version').where('id', '=', thread.id).executeTakeFirstOrThrow();
      expect(await s.runtime.sender.send({ threadId: thread.id, tenantId: 'default', origin: 'agent', actor: 'agent', expectedBotVersion: bot.bot_version, message: { type: 'text', body: 'x' } })).toEqual({
        status: 'cancelled',
        reason: 'another_handler',
      });
      expect(graph.state.sent.filter((m) => m.to === c.waId)).toHaveLength(sentBefore);
    });

    it('the holder is in the extension API thread response (what the CRM cards read) and in the archived text', async () => {
      const n = next();
      const c = { waId: phone(n) };
      await deliver(M.standbyMessage(N, c, `wamid.X-${backend}-${n}-1`, Date.now() - 60_000, P.text('salam')));
      await deliver(M.standbyEcho(N, c.waId, `wamid.X-${backend}-${n}-2`, Date.now() - 50_000, P.text('Marhba!'), 'created_by_1p_bot'));
      const account = `https://shop-${backend}.example.ma`;
      const { key } = await issueExtensionKey(s.runtime.db, { tenantId: 'default', crm: 'woocommerce', account, cipher: s.runtime.cipher });
      const path = `/ext/v1/woocommerce/thread?phone=%2B${c.waId}`;
      const timestamp = Date.now();
      const nonce = `nonce${backend}${n}${'x'.repeat(16)}`;
      const res = await fetch(`${s.url}${path}`, {
        headers: {
          [COEX_HEADERS.account]: account,
          [COEX_HEADERS.timestamp]: String(timestamp),
          [COEX_HEADERS.nonce]: nonce,
          [COEX_HEADERS.signature]: signExtensionRequest({ key, method: 'GET', pathWithQuery: path, body: '', timestamp, nonce }),
        },
      });
      expect(res.status).toBe(200);
      const body = (await res.json()) as { thread: { control: { holder: string } }; messages: Array<{ standby: boolean }> };
      expect(body.thread.control).toMatchObject({ holder: 'meta_agent' });
      expect(body.messages.map((m) => m.standby)).toEqual([true, true]);

      const archived = await s.runtime.db
        .selectFrom('messages')
        .innerJoin('threads', 'threads.id', 'messages.thread_id')
        .select(['messages.direction', 'messages.standby', 'messages.creation_type', 'threads.control_holder'])
        .where('messages.wamid', 'in', [`wamid.X-${backend}-${n}-1`, `wamid.X-${backend}-${n}-2`])
        .orderBy('messages.provider_timestamp')
        .execute();
      expect(archived.map(handlerLabel)).toEqual(["[while Meta's AI agent held the chat] ", "[sent by Meta's AI agent] "]);
      expect(handlerLabel({ direction: 'inbound', standby: false, creation_type: null, control_holder: 'meta_agent' })).toBe('');
      expect(handlerLabel({ direction: 'inbound', standby: true, creation_type: null, control_holder: 'coex' })).toBe('[while another handler held the chat] ');
    });

    it('a person replying through CoEx takes the thread back (a template does not)', async () => {
      const n = next();
      const c = { waId: phone(n) };
      await deliver(M.standbyMessage(N, c, `wamid.T-${backend}-${n}-1`, Date.now() - 60_000, P.text('bghit nhder m3a chi wahed')));
      const thread = await threadOfPhone(c.waId);
      expect(thread.control.holder).toBe('meta_agent');
      expect((await reply(thread.id, { template: { name: 'order_shipped', language: 'fr', body_parameters: ['1'] } })).status).toBe(201);
      expect((await threadOfPhone(c.waId)).control.holder).toBe('meta_agent');
      expect((await reply(thread.id, { text: 'Salam, ana Amina, kifach n3awnek?', actor: 'amina@shop.ma' })).status).toBe(201);
      const after = await threadOfPhone(c.waId);
      expect(after.control.holder).toBe('coex');
      expect(after.bot.state).toBe('paused');
    });
  });

  describe('4. message_creation_type on echoes', () => {
    it('a bot’s echo is kept and does not pause the agent; a person’s does; an unknown value pauses and is counted', async () => {
      const cases: Array<[string, string]> = [
        ['created_by_1p_bot', 'active'],
        ['user', 'paused'],
        ['created_by_something_new', 'paused'],
      ];
      for (const [creationType, expected] of cases) {
        const n = next();
        await deliver(P.inboundMessage(N, { waId: phone(n) }, `wamid.E-${backend}-${n}-1`, Date.now() - 60_000, P.text('salam')));
        await deliver(M.echoWithCreationType(N, phone(n), `wamid.E-${backend}-${n}-2`, Date.now() - 50_000, P.text('Marhba!'), creationType));
        const thread = await threadOfPhone(phone(n));
        expect(thread.bot.state, creationType).toBe(expected);
        expect((await messagesOf(thread.id)).find((m) => m.direction === 'outbound')).toMatchObject({ origin: 'app', creation_type: creationType });
      }
      // A bot deleting its own message is not a person either; the same revoke by a person is.
      for (const [creationType, expected] of [['created_by_1p_bot', 'active'], ['user', 'paused']] as const) {
        const n = next();
        await deliver(P.inboundMessage(N, { waId: phone(n) }, `wamid.R-${backend}-${n}-1`, Date.now() - 60_000, P.text('salam')));
        await deliver(M.echoWithCreationType(N, phone(n), `wamid.R-${backend}-${n}-2`, Date.now() - 50_000, P.text('Marhba!'), 'created_by_1p_bot'));
        await deliver(M.echoWithCreationType(N, phone(n), `wamid.R-${backend}-${n}-3`, Date.now() - 40_000, { type: 'revoke', revoke: { original_message_id: `wamid.R-${backend}-${n}-2` } }, creationType));
        expect((await threadOfPhone(phone(n))).bot.state, `revoke by ${creationType}`).toBe(expected);
      }
      const metrics = await (await fetch(`${s.url}/metrics`)).text();
      expect(metrics).toMatch(/coex_echo_creation_type_unknown_total\{value="created_by_something_new"\} 1/);
    });
  });
});
