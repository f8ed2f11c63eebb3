import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createElement } from 'react';
import { Accordion, Alert, Button, Input, Select, TableRow, Tag, Text } from '@hubspot/ui-extensions';
import type { CrmContext, InputProps } from '@hubspot/ui-extensions';
import { createRenderer, RenderedNodeType, type RenderedElementNode } from '@hubspot/ui-extensions/testing';
import type { Generated, Kysely } from 'kysely';
import { CoexCard } from '../src/app/cards/CoexCard.js';
import type { CoexFetch, CoexFetchOptions } from '../src/app/cards/lib/requests.js';

/*
 * The card against the REAL CoEx server (issues 7 and 8), not the stub: the runtime on PostgreSQL,
 * threads made by signed Meta webhooks (history import, customer message, phone-app echo), the real
 * extension router verifying HubSpot signature v3 and mapping the portal to its tenant through
 * crm_connections, the Graph API fake (test/fakes/graph-api.ts) behind the runtime for approved
 * templates (GET /{waba}/message_templates), template sends and the campaign runner's sends.
 * The fetcher does what hubspot.fetch does for a marketplace app: permitted URLs, JSON body,
 * portalId/userId/userEmail/appId appended, the request signed with the app's client secret over
 * method + full URL + body + timestamp, one retry after a 5xx or connection failure that reuses
 * the first attempt's signature (so CoEx refuses it as replayed when the first had arrived).
 * Not modelled: HTTPS (loopback HTTP, which the card accepts for local servers), HubSpot's limits.
 */

/*
 * The server side is loaded with non-literal dynamic imports: hubspot-app's tsconfig (rootDir ".",
 * no project references) cannot type-check core/ and connectors/ sources, so static imports would
 * break `tsc -b`. The local interfaces below state the little this test uses of those modules.
 */
