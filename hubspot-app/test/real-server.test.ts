import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createElement } from 'react';
import { Button, TableRow, Tag } from '@hubspot/ui-extensions';
import type { CrmContext } from '@hubspot/ui-extensions';
import { createRenderer, RenderedNodeType, type RenderedElementNode } from '@hubspot/ui-extensions/testing';
import type { Generated, Kysely } from 'kysely';
import { CoexCard } from '../src/app/cards/CoexCard.js';
import type { CoexFetch, CoexFetchOptions } from '../src/app/cards/lib/requests.js';

/*
 * The card against the REAL CoEx server (issue 7), not the stub: the runtime on PGlite, threads
 * made by signed Meta webhooks (history import, customer message, phone-app echo), the real
 * extension router verifying HubSpot signature v3 and mapping the portal to its tenant through
 * crm_connections. The fetcher does what hubspot.fetch does for a marketplace app: permitted URLs,
 * JSON body, portalId/userId/userEmail/appId appended, the request signed with the app's client
 * secret over method + full URL + body + timestamp, one retry after a 5xx or connection failure.
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
}
interface TestServer {
  url: string;
  runtime: { db: Kysely<Db>; cipher: { encrypt(plain: string): string }; waitForInboxDrained(): Promise<void> };
  postWebhook(body: unknown): Promise<Response>;
  close(): Promise<void>;
}
interface ServerModules {
  startTestServer(backend: 'pglite', overrides: Record<string, string>): Promise<TestServer>;
  signHubSpotV3(clientSecret: string, method: string, uri: string, rawBody: string, timestamp: string): string;
  P: Payloads;
}
async function loadServerModules(): Promise<ServerModules> {
  const specifiers = ['../../test/helpers/runtime.ts', '../../connectors/src/hubspot/signature.ts', '../../core/src/whatsapp/payloads.ts'];
  // Absolute paths: vite resolves a relative non-literal import against its root, not this file.
  const [runtime, signature, payloads] = (await Promise.all(specifiers.map((spec) => import(fileURLToPath(new URL(spec, import.meta.url)))))) as [Pick<ServerModules, 'startTestServer'>, Pick<ServerModules, 'signHubSpotV3'>, Payloads];
  return { startTestServer: runtime.startTestServer, signHubSpotV3: signature.signHubSpotV3, P: payloads };
}
const { startTestServer, signHubSpotV3, P } = await loadServerModules();

const HUBSPOT_SECRET = 'hubspot-client-secret-real-server-test';
const PORTAL = { portalId: 5566778, userId: 901, userEmail: 'rep@atlas.ma', appId: 4242 };
const NUMBER: NumberRef = { wabaId: '410000000000001', phoneNumberId: '410000000000002', displayPhoneNumber: '212522111222' };
const CUSTOMER = { waId: '212612345678', name: 'Salma Benali' };
const WAIT = { timeoutInMs: 10_000 };
const HISTORY_WAMID = 'wamid.REAL-HISTORY-1';
const CUSTOMER_WAMID = 'wamid.REAL-CUSTOMER-1';
const ECHO_WAMID = 'wamid.REAL-ECHO-1';

interface SignedRequest {
  url: string;
  method: string;
  status: number;
}

/** hubspot.fetch for a marketplace app, as the CoEx server receives it: signed with signature v3. */
function signedHubSpotFetch(opts: { permittedUrls: string[]; clientSecret: string; proxy: typeof PORTAL }): { fetch: CoexFetch; sent: SignedRequest[] } {
  const sent: SignedRequest[] = [];
  const fetchOnce = async (url: string, o: CoexFetchOptions): Promise<Response> => {
    const body = o.body === undefined ? '' : JSON.stringify(o.body);
    // A fresh timestamp (and so a fresh signature) per attempt: the server refuses replayed signatures.
    const timestamp = String(Date.now());
    const headers: Record<string, string> = {
      'x-hubspot-request-timestamp': timestamp,
      'x-hubspot-signature-v3': signHubSpotV3(opts.clientSecret, o.method, url, body, timestamp),
      ...(o.body === undefined ? {} : { 'content-type': 'application/json' }),
    };
    const res = await fetch(url, { method: o.method, headers, ...(o.body === undefined ? {} : { body }), signal: AbortSignal.timeout(Math.min(o.timeout, 15_000)) });
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
    try {
      const first = await fetchOnce(url.toString(), o);
      if (first.status < 500) return first;
      await first.body?.cancel();
    } catch {
      // HubSpot retries connection failures once, like 5xx answers.
    }
    return fetchOnce(url.toString(), o);
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
  const ids: Record<string, string> = {};
  let threadId = '';

  beforeAll(async () => {
    // No PUBLIC_BASE_URL: the runtime's extension router rebuilds the signed URL from the request
    // (http://127.0.0.1:<random port>), exactly the URL the fetcher signed.
    s = await startTestServer('pglite', { COEX_AGENT: 'off', HUBSPOT_CLIENT_SECRET: HUBSPOT_SECRET });
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
  });

  afterAll(async () => {
    await s?.close();
  });

  function renderCard(fetcher: CoexFetch) {
    const renderer = createRenderer('crm.record.tab');
    renderer.mocks.useCrmProperties.willCall((names) => ({
      properties: Object.fromEntries(names.map((n) => [n, n === 'mobilephone' ? '+212 6 12 34 56 78' : null])),
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
});
