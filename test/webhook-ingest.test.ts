import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { backends } from './helpers/backends.js';
import { startTestServer, TEST_VERIFY_TOKEN, type TestServer } from './helpers/runtime.js';
import * as P from '../core/src/whatsapp/payloads.js';

const N: P.NumberRef = { wabaId: '102290129340398', phoneNumberId: '106540352242922', displayPhoneNumber: '212522123456' };
const YOUSSEF = { waId: '212612345678', name: 'Youssef' };
const t0 = Date.UTC(2026, 10, 24, 9, 0, 0);
const at = (minutes: number) => t0 + minutes * 60_000;

async function threadOf(s: TestServer, waId: string) {
  const res = await s.api(`/api/v1/threads?phone_number_id=${N.phoneNumberId}&wa_id=${waId}`);
  expect(res.status).toBe(200);
  const body = (await res.json()) as { threads: Array<{ id: string; contact_name: string | null; bot: { state: string; paused_until: string | null } }> };
  return body.threads[0];
}

async function messagesOf(s: TestServer, threadId: string) {
  const res = await s.api(`/api/v1/threads/${threadId}/messages`);
  expect(res.status).toBe(200);
  return ((await res.json()) as { messages: Array<Record<string, unknown> & { wamid: string; origin: string; direction: string; type: string; text: string | null; status: string | null }> }).messages;
}

async function post(s: TestServer, body: unknown) {
  const res = await s.postWebhook(body);
  expect(res.status).toBe(200);
}