interface NumberRef {
  wabaId: string;
  phoneNumberId: string;
  displayPhoneNumber: string;
}
type MessageBody = Record<string, unknown> & { type: string };
interface Payloads {
  text(body: string): MessageBody;
  inboundMessage(n: NumberRef, customer: { waId: string; name?: string }, wamid: string, at: number, body: MessageBody): unknown;
  echo(n: NumberRef, customerWaId: string, wamid: string, at: number, body: MessageBody): unknown;
  historyChunk(n: NumberRef, meta: { phase: number; chunkOrder: number; progress: number }, threads: { waId: string; messages: { wamid: string; fromCustomer: boolean; at: number; body: MessageBody }[] }[]): unknown;
}
/** The columns this test reads or writes (core/src/db/schema.ts has the full tables). */
interface Db {
  tenants: { id: string; name: string };
  crm_connections: { id: Generated<string>; tenant_id: string; crm: string; account: string; credentials_enc: string; extension_key_hash: string | null; status: Generated<string> };
  messages: { id: string; wamid: string | null; thread_id: string };
  threads: { id: string; bot_state: string };
  bot_events: { thread_id: string; from_state: string; to_state: string; cause: string; actor: string | null; seq: string | null };
  campaign_recipients: { campaign_id: string; wamid: string | null };
}
interface TestServer {
  url: string;
  runtime: { db: Kysely<Db>; cipher: { encrypt(plain: string): string }; waitForInboxDrained(): Promise<void>; campaigns: { runUntilIdle(): Promise<number> } };
  postWebhook(body: unknown): Promise<Response>;
  /** The admin API with the test's bearer token. */
  api(path: string, init?: RequestInit): Promise<Response>;
  close(): Promise<void>;
}
interface FakeTemplate {
  name: string;
  language: string;
  category?: 'MARKETING' | 'UTILITY' | 'AUTHENTICATION';
  bodyParameters?: number;
  body?: string;
}
interface GraphApiFake {
  url: string;
  state: { sent: { to: string; type: string; body: Record<string, unknown> }[] };
  emitStatuses(callbackUrl: string, appSecret: string, wamid: string, statuses: ('sent' | 'delivered' | 'read')[]): Promise<unknown>;
  close(): Promise<void>;
}
interface ServerModules {
  startTestServer(backend: 'postgres', overrides: Record<string, string>): Promise<TestServer>;
  TEST_APP_SECRET: string;
  signHubSpotV3(clientSecret: string, method: string, uri: string, rawBody: string, timestamp: string): string;
  P: Payloads;
  startGraphApiFake(options: { templates: FakeTemplate[] }): Promise<GraphApiFake>;
  DEFAULT_FAKE_TEMPLATES: FakeTemplate[];
  DEFAULT_FAKE_TOKEN: string;
  DEFAULT_FAKE_PHONE_NUMBER: { id: string; wabaId: string; displayPhoneNumber: string };
}
async function loadServerModules(): Promise<ServerModules> {
  const specifiers = ['../../test/helpers/runtime.ts', '../../connectors/src/hubspot/signature.ts', '../../core/src/whatsapp/payloads.ts', '../../test/fakes/graph-api.ts'];
  // Absolute paths: vite resolves a relative non-literal import against its root, not this file.
  const [runtime, signature, payloads, graph] = (await Promise.all(specifiers.map((spec) => import(fileURLToPath(new URL(spec, import.meta.url)))))) as [
    Pick<ServerModules, 'startTestServer' | 'TEST_APP_SECRET'>,
    Pick<ServerModules, 'signHubSpotV3'>,
    Payloads,
    Pick<ServerModules, 'startGraphApiFake' | 'DEFAULT_FAKE_TEMPLATES' | 'DEFAULT_FAKE_TOKEN' | 'DEFAULT_FAKE_PHONE_NUMBER'>,
  ];
  return { ...runtime, signHubSpotV3: signature.signHubSpotV3, P: payloads, ...graph };
}
const { startTestServer, TEST_APP_SECRET, signHubSpotV3, P, startGraphApiFake, DEFAULT_FAKE_TEMPLATES, DEFAULT_FAKE_TOKEN, DEFAULT_FAKE_PHONE_NUMBER } = await loadServerModules();

const HUBSPOT_SECRET = 'hubspot-client-secret-real-server-test';
const PORTAL = { portalId: 5566778, userId: 901, userEmail: 'rep@atlas.ma', appId: 4242 };
/** The Graph API fake's number: its WABA is the one whose templates the fake lists. */
const NUMBER: NumberRef = { wabaId: DEFAULT_FAKE_PHONE_NUMBER.wabaId, phoneNumberId: DEFAULT_FAKE_PHONE_NUMBER.id, displayPhoneNumber: DEFAULT_FAKE_PHONE_NUMBER.displayPhoneNumber };
const CUSTOMER = { waId: '212612345678', name: 'Salma Benali' };
/** Last wrote 30 hours ago: the 24-hour window is closed. */
const LATE_CUSTOMER = { waId: '212699887766', name: 'Youssef Alami' };
const LATE_WAMID = 'wamid.REAL-LATE-1';
/** A marketing template for the campaign, besides the fake's hello_world and order_shipped. */
const CAMPAIGN_TEMPLATE: FakeTemplate = { name: 'spring_sale', language: 'fr', category: 'MARKETING', bodyParameters: 1, body: 'Salam {{1}}, -20% had l-weekend!' };
const WAIT = { timeoutInMs: 10_000 };
const HISTORY_WAMID = 'wamid.REAL-HISTORY-1';
const CUSTOMER_WAMID = 'wamid.REAL-CUSTOMER-1';
const ECHO_WAMID = 'wamid.REAL-ECHO-1';

interface SignedRequest {
  url: string;
  method: string;
  status: number;
  /** The server answered, but the answer never reached the card (a proxy's 502 or a dropped connection). */
  lost?: true;
}

