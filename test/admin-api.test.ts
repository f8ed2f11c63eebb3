import { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends } from './helpers/backends.js';
import { startTestServer, TEST_ADMIN_TOKEN, type TestServer } from './helpers/runtime.js';
import { waitFor } from './helpers/wait.js';
import * as P from '../core/src/whatsapp/payloads.js';
import { registerAdminCommands } from '../core/src/admin/cli.js';
import { NO_SEND_TOKEN_REASON } from '../core/src/config-report.js';

const N: P.NumberRef = { wabaId: '880001', phoneNumberId: '990001', displayPhoneNumber: '+212 522-000001' };
const METRICS_TOKEN = 'metrics-token-0123456789';

describe.each(backends())('admin API: tenants, numbers, paging, readiness [%s]', (backend) => {
  let s: TestServer;
  const base = Date.UTC(2026, 2, 1, 10, 0, 0);

  beforeAll(async () => {
    // No WHATSAPP_ACCESS_TOKEN and no onboarded token: the agent cannot send and must say so.
    s = await startTestServer(backend, { COEX_AGENT: 'on', COEX_METRICS_TOKEN: METRICS_TOKEN });
    // 5 customers on one number; 3 messages in the first thread, two of them in the same millisecond.
    for (let i = 0; i < 5; i++) {
      const res = await s.postWebhook(P.inboundMessage(N, { waId: `21261234560${i}`, name: `C${i}` }, `wamid.ADM-${i}`, base + i * 60_000, P.text(`salam ${i}`)));
      expect(res.status).toBe(200);
    }
    await s.postWebhook(P.inboundMessage(N, { waId: '212612345600', name: 'C0' }, 'wamid.ADM-0b', base + 1, P.text('chhal taman?')));
    await s.postWebhook(P.inboundMessage(N, { waId: '212612345600', name: 'C0' }, 'wamid.ADM-0c', base + 1, P.text('dyal l9ftan')));
    // Meta's quality update names the number by its display digits only.
    await s.postWebhook({ object: 'whatsapp_business_account', entry: [{ id: N.wabaId, time: Math.floor(base / 1000), changes: [{ field: 'phone_number_quality_update', value: { display_phone_number: '212522000001', event: 'FLAGGED', current_limit: 'TIER_1K' } }] }] });
    await s.runtime.waitForInboxDrained(60_000);
  });
  afterAll(async () => {
    await s?.close();
  });

  const json = async <T>(res: Response): Promise<T> => (await res.json()) as T;

  it('creates tenants (admin only), lists them, and refuses bad ids', async () => {
    const created = await s.api('/api/v1/tenants', { method: 'POST', body: JSON.stringify({ id: 'atlas', name: 'Atlas Boutique', quiet_period_seconds: 900 }) });
    expect(created.status).toBe(201);
    expect((await json<{ tenant: { id: string; name: string; quiet_period_seconds: number } }>(created)).tenant).toMatchObject({ id: 'atlas', name: 'Atlas Boutique', quiet_period_seconds: 900 });
    const again = await s.api('/api/v1/tenants', { method: 'POST', body: JSON.stringify({ id: 'atlas', name: 'Atlas' }) });
    expect(again.status).toBe(200);
    expect((await s.api('/api/v1/tenants', { method: 'POST', body: JSON.stringify({ id: 'Not Valid!' }) })).status).toBe(400);
    const list = await json<{ tenants: Array<{ id: string; numbers: number }> }>(await s.api('/api/v1/tenants'));
    expect(list.tenants.map((t) => t.id)).toEqual(['atlas', 'default']);
    expect(list.tenants.find((t) => t.id === 'default')?.numbers).toBe(1);
  });

  it('lists numbers and moves one, with its threads, to another tenant; a tenant token cannot', async () => {
    const numbers = await json<{ numbers: Array<{ phone_number_id: string; tenant_id: string; connection: { status: string }; quality: string | null; inactivity_warning: boolean }> }>(await s.api('/api/v1/numbers'));
    expect(numbers.numbers).toEqual([expect.objectContaining({ phone_number_id: N.phoneNumberId, tenant_id: 'default', connection: expect.objectContaining({ status: 'connected' }), quality: 'FLAGGED', inactivity_warning: false })]);

    const unknownTenant = await s.api(`/api/v1/numbers/${N.phoneNumberId}/tenant`, { method: 'PUT', body: JSON.stringify({ tenant_id: 'nobody' }) });
    expect(unknownTenant.status).toBe(404);
    expect((await s.api('/api/v1/numbers/123/tenant', { method: 'PUT', body: JSON.stringify({ tenant_id: 'atlas' }) })).status).toBe(404);

    const moved = await s.api(`/api/v1/numbers/${N.phoneNumberId}/tenant`, { method: 'PUT', body: JSON.stringify({ tenant_id: 'atlas' }) });
    expect(moved.status).toBe(200);
    expect((await json<{ moved: { from: string; to: string; threads: number } }>(moved)).moved).toEqual({ from: 'default', to: 'atlas', threads: 5 });

    // A token of atlas now sees the threads; the CLI lists the same.
    await s.runtime.db.insertInto('api_tokens').values({ token_hash: (await import('../core/src/crypto.js')).sha256Hex('atlas-token-0123456789'), tenant_id: 'atlas', label: 't' }).execute();
    const atlasThreads = await json<{ threads: unknown[] }>(await s.api('/api/v1/threads', { token: 'atlas-token-0123456789' }));
    expect(atlasThreads.threads).toHaveLength(5);
    expect((await s.api(`/api/v1/numbers/${N.phoneNumberId}/tenant`, { method: 'PUT', token: 'atlas-token-0123456789', body: JSON.stringify({ tenant_id: 'default' }) })).status).toBe(403);

    const out: string[] = [];
    const program = new Command().exitOverride();
    registerAdminCommands(program, (fn) => fn(s.runtime.db), (l) => out.push(l));
    await program.parseAsync(['node', 'coex', 'number', 'list']);
    expect(out.join('\n')).toContain(`${N.phoneNumberId}\t+212 522-000001\tatlas\tconnected`);
    await program.parseAsync(['node', 'coex', 'tenant', 'create', 'riad', '--name', 'Riad']);
    await program.parseAsync(['node', 'coex', 'number', 'move', N.phoneNumberId, 'riad']);
    expect(out.slice(-2)).toEqual(['tenant riad created', `number ${N.phoneNumberId} moved from atlas to riad (5 threads)`]);
    await program.parseAsync(['node', 'coex', 'number', 'move', N.phoneNumberId, 'atlas']);
  });

  it('pages threads with next_cursor, without gaps or repeats', async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page: { threads: Array<{ id: string }>; next_cursor: string | null } = await json(await s.api(`/api/v1/threads?limit=2${cursor ? `&cursor=${cursor}` : ''}`));
      seen.push(...page.threads.map((t) => t.id));
      cursor = page.next_cursor;
      pages++;
    } while (cursor);
    expect(pages).toBe(3);
    expect(new Set(seen).size).toBe(5);
    const all = await json<{ threads: Array<{ id: string }>; next_cursor: string | null }>(await s.api('/api/v1/threads'));
    expect(all.next_cursor).toBeNull();
    expect(all.threads.map((t) => t.id)).toEqual(seen);
    expect((await s.api('/api/v1/threads?cursor=garbage')).status).toBe(400);
  });

  it('pages messages, including two in the same millisecond', async () => {
    const { threads } = await json<{ threads: Array<{ id: string; wa_id: string }> }>(await s.api('/api/v1/threads?wa_id=212612345600'));
    const id = threads[0]!.id;
    const first = await json<{ messages: Array<{ wamid: string }>; next_cursor: string | null }>(await s.api(`/api/v1/threads/${id}/messages?limit=2`));
    expect(first.messages).toHaveLength(2);
    expect(first.next_cursor).not.toBeNull();
    const second = await json<{ messages: Array<{ wamid: string }>; next_cursor: string | null }>(await s.api(`/api/v1/threads/${id}/messages?limit=2&cursor=${first.next_cursor}`));
    expect(second.next_cursor).toBeNull();
    const wamids = [...first.messages, ...second.messages].map((m) => m.wamid);
    expect(wamids).toHaveLength(3);
    expect(new Set(wamids)).toEqual(new Set(['wamid.ADM-0', 'wamid.ADM-0b', 'wamid.ADM-0c']));
    expect(wamids[0]).toBe('wamid.ADM-0');
  });

  it('records why the agent did not answer, on the thread', async () => {
    const { threads } = await json<{ threads: Array<{ id: string }> }>(await s.api('/api/v1/threads?wa_id=212612345603'));
    const turns = await waitFor(async () => {
      const t = await json<{ agent_turns: Array<{ status: string; reason: string | null }> }>(await s.api(`/api/v1/threads/${threads[0]!.id}`));
      return t.agent_turns.length > 0 ? t.agent_turns : null;
    }, 'agent turn recorded');
    expect(turns[0]).toMatchObject({ status: 'skipped', reason: NO_SEND_TOKEN_REASON });
  });

  it('/readyz says what is not configured and which numbers cannot send', async () => {
    const ready = await json<{ ready: boolean; not_configured: Array<{ missing: string; disables: string }>; numbers_without_send_token: string[] }>(await fetch(`${s.url}/readyz`));
    expect(ready.ready).toBe(true);
    expect(ready.not_configured.map((g) => g.missing)).toEqual(expect.arrayContaining(['WHATSAPP_ACCESS_TOKEN', 'META_CONFIG_ID', 'GEMINI_API_KEY']));
    expect(ready.not_configured.find((g) => g.missing === 'WHATSAPP_ACCESS_TOKEN')?.disables).toMatch(/sending/);
    expect(ready.numbers_without_send_token).toEqual([N.phoneNumberId]);
    expect(JSON.stringify(ready)).not.toContain(TEST_ADMIN_TOKEN);
  });

  it('OAuth install URLs say which settings are missing', async () => {
    const res = await fetch(`${s.url}/oauth/hubspot/install?tenant=atlas`);
    expect(res.status).toBe(404);
    const body = (await res.json()) as { error: string; missing: string[] };
    expect(body.error).toMatch(/HubSpot installs by OAuth are not configured/);
    expect(body.missing).toEqual(['HUBSPOT_CLIENT_ID', 'HUBSPOT_CLIENT_SECRET', 'PUBLIC_BASE_URL']);
    expect(((await (await fetch(`${s.url}/oauth/zoho/install?tenant=atlas&org=1`)).json()) as { missing: string[] }).missing).toContain('ZOHO_CLIENT_ID');
  });

  it('each /api/v1 router keeps its own body limit: the API-wide 256 KB JSON parser is mounted after them', async () => {
    // 300 KB of JSON: within the campaigns' 8 MB (refused as invalid, 400), over the API's 256 KB.
    const big = JSON.stringify({ name: 'x'.repeat(300 * 1024) });
    expect((await s.api('/api/v1/campaigns', { method: 'POST', body: big })).status).toBe(400);
    // 100 KB of JSON: under the API's 256 KB, over the tenant routes' own 64 KB.
    const tenant = JSON.stringify({ id: 'big', name: 'y'.repeat(100 * 1024) });
    expect((await s.api('/api/v1/tenants', { method: 'POST', body: tenant })).status).toBe(413);
  });

  it('/metrics needs the metrics token when one is set', async () => {
    expect((await fetch(`${s.url}/metrics`)).status).toBe(401);
    expect((await fetch(`${s.url}/metrics`, { headers: { authorization: 'Bearer wrong-token-0123456789' } })).status).toBe(401);
    const ok = await fetch(`${s.url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
    expect(ok.status).toBe(200);
    expect(await ok.text()).toContain('# HELP');
  });
});

describe.each(backends())('admin API: the inbox counts deliveries [%s]', (backend) => {
  it('GET /api/v1/inbox counts a delivery once, however many numbers or history lanes it is stored under', async () => {
    // No worker: what is acknowledged stays pending.
    const s = await startTestServer(backend, {}, { worker: false });
    try {
      const other: P.NumberRef = { wabaId: '880001', phoneNumberId: '990002', displayPhoneNumber: '+212 522-000002' };
      const twoNumbers = { object: 'whatsapp_business_account', entry: [N, other].map((n) => P.inboundMessage(n, { waId: '212612340001' }, `wamid.INBOX-${n.phoneNumberId}`, Date.UTC(2026, 2, 1), P.text('salam')).entry[0]!) };
      const chunk = P.historyChunk(N, { phase: 0, chunkOrder: 1, progress: 10 }, Array.from({ length: 12 }, (_, t) => ({
        waId: `2126123400${String(t + 10)}`,
        messages: [{ wamid: `wamid.INBOX-H${t}`, fromCustomer: true, at: Date.UTC(2026, 1, 1) + t * 1000, body: P.text('9dim') }],
      })));
      for (const body of [twoNumbers, chunk, P.inboundMessage(N, { waId: '212612340002' }, 'wamid.INBOX-ONE', Date.UTC(2026, 2, 1), P.text('wach kayn?'))]) {
        expect((await s.postWebhook(body)).status).toBe(200);
      }
      // Stored as several rows (2 numbers, the chunk's lanes, 1), three deliveries.
      expect(await s.runtime.processor.pendingCount()).toBeGreaterThan(4);
      const status = (await (await s.api('/api/v1/inbox')).json()) as { pending: number; pending_rows: number; retrying: number };
      expect(status).toMatchObject({ pending: 3, retrying: 0 });
      expect(status.pending_rows).toBe(await s.runtime.processor.pendingCount());
    } finally {
      await s.close();
    }
  });
});