describe.each(backends())('webhook ingestion [%s]', (backend) => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer(backend, { WEBHOOK_MAX_BODY_BYTES: 64 * 1024 });
  });
  afterAll(async () => {
    await s?.close();
  });

  it('answers the verification handshake only with the right token', async () => {
    const ok = await fetch(`${s.url}/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=${TEST_VERIFY_TOKEN}&hub.challenge=1158201444`);
    expect(ok.status).toBe(200);
    expect(await ok.text()).toBe('1158201444');
    const bad = await fetch(`${s.url}/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=nope&hub.challenge=1`);
    expect(bad.status).toBe(403);
  });

  it('rejects bad signatures, malformed JSON and oversized bodies without storing them', async () => {
    const before = await s.runtime.db.selectFrom('webhook_inbox').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow();
    const payload = P.inboundMessage(N, YOUSSEF, 'wamid.BADSIG', at(0), P.text('x'));
    expect((await s.postWebhook(payload, { secret: 'wrong-secret' })).status).toBe(401);
    expect((await s.postWebhook(payload, { signature: 'sha256=zz' })).status).toBe(401);
    const noSig = await fetch(`${s.url}/webhooks/whatsapp`, { method: 'POST', body: JSON.stringify(payload), headers: { 'content-type': 'application/json' } });
    expect(noSig.status).toBe(401);
    expect((await s.postWebhook('{"object": "whatsapp_business_account", ')).status).toBe(400);
    const huge = P.inboundMessage(N, YOUSSEF, 'wamid.HUGE', at(0), P.text('x'.repeat(70 * 1024)));
    expect((await s.postWebhook(huge)).status).toBe(413);
    const after = await s.runtime.db.selectFrom('webhook_inbox').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow();
    expect(after.n).toBe(before.n);
    const metrics = await (await fetch(`${s.url}/metrics`)).text();
    expect(metrics).toMatch(/coex_webhook_requests_total\{outcome="bad_signature"\} 3/);
    expect(metrics).toMatch(/coex_webhook_requests_total\{outcome="malformed"\} 1/);
    expect(metrics).toMatch(/coex_webhook_requests_total\{outcome="too_large"\} 1/);
  });

  it('stores a live customer message with the profile name and opens the 24-hour window', async () => {
    await post(s, P.inboundMessage(N, YOUSSEF, 'wamid.L1', at(1), P.text('salam, wach kayn livraison l Marrakech?')));
    await s.runtime.waitForInboxDrained();
    const thread = await threadOf(s, YOUSSEF.waId);
    expect(thread?.contact_name).toBe('Youssef');
    expect(thread?.bot.state).toBe('active');
    const msgs = await messagesOf(s, thread!.id);
    expect(msgs).toMatchObject([{ wamid: 'wamid.L1', direction: 'inbound', origin: 'customer', type: 'text', text: 'salam, wach kayn livraison l Marrakech?' }]);
    const row = await s.runtime.db.selectFrom('threads').select('last_customer_message_at').where('id', '=', thread!.id).executeTakeFirstOrThrow();
    expect(row.last_customer_message_at?.getTime()).toBe(at(1));
  });

  it('stores text exactly, whatever characters it holds', async () => {
    // Messages are written as column arrays (unnest): array-literal syntax must never leak into them.
    const texts = ['NULL', 'null', '', ' ', '{a,b}', '"quoted", \\backslash\\ and {braces}', 'line\nbreak\ttab', 'مرحبا 👋 ça va', 'a,b,"c"'];
    const customer = { waId: '212611122299', name: '{"Nadia", \\ NULL}' };
    for (const [i, text] of texts.entries()) await post(s, P.inboundMessage(N, customer, `wamid.TXT${i}`, at(10 + i), P.text(text)));
    await s.runtime.waitForInboxDrained();
    const rows = await s.runtime.db.selectFrom('messages').select(['wamid', 'text', 'payload']).where('wamid', 'like', 'wamid.TXT%').orderBy('provider_timestamp').execute();
    expect(rows.map((r) => r.text)).toEqual(texts);
    expect(rows.map((r) => (r.payload as { text: { body: string } }).text.body)).toEqual(texts);
    expect((await threadOf(s, customer.waId))?.contact_name).toBe('{"Nadia", \\ NULL}');
  });

  it('a known customer keeps their contact and thread, and a new profile name replaces the old one', async () => {
    const customer = { waId: '212611122233', name: 'Hamza' };
    await post(s, P.inboundMessage(N, customer, 'wamid.PN1', at(1), P.text('salam')));
    await s.runtime.waitForInboxDrained();
    const first = await threadOf(s, customer.waId);
    await post(s, P.inboundMessage(N, customer, 'wamid.PN2', at(2), P.text('wach kayn?')));
    await s.runtime.waitForInboxDrained();
    expect((await threadOf(s, customer.waId))?.id).toBe(first!.id);
    await post(s, P.inboundMessage(N, { ...customer, name: 'Hamza B.' }, 'wamid.PN3', at(3), P.text('merci')));
    await s.runtime.waitForInboxDrained();
    const renamed = await threadOf(s, customer.waId);
    expect(renamed).toMatchObject({ id: first!.id, contact_name: 'Hamza B.' });
    expect((await messagesOf(s, first!.id)).map((m: { wamid: string }) => m.wamid)).toEqual(['wamid.PN1', 'wamid.PN2', 'wamid.PN3']);
    const contacts = await s.runtime.db.selectFrom('contacts').select('id').where('wa_id', '=', customer.waId).execute();
    expect(contacts).toHaveLength(1);
  });

  it('parses every message type Meta sends into text and media references', async () => {
    const customer = { waId: '212698765432', name: 'Salma' };
    const types: Array<[string, P.MessageBody, Record<string, unknown>]> = [
      ['image', P.image('MEDIA-IMG', 'had l model'), { type: 'image', text: 'had l model' }],
      ['video', { type: 'video', video: { id: 'MEDIA-VID', mime_type: 'video/mp4', sha256: 'c'.repeat(64) } }, { type: 'video', text: null }],
      ['document', { type: 'document', document: { id: 'MEDIA-DOC', mime_type: 'application/pdf', sha256: 'd'.repeat(64), filename: 'facture.pdf' } }, { type: 'document', text: 'facture.pdf' }],
      ['sticker', { type: 'sticker', sticker: { id: 'MEDIA-STK', mime_type: 'image/webp', sha256: 'e'.repeat(64), animated: false } }, { type: 'sticker' }],
      ['voice', P.voiceNote('MEDIA-VOICE'), { type: 'audio', text: null, media: { id: 'MEDIA-VOICE', mime_type: 'audio/ogg; codecs=opus', state: 'pending', voice: true } }],
      ['location', { type: 'location', location: { latitude: 31.6295, longitude: -7.9811, name: 'Jemaa el-Fna', address: 'Marrakech' } }, { type: 'location', text: 'Jemaa el-Fna, Marrakech' }],
      ['contacts', { type: 'contacts', contacts: [{ name: { formatted_name: 'Karim Bennani', first_name: 'Karim' }, phones: [{ phone: '+212 661-234567', type: 'CELL' }] }] }, { type: 'contacts', text: 'Karim Bennani' }],
      ['button_reply', { type: 'interactive', interactive: { type: 'button_reply', button_reply: { id: 'yes', title: 'Iyeh' } } }, { type: 'interactive', text: 'Iyeh' }],
      ['list_reply', { type: 'interactive', interactive: { type: 'list_reply', list_reply: { id: 'size_m', title: 'Taille M', description: 'Medium' } } }, { type: 'interactive', text: 'Taille M' }],
      ['nfm_reply', { type: 'interactive', interactive: { type: 'nfm_reply', nfm_reply: { response_json: '{"flow_token":"x"}', body: 'Sent', name: 'flow' } } }, { type: 'interactive', text: 'Sent' }],
      ['button', { type: 'button', button: { payload: 'STOP_PROMO', text: 'Stop promotions' } }, { type: 'button', text: 'Stop promotions' }],
      ['reaction', { type: 'reaction', reaction: { message_id: 'wamid.T-image', emoji: '❤️' } }, { type: 'reaction', text: '❤️', context_wamid: 'wamid.T-image' }],
      ['order', { type: 'order', order: { catalog_id: 'CAT1', product_items: [{ product_retailer_id: 'djellaba-m', quantity: 2, item_price: 450, currency: 'MAD' }] } }, { type: 'order', text: 'Order: 2× djellaba-m' }],
      ['system', { type: 'system', system: { body: 'User A changed from 212698765432 to 212698765433', type: 'user_changed_number', new_wa_id: '212698765433' } }, { type: 'system' }],
      ['unsupported', { type: 'unsupported', errors: [{ code: 131060, title: 'Message unavailable', message: 'Message unavailable', error_data: { details: 'Check the app' } }] }, { type: 'unsupported', text: 'Check the WhatsApp Business App on the phone for this message.' }],
      ['ad-referral', { ...P.text('Bonjour, je viens de votre pub'), referral: { source_url: 'https://fb.me/x', source_type: 'ad', source_id: '123', headline: 'Soldes', media_type: 'image', ctwa_clid: 'abc' } }, { type: 'text', text: 'Bonjour, je viens de votre pub' }],
      ['quoted', { ...P.text('Wakha'), context: { from: N.displayPhoneNumber, id: 'wamid.T-image' } }, { type: 'text', context_wamid: 'wamid.T-image' }],
      ['future-type', { type: 'hologram', hologram: { id: 'X' } }, { type: 'hologram', text: null }],
    ];
    for (const [i, [name, body]] of types.entries()) await post(s, P.inboundMessage(N, customer, `wamid.T-${name}`, at(10 + i), body));
    await s.runtime.waitForInboxDrained();
    const thread = await threadOf(s, customer.waId);
    const msgs = await messagesOf(s, thread!.id);
    for (const [name, , expected] of types) expect(msgs.find((m) => m.wamid === `wamid.T-${name}`), name).toMatchObject(expected);
  });

  it('keeps statuses that arrive before their message and never moves a status backwards', async () => {
    const wamid = 'wamid.OUT-1';
    await post(s, P.statusUpdate(N, wamid, 'read', at(30), YOUSSEF.waId));
    await post(s, P.statusUpdate(N, wamid, 'delivered', at(29), YOUSSEF.waId, { pricing: { billable: true, pricing_model: 'PMP', category: 'service' } }));
    // The message itself lands later (the history copy of an API-sent message here).
    await post(s, P.historyChunk(N, { phase: 0, chunkOrder: 9, progress: 5 }, [{ waId: YOUSSEF.waId, messages: [{ wamid, fromCustomer: false, at: at(28), body: P.text('Merci!') }] }]));
    await post(s, P.statusUpdate(N, wamid, 'sent', at(28), YOUSSEF.waId));
    await s.runtime.waitForInboxDrained();
    const row = await s.runtime.db.selectFrom('messages').select(['status', 'status_rank']).where('wamid', '=', wamid).executeTakeFirstOrThrow();
    expect(row.status).toBe('read');
    const failed = 'wamid.OUT-2';
    await post(s, P.statusUpdate(N, failed, 'failed', at(31), YOUSSEF.waId, { errors: [{ code: 131026, title: 'Message undeliverable', message: 'Message undeliverable', error_data: { details: 'Receiver is incapable' } }] }));
    await s.runtime.waitForInboxDrained();
    const statuses = await s.runtime.db.selectFrom('message_statuses').select(['status', 'errors']).where('wamid', '=', failed).execute();
    expect(statuses).toHaveLength(1);
    expect(JSON.stringify(statuses[0]!.errors)).toContain('131026');
  });

  it('stores app echoes as outbound from the phone, without opening the window, and pauses the agent', async () => {
    const customer = { waId: '212677000111', name: 'Hamza' };
    await post(s, P.inboundMessage(N, customer, 'wamid.E0', at(40), P.text('ch7al taman dyal djellaba?')));
    await s.runtime.waitForInboxDrained();
    const before = await s.runtime.db.selectFrom('threads').innerJoin('contacts', 'contacts.id', 'threads.contact_id').select(['threads.id', 'threads.bot_version', 'threads.last_customer_message_at']).where('contacts.wa_id', '=', customer.waId).executeTakeFirstOrThrow();
    await post(s, P.echo(N, customer.waId, 'wamid.E1', at(42), P.text('Iyeh, kayna. 450 dh')));
    await s.runtime.waitForInboxDrained();
    const thread = await threadOf(s, customer.waId);
    expect(thread?.bot.state).toBe('paused');
    expect(thread?.bot.paused_until).not.toBeNull();
    const msgs = await messagesOf(s, thread!.id);
    expect(msgs.at(-1)).toMatchObject({ wamid: 'wamid.E1', direction: 'outbound', origin: 'app', text: 'Iyeh, kayna. 450 dh' });
    const after = await s.runtime.db.selectFrom('threads').select(['bot_version', 'last_customer_message_at']).where('id', '=', before.id).executeTakeFirstOrThrow();
    expect(Number(after.bot_version)).toBe(Number(before.bot_version) + 1);
    expect(after.last_customer_message_at?.getTime()).toBe(before.last_customer_message_at?.getTime());
    const events = await s.runtime.db.selectFrom('bot_events').select(['cause', 'to_state']).where('thread_id', '=', before.id).execute();
    expect(events).toContainEqual({ cause: 'app_echo', to_state: 'paused' });
  });

  it('applies edits and revokes whether they arrive before or after the original', async () => {
    const customer = { waId: '212600222333', name: 'Nadia' };
    await post(s, P.inboundMessage(N, customer, 'wamid.ED-edit', at(51), { type: 'edit', edit: { original_message_id: 'wamid.ED-1', message: { type: 'text', text: { body: 'bghit 3 dyal taille L' } } } }));
    await post(s, P.inboundMessage(N, customer, 'wamid.ED-1', at(50), P.text('bghit 2 dyal taille L')));
    await post(s, P.inboundMessage(N, customer, 'wamid.ED-2', at(52), P.text('oups')));
    await post(s, P.inboundMessage(N, customer, 'wamid.ED-revoke', at(53), { type: 'revoke', revoke: { original_message_id: 'wamid.ED-2' } }));
    await s.runtime.waitForInboxDrained();
    const msgs = await messagesOf(s, (await threadOf(s, customer.waId))!.id);
    expect(msgs.map((m) => m.wamid)).toEqual(['wamid.ED-1', 'wamid.ED-2']);
    expect(msgs[0]).toMatchObject({ text: 'bghit 3 dyal taille L' });
    expect(msgs[0]!.edited_at).not.toBeNull();
    expect(msgs[1]).toMatchObject({ revoked: true, text: null });
  });

  it('downloads the media of history from the last 14 days only (Meta no longer serves older media)', async () => {
    const N3: P.NumberRef = { wabaId: N.wabaId, phoneNumberId: '106540352248888', displayPhoneNumber: '212522888888' };
    const day = 86_400_000;
    await post(s, P.historyMediaFollowUp(N3, '212611111112', 'wamid.HM-RECENT', Date.now() - 2 * day, P.image('MEDIA-HIST-RECENT'), true));
    await post(s, P.historyMediaFollowUp(N3, '212611111112', 'wamid.HM-OLD', Date.now() - 30 * day, P.image('MEDIA-HIST-OLD'), true));
    await post(s, P.historyMediaFollowUp(N3, '212611111113', 'wamid.HM-RECENT-2', Date.now() - 13 * day, P.voiceNote('MEDIA-HIST-RECENT-2'), true));
    await s.runtime.waitForInboxDrained();
    const jobs = await sql<{ wamid: string }>`
      select m.wamid from pgboss.job j join messages m on m.id::text = j.data->>'messageId'
      where j.name = 'coex-media' and m.wamid like 'wamid.HM-%' order by m.wamid`.execute(s.runtime.db);
    expect(jobs.rows.map((r) => r.wamid)).toEqual(['wamid.HM-RECENT', 'wamid.HM-RECENT-2']);
  });

  it('imports history chunks in any order, once, with progress, placeholders and media follow-ups', async () => {
    const N2: P.NumberRef = { wabaId: N.wabaId, phoneNumberId: '106540352249999', displayPhoneNumber: '212522999999' };
    const c = '212611111111';
    const chunk = (order: number, progress: number, base: number) =>
      P.historyChunk(N2, { phase: 1, chunkOrder: order, progress }, [
        {
          waId: c,
          messages: [
            { wamid: `wamid.H${order}-a`, fromCustomer: true, at: at(-10_000 + base), body: P.text(`customer ${order}`) },
            { wamid: `wamid.H${order}-b`, fromCustomer: false, at: at(-10_000 + base + 1), body: P.text(`owner ${order}`) },
          ],
        },
      ]);
    // Media follow-up first, then its placeholder chunk; then chunks out of order with a repeat.
    await post(s, P.historyMediaFollowUp(N2, c, 'wamid.HV', at(-10_000 + 50), P.voiceNote('MEDIA-HIST-VOICE'), true));
    await post(s, P.historyChunk(N2, { phase: 0, chunkOrder: 1, progress: 40 }, [{ waId: c, messages: [{ wamid: 'wamid.HV', fromCustomer: true, at: at(-10_000 + 50), body: P.mediaPlaceholder, status: 'PLAYED' }] }]));
    await post(s, chunk(3, 100, 30));
    await post(s, chunk(2, 60, 20));
    await post(s, chunk(2, 60, 20));
    await post(s, chunk(1, 20, 10));
    await s.runtime.waitForInboxDrained();
    const sync = (await (await s.api(`/api/v1/numbers/${N2.phoneNumberId}/sync`)).json()) as { history: { status: string; progress: number; chunks: number; messages: number } };
    expect(sync.history).toMatchObject({ status: 'complete', progress: 100, chunks: 4, messages: 7 });
    const thread = await (await s.api(`/api/v1/threads?phone_number_id=${N2.phoneNumberId}`)).json() as { threads: Array<{ id: string; bot: { state: string } }> };
    const msgs = await messagesOf(s, thread.threads[0]!.id);
    expect(msgs).toHaveLength(7);
    expect(msgs.every((m) => m.origin === 'history')).toBe(true);
    expect(msgs.filter((m) => m.direction === 'outbound').map((m) => m.text)).toEqual(['owner 1', 'owner 2', 'owner 3']);
    expect(msgs.find((m) => m.wamid === 'wamid.HV')).toMatchObject({ type: 'audio', media: { id: 'MEDIA-HIST-VOICE', voice: true } });
    const threadRow = await s.runtime.db.selectFrom('threads').select(['last_customer_message_at']).where('id', '=', thread.threads[0]!.id).executeTakeFirstOrThrow();
    expect(threadRow.last_customer_message_at).toBeNull();
  });

  it('shows a declined history sync', async () => {
    const N3: P.NumberRef = { wabaId: N.wabaId, phoneNumberId: '106540352247777', displayPhoneNumber: '212522777777' };
    await post(s, P.historyDeclined(N3));
    await s.runtime.waitForInboxDrained();
    const sync = (await (await s.api(`/api/v1/numbers/${N3.phoneNumberId}/sync`)).json()) as { history: { status: string; error: unknown } };
    expect(sync.history.status).toBe('declined');
    expect(JSON.stringify(sync.history.error)).toContain('2593109');
  });

  it('applies contact sync adds and removes by their own timestamps', async () => {
    await post(s, P.contactSync(N, [{ action: 'add', phone: YOUSSEF.waId, fullName: 'Youssef Alami (Gueliz)', firstName: 'Youssef', at: at(60) }]));
    await post(s, P.contactSync(N, [{ action: 'add', phone: YOUSSEF.waId, fullName: 'Old name', at: at(55) }]));
    await post(s, P.contactSync(N, [{ action: 'add', phone: '212600000000', fullName: 'Fournisseur tissu', at: at(60) }]));
    await post(s, P.contactSync(N, [{ action: 'remove', phone: '212600000000', at: at(61) }]));
    await s.runtime.waitForInboxDrained();
    expect((await threadOf(s, YOUSSEF.waId))?.contact_name).toBe('Youssef Alami (Gueliz)');
    const removed = await s.runtime.db.selectFrom('contacts').select(['phone_book_name', 'phone_book_removed_at']).where('wa_id', '=', '212600000000').executeTakeFirstOrThrow();
    expect(removed.phone_book_name).toBe('Fournisseur tissu');
    expect(removed.phone_book_removed_at).not.toBeNull();
    const sync = (await (await s.api(`/api/v1/numbers/${N.phoneNumberId}/sync`)).json()) as { contacts: { status: string; count: number } };
    expect(sync.contacts.status).toBe('receiving');
  });

  it('records account updates and stops the number on disconnection', async () => {
    await s.runtime.db.updateTable('whatsapp_numbers').set({ waba_id: N.wabaId }).where('phone_number_id', '=', N.phoneNumberId).execute();
    await post(s, P.accountUpdate(N, 'PARTNER_REMOVED', { reason: 'PRIMARY_INACTIVITY', initiatedBy: 'SYSTEM' }));
    await s.runtime.waitForInboxDrained();
    const sync = (await (await s.api(`/api/v1/numbers/${N.phoneNumberId}/sync`)).json()) as { connection: { status: string; reason: string } };
    expect(sync.connection).toMatchObject({ status: 'disconnected', reason: 'PRIMARY_INACTIVITY' });
    await post(s, P.accountUpdate(N, 'ACCOUNT_RECONNECTED'));
    await s.runtime.waitForInboxDrained();
    const back = (await (await s.api(`/api/v1/numbers/${N.phoneNumberId}/sync`)).json()) as { connection: { status: string } };
    expect(back.connection.status).toBe('connected');
  });

  it('keeps and reports what it does not understand without blocking the number', async () => {
    await post(s, { object: 'whatsapp_business_account', entry: [{ id: N.wabaId, changes: [{ field: 'calls', value: { metadata: { display_phone_number: N.displayPhoneNumber, phone_number_id: N.phoneNumberId }, calls: [{ id: 'c1' }] } }] }] });
    await post(s, { object: 'whatsapp_business_account', entry: [{ id: N.wabaId, changes: [{ field: 'messages', value: { metadata: { display_phone_number: N.displayPhoneNumber, phone_number_id: N.phoneNumberId }, messages: [{ id: 'wamid.BROKEN' }] } }] }] });
    await post(s, { hello: 'world' });
    await post(s, P.inboundMessage(N, YOUSSEF, 'wamid.AFTER-UNKNOWN', at(70), P.text('mazal?')));
    await s.runtime.waitForInboxDrained();
    const unknown = await s.runtime.db.selectFrom('unknown_events').select(['field', 'detail']).execute();
    expect(unknown.map((u) => u.field)).toEqual(expect.arrayContaining(['calls', 'messages', '(envelope)']));
    expect(await s.runtime.db.selectFrom('messages').select('id').where('wamid', '=', 'wamid.AFTER-UNKNOWN').executeTakeFirst()).toBeDefined();
  });

  it('absorbs duplicate deliveries and converges under an out-of-order storm', async () => {
    const customer = { waId: '212655555555', name: 'Imane' };
    const deliveries: unknown[] = [];
    for (let i = 0; i < 60; i++) {
      const wamid = `wamid.S${i}`;
      deliveries.push(P.inboundMessage(N, customer, wamid, at(100 + i), P.text(`msg ${i}`)));
      deliveries.push(P.statusUpdate(N, `wamid.SO${i}`, 'delivered', at(100 + i), customer.waId));
      deliveries.push(P.statusUpdate(N, `wamid.SO${i}`, 'read', at(101 + i), customer.waId));
      deliveries.push(P.echo(N, customer.waId, `wamid.SO${i}`, at(100 + i), P.text(`reply ${i}`)));
    }
    const storm = [...deliveries, ...deliveries.slice(0, 80)];
    // Deterministic shuffle.
    let seed = 42;
    for (let i = storm.length - 1; i > 0; i--) {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      const j = seed % (i + 1);
      [storm[i], storm[j]] = [storm[j], storm[i]];
    }
    const statuses = await Promise.all(storm.map((d) => s.postWebhook(d).then((r) => r.status)));
    expect(statuses.every((st) => st === 200)).toBe(true);
    await s.runtime.waitForInboxDrained();
    const thread = await threadOf(s, customer.waId);
    const msgs = await messagesOf(s, thread!.id);
    expect(msgs).toHaveLength(120);
    // Not vacuous: the 60 echoes are there, each folded up to read whatever order its statuses came in.
    const echoes = msgs.filter((m) => m.origin === 'app');
    expect(echoes).toHaveLength(60);
    expect(echoes.every((m) => m.status === 'read')).toBe(true);
    const dupInbox = await sql<{ n: string }>`select count(*) as n from webhook_inbox where attempts <> 1`.execute(s.runtime.db);
    expect(Number(dupInbox.rows[0]!.n)).toBe(0);
  });
});