/**
 * hubspot.fetch for a marketplace app, as the CoEx server receives it: signed with signature v3.
 * `loseAnswer` picks requests whose first answer is lost after the server acted; HubSpot then
 * retries with the first attempt's timestamp and signature, as it does after a 5xx.
 */
function signedHubSpotFetch(opts: {
  permittedUrls: string[];
  clientSecret: string;
  proxy: typeof PORTAL;
  loseAnswer?: (url: URL, method: string) => boolean;
}): { fetch: CoexFetch; sent: SignedRequest[] } {
  const sent: SignedRequest[] = [];
  const lostOnce = new Set<string>();
  const fetchOnce = async (url: string, o: CoexFetchOptions, timestamp: string): Promise<Response> => {
    const body = o.body === undefined ? '' : JSON.stringify(o.body);
    const headers: Record<string, string> = {
      'x-hubspot-request-timestamp': timestamp,
      'x-hubspot-signature-v3': signHubSpotV3(opts.clientSecret, o.method, url, body, timestamp),
      ...(o.body === undefined ? {} : { 'content-type': 'application/json' }),
    };
    const res = await fetch(url, { method: o.method, headers, ...(o.body === undefined ? {} : { body }), signal: AbortSignal.timeout(Math.min(o.timeout, 15_000)) });
    const key = `${o.method} ${url} ${body}`;
    if (opts.loseAnswer?.(new URL(url), o.method) && !lostOnce.has(key)) {
      lostOnce.add(key);
      sent.push({ url, method: o.method, status: res.status, lost: true });
      await res.body?.cancel();
      throw new Error('connection reset after the server answered');
    }
    sent.push({ url, method: o.method, status: res.status });
    return res;
  };
  const hubspotFetch: CoexFetch = async (rawUrl, o) => {
    if (!opts.permittedUrls.some((p) => rawUrl.startsWith(p.endsWith('/') ? p : `${p}/`))) throw new Error(`hubspot.fetch: ${rawUrl} is not in permittedUrls.fetch`);
    const url = new URL(rawUrl);
    url.searchParams.set('portalId', String(opts.proxy.portalId));
    url.searchParams.set('userId', String(opts.proxy.userId));
    url.searchParams.set('userEmail', opts.proxy.userEmail);
    url.searchParams.set('appId', String(opts.proxy.appId));
    // One signature per hubspot.fetch call: HubSpot's automatic retry sends the same one again.
    const timestamp = String(Date.now());
    try {
      const first = await fetchOnce(url.toString(), o, timestamp);
      if (first.status < 500) return first;
      await first.body?.cancel();
    } catch {
      // HubSpot retries connection failures once, like 5xx answers.
    }
    return fetchOnce(url.toString(), o, timestamp);
  };
  return { fetch: hubspotFetch, sent };
}

interface TextTree {
  nodeType: RenderedNodeType;
  text: string | null;
  childNodes?: readonly TextTree[];
}
function textOf(node: TextTree): string {
  if (node.nodeType === RenderedNodeType.Text) return node.text ?? '';
  return (node.childNodes ?? []).map(textOf).join(' ');
}
const tagsOf = (row: Pick<RenderedElementNode, 'findAll'>) => row.findAll(Tag).map((t) => t.text);

describe('CoexCard against the real CoEx server', () => {
  let s: TestServer;
  let graph: GraphApiFake;
  const ids: Record<string, string> = {};
  let threadId = '';
  let lateThreadId = '';

  beforeAll(async () => {
    // No PUBLIC_BASE_URL: the runtime's extension router rebuilds the signed URL from the request
    // (http://127.0.0.1:<random port>), exactly the URL the fetcher signed.
    graph = await startGraphApiFake({ templates: [...DEFAULT_FAKE_TEMPLATES, CAMPAIGN_TEMPLATE] });
    s = await startTestServer('postgres', { COEX_AGENT: 'off', HUBSPOT_CLIENT_SECRET: HUBSPOT_SECRET, GRAPH_API_BASE_URL: graph.url, WHATSAPP_ACCESS_TOKEN: DEFAULT_FAKE_TOKEN });
    const db = s.runtime.db;
    await db.insertInto('tenants').values({ id: 'default', name: 'Atlas Boutique' }).onConflict((oc) => oc.doNothing()).execute();

    const now = Date.now();
    const posted = [
      // Imported chat history from before CoEx (two days ago).
      P.historyChunk(NUMBER, { phase: 0, chunkOrder: 1, progress: 100 }, [
        { waId: CUSTOMER.waId, messages: [{ wamid: HISTORY_WAMID, fromCustomer: true, at: now - 2 * 86_400_000, body: P.text('Old chat from before CoEx') }] },
      ]),
      P.inboundMessage(NUMBER, CUSTOMER, CUSTOMER_WAMID, now - 10 * 60_000, P.text('Salam, wach kayn had l-model?')),
      // The owner answers from the WhatsApp Business App: the server pauses the bot (app_echo).
      P.echo(NUMBER, CUSTOMER.waId, ECHO_WAMID, now - 5 * 60_000, P.text('Iyeh, kayn f 3 alwan.')),
      P.inboundMessage(NUMBER, LATE_CUSTOMER, LATE_WAMID, now - 30 * 3_600_000, P.text('Salam, commande dyali wach tsiftat?')),
    ];
    for (const body of posted) expect((await s.postWebhook(body)).status).toBe(200);
    await s.runtime.waitForInboxDrained();

    // The installing portal is connected to the tenant the number landed in.
    await db
      .insertInto('crm_connections')
      .values({ tenant_id: 'default', crm: 'hubspot', account: String(PORTAL.portalId), credentials_enc: s.runtime.cipher.encrypt('{}'), extension_key_hash: null })
      .execute();

    const rows = await db.selectFrom('messages').select(['id', 'wamid', 'thread_id']).where('wamid', 'in', [HISTORY_WAMID, CUSTOMER_WAMID, ECHO_WAMID]).execute();
    for (const r of rows) if (r.wamid) ids[r.wamid] = r.id;
    expect(Object.keys(ids).sort()).toEqual([CUSTOMER_WAMID, ECHO_WAMID, HISTORY_WAMID].sort());
    expect(new Set(rows.map((r) => r.thread_id)).size).toBe(1);
    threadId = rows[0]!.thread_id;
    const late = await db.selectFrom('messages').select(['id', 'thread_id']).where('wamid', '=', LATE_WAMID).executeTakeFirstOrThrow();
    ids[LATE_WAMID] = late.id;
    lateThreadId = late.thread_id;
  });

  afterAll(async () => {
    await s?.close();
    await graph?.close();
  });

  function renderCard(fetcher: CoexFetch, mobilephone = '+212 6 12 34 56 78') {
    const renderer = createRenderer('crm.record.tab');
    renderer.mocks.useCrmProperties.willCall((names) => ({
      properties: Object.fromEntries(names.map((n) => [n, n === 'mobilephone' ? mobilephone : null])),
      error: null,
      isLoading: false,
      isRefetching: false,
      refetch: async () => {},
    }));
    const base = renderer.mocks.context as CrmContext;
    const context: CrmContext = { ...base, crm: { objectId: 42, objectTypeId: '0-1' }, portal: { ...base.portal, id: PORTAL.portalId, timezone: 'UTC' } };
    renderer.render(createElement(CoexCard, { context, fetcher, serverUrl: s.url, addAlert: renderer.mocks.actions.addAlert, refreshWhileBusyMs: 60_000 }));
    return renderer;
  }

  it('shows the real thread with origin badges and bot state, and pauses the bot on the server', async () => {
    const hs = signedHubSpotFetch({ permittedUrls: [s.url], clientSecret: HUBSPOT_SECRET, proxy: PORTAL });
    const renderer = renderCard(hs.fetch);
    const row = (wamid: string) => renderer.findByTestId(TableRow, `coex-message-${ids[wamid]!}`);
    await renderer.waitFor(() => expect(renderer.maybeFindByTestId(TableRow, `coex-message-${ids[ECHO_WAMID]!}`)).not.toBeNull(), WAIT);

    // The server accepted the signature and mapped the portal: one signed GET, answered 200.
    const threadGets = hs.sent.filter((r) => new URL(r.url).pathname === '/ext/v1/hubspot/thread');
    expect(threadGets).toEqual([{ url: expect.stringContaining(`${s.url}/ext/v1/hubspot/thread?`), method: 'GET', status: 200 }]);
    expect(new URL(threadGets[0]!.url).searchParams.get('phone')).toBe('+212612345678'); // the card sends the number it read, in E.164

    expect(tagsOf(row(HISTORY_WAMID))).toEqual(['In', 'History']);
    expect(textOf(row(HISTORY_WAMID))).toContain('Old chat from before CoEx');
    expect(tagsOf(row(CUSTOMER_WAMID))).toEqual(['In', 'Customer']);
    expect(textOf(row(CUSTOMER_WAMID))).toContain('Salam, wach kayn had l-model?');
    expect(tagsOf(row(ECHO_WAMID))).toEqual(['Out', 'Phone app']);
    expect(textOf(row(ECHO_WAMID))).toContain('Iyeh, kayn f 3 alwan.');

    // The phone-app echo paused the bot on the server; the card shows it with its cause.
    expect(renderer.findByTestId(Tag, 'coex-bot-state').text).toMatch(/^Bot paused until /);
    expect(textOf(renderer.getRootNode())).toContain('Owner replied from the phone app');
    expect(renderer.findByTestId(Tag, 'coex-window').text).toMatch(/^Window open/);
    // The history chunk said 100 %: the server's sync state reaches the card.
    expect(renderer.findByTestId(Tag, 'coex-history-sync').text).toBe('Chat history imported');
    expect(renderer.findByTestId(Button, 'coex-bot-primary').text).toBe('Resume bot');

    // Resume, then pause, both through the real router.
    renderer.findByTestId(Button, 'coex-bot-primary').trigger('onClick');
    await renderer.waitFor(() => expect(renderer.findByTestId(Tag, 'coex-bot-state').text).toBe('Bot active'), WAIT);
    expect(renderer.findByTestId(Button, 'coex-bot-primary').text).toBe('Pause bot');
    renderer.findByTestId(Button, 'coex-bot-primary').trigger('onClick');
    await renderer.waitFor(() => expect(renderer.findByTestId(Button, 'coex-bot-primary').text).toBe('Resume bot'), WAIT);
    expect(renderer.findByTestId(Tag, 'coex-bot-state').text).toMatch(/^Bot paused/);

    const posts = hs.sent.filter((r) => r.method === 'POST');
    expect(posts.map((r) => [new URL(r.url).pathname, r.status])).toEqual([
      [`/ext/v1/hubspot/threads/${threadId}/bot`, 200],
      [`/ext/v1/hubspot/threads/${threadId}/bot`, 200],
    ]);
    const thread = await s.runtime.db.selectFrom('threads').select(['bot_state']).where('id', '=', threadId).executeTakeFirstOrThrow();
    expect(thread.bot_state).toBe('paused');
    const events = await s.runtime.db.selectFrom('bot_events').select(['from_state', 'to_state', 'cause', 'actor']).where('thread_id', '=', threadId).orderBy('seq').execute();
    expect(events).toEqual([
      { from_state: 'active', to_state: 'paused', cause: 'app_echo', actor: null },
      { from_state: 'paused', to_state: 'active', cause: 'crm_hubspot_resume', actor: PORTAL.userEmail },
      { from_state: 'active', to_state: 'paused', cause: 'crm_hubspot_pause', actor: PORTAL.userEmail },
    ]);
    expect(textOf(renderer.getRootNode())).toContain('Paused from HubSpot');
  });

  it('is refused by the real server when the request is signed with another secret', async () => {
    const hs = signedHubSpotFetch({ permittedUrls: [s.url], clientSecret: 'not-the-app-secret', proxy: PORTAL });
    const renderer = renderCard(hs.fetch);
    await renderer.waitFor(() => expect(hs.sent.length).toBeGreaterThan(0), WAIT);
    await renderer.waitFor(() => expect(renderer.maybeFindByTestId(Button, 'coex-retry')).not.toBeNull(), WAIT);
    // The thread and the campaign reports, each refused once (a 401 is not retried).
    await renderer.waitFor(() => expect(hs.sent.map((r) => `${new URL(r.url).pathname} ${r.status}`).sort()).toEqual(['/ext/v1/hubspot/campaigns 401', '/ext/v1/hubspot/thread 401']), WAIT);
    expect(renderer.maybeFindByTestId(TableRow, `coex-message-${ids[CUSTOMER_WAMID]!}`)).toBeNull();
  });
  it('offers the templates Meta approved (Graph API fake) when the window is closed, and sends one with its parameter once through a replayed retry', async () => {
    const messagesPath = `/ext/v1/hubspot/threads/${lateThreadId}/messages`;
    const hs = signedHubSpotFetch({ permittedUrls: [s.url], clientSecret: HUBSPOT_SECRET, proxy: PORTAL, loseAnswer: (url, method) => method === 'POST' && url.pathname === messagesPath });
    const renderer = renderCard(hs.fetch, '06 99 88 77 66');
    await renderer.waitFor(() => expect(renderer.maybeFindByTestId(Select, 'coex-template-select')).not.toBeNull(), WAIT);
    expect(renderer.findByTestId(Tag, 'coex-window').text).toBe('Window closed: templates only');
    expect(textOf(renderer.findByTestId(TableRow, `coex-message-${ids[LATE_WAMID]!}`))).toContain('Salam, commande dyali wach tsiftat?');

    // The server read the fake's message_templates for the thread's number; the card lists them.
    const templatesGet = hs.sent.find((r) => new URL(r.url).pathname === '/ext/v1/hubspot/templates')!;
    expect(templatesGet.status).toBe(200);
    expect(new URL(templatesGet.url).searchParams.get('phone_number_id')).toBe(NUMBER.phoneNumberId);
    expect(renderer.findByTestId(Select, 'coex-template-select').props.options).toEqual([
      { label: 'hello_world (en_US)', value: 'hello_world|en_US' },
      { label: 'order_shipped (fr)', value: 'order_shipped|fr' },
      { label: 'spring_sale (fr)', value: 'spring_sale|fr' },
    ]);

    renderer.findByTestId(Select, 'coex-template-select').trigger('onChange', 'order_shipped|fr' as never);
    expect(renderer.findAll(Input).map((i) => i.props.label)).toEqual(['Parameter 1']);
    expect(renderer.findByTestId(Text, 'coex-template-preview').text).toBe('Bonjour, votre commande {{1}} est en route.');
    (renderer.findByTestId(Input, 'coex-template-param-1') as RenderedElementNode<InputProps>).trigger('onInput', 'CMD-1042' as never);
    expect(renderer.findByTestId(Text, 'coex-template-preview').text).toBe('Bonjour, votre commande CMD-1042 est en route.');
    renderer.findByTestId(Button, 'coex-send-template').trigger('onClick');
    await renderer.waitFor(() => expect(renderer.mocks.actions.addAlert.calls).toEqual([[{ type: 'success', message: 'Template "order_shipped" sent on WhatsApp.' }]]), WAIT);

    // First attempt sent (answer lost), HubSpot's retry refused as replayed, the card's own retry
    // with the same client_ref answered with the first message.
    expect(hs.sent.filter((r) => r.method === 'POST').map((r) => [new URL(r.url).pathname, r.status, r.lost ?? false])).toEqual([
      [messagesPath, 201, true],
      [messagesPath, 401, false],
      [messagesPath, 200, false],
    ]);
    const sends = graph.state.sent.filter((m) => m.to === LATE_CUSTOMER.waId && m.type === 'template');
    expect(sends).toHaveLength(1);
    expect(sends[0]!.body.template).toMatchObject({ name: 'order_shipped', language: { code: 'fr' }, components: [{ type: 'body', parameters: [{ type: 'text', text: 'CMD-1042' }] }] });
    const stored = await s.runtime.db.selectFrom('messages').select(['id']).where('thread_id', '=', lateThreadId).execute();
    expect(stored).toHaveLength(2); // the customer's message and one template, not two
    expect(renderer.maybeFind(Alert, { title: 'That did not work' })).toBeNull();
  });

  it('shows the report of a campaign that reached the contact, the contact\'s own outcome, and the opt-out', async () => {
    const created = await s.api('/api/v1/campaigns', {
      method: 'POST',
      body: JSON.stringify({
        phone_number_id: NUMBER.phoneNumberId,
        name: 'Soldes Ramadan',
        template: { name: CAMPAIGN_TEMPLATE.name, language: CAMPAIGN_TEMPLATE.language },
        recipients: [{ phone: `+${CUSTOMER.waId}`, name: 'Salma', variables: ['Salma'] }],
        start: true,
      }),
    });
    expect(created.status).toBe(201);
    const campaignId = ((await created.json()) as { campaign: { id: string } }).campaign.id;
    await s.runtime.campaigns.runUntilIdle();
    const recipient = await s.runtime.db.selectFrom('campaign_recipients').select(['wamid']).where('campaign_id', '=', campaignId).executeTakeFirstOrThrow();
    expect(graph.state.sent.filter((m) => m.to === CUSTOMER.waId && m.type === 'template')).toHaveLength(1);
    // WhatsApp reports it delivered and read; Salma answers with an opt-out keyword.
    await graph.emitStatuses(`${s.url}/webhooks/whatsapp`, TEST_APP_SECRET, recipient.wamid!, ['sent', 'delivered', 'read']);
    // A few seconds later: webhook timestamps are whole seconds, the send's own is not.
    expect((await s.postWebhook(P.inboundMessage(NUMBER, CUSTOMER, 'wamid.REAL-OPT-OUT-1', Date.now() + 5_000, P.text('baraka')))).status).toBe(200);
    await s.runtime.waitForInboxDrained();

    const hs = signedHubSpotFetch({ permittedUrls: [s.url], clientSecret: HUBSPOT_SECRET, proxy: PORTAL });
    const renderer = renderCard(hs.fetch);
    await renderer.waitFor(() => expect(renderer.findAll(Accordion)).toHaveLength(1), WAIT);
    const campaignsGet = hs.sent.find((r) => new URL(r.url).pathname === '/ext/v1/hubspot/campaigns')!;
    expect(campaignsGet.status).toBe(200);
    expect(new URL(campaignsGet.url).searchParams.get('phone')).toBe('+212612345678');

    const entry = renderer.findByTestId(Accordion, `coex-campaign-${campaignId}`);
    expect(entry.props.title).toBe('Soldes Ramadan: read, replied');
    expect(tagsOf(entry)).toEqual(['Read', 'Replied', 'Completed']); // the runner finished its only recipient
    expect(textOf(entry)).toContain('Template spring_sale (fr) · Sent ');
    expect(renderer.findByTestId(Text, `coex-campaign-totals-${campaignId}`).text).toBe('1 sent · 1 delivered · 1 read · 0 failed · 1 replied of 1');
    const optOut = renderer.findByTestId(Alert, 'coex-opt-out');
    expect(optOut.props.title).toBe('Opted out of marketing messages');
    expect(optOut.text).toMatch(/^Wrote "baraka" on /);
  });
});
