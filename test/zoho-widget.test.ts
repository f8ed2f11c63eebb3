// The Zoho CRM widget (zoho-widget/): widget-core.js unit tests in Node, then the
// real widget in headless Chromium (when /usr/bin/chromium exists) against a stubbed ZOHO SDK and
// a stub CoEx extension API on another origin (so CORS preflight is exercised too).
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as core from '@coex/zoho-widget/core';
import { playerResult, stepsQuery, uiPlayerScript, type UiStep } from './helpers/ui-player.js';
import { readSignedRequest, referenceSignature, type SignedRequest } from './helpers/signed-request.js';
import { CHROMIUM, runChromium, startZohoWidgetHost } from './helpers/zoho-widget-host.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const KEY = 'zoho-install-key-🔑';
const ORG = '20071234567';

// ── stub CoEx extension API (real HTTP, CORS like the real server must do for a Zoho widget) ──

type Recorded = SignedRequest;

interface StubState {
  windowOpen: boolean;
  botState: string;
  /** 30 more messages, so the timeline overflows its 420 px box. */
  longThread: boolean;
  /** 'fail-once': the first GET /templates answers 502 templates_unavailable, later ones succeed. */
  templates: 'ok' | 'stale' | 'empty' | 'fail-once';
  optedOut: boolean;
  /** thread.control: who answers the customer (Meta's Conversation Routing); absent on older servers. */
  control?: { holder: string; app_id: string | null; since: string | null };
  /** Data for the screenshot: a real-looking name and a pause that ends in two hours, not test strings. */
  showcase?: boolean;
}

const PNID = '106540352242922';

// GET /templates and GET /campaigns as docs/extension-api.md shapes them.
const TEMPLATES = [
  { name: 'hello_world', language: 'en_US', category: 'UTILITY', body: 'Hello World', parameters: { format: 'positional', names: [] }, sendable: true, unsendable_reason: null },
  { name: 'order_shipped', language: 'fr', category: 'UTILITY', body: 'Bonjour {{1}}, votre commande {{2}} est en route.', parameters: { format: 'positional', names: ['1', '2'] }, sendable: true, unsendable_reason: null },
  { name: 'promo_photo', language: 'fr', category: 'MARKETING', body: 'Nouveautés', parameters: { format: 'positional', names: [] }, sendable: false, unsendable_reason: 'needs an image header' },
  { name: 'welcome_back', language: 'ar', category: 'MARKETING', body: 'Salam {{first_name}} <3', parameters: { format: 'named', names: ['first_name'] }, sendable: true, unsendable_reason: null },
];

function campaigns(state: StubState) {
  return {
    campaigns: [
      {
        id: 'c-2', name: state.showcase ? 'Soldes Ramadan' : 'Soldes <Ramadan>', status: 'running', template: { name: 'promo_ramadan', language: 'ar', category: 'marketing' },
        created_at: '2026-03-01T09:00:00Z', started_at: '2026-03-01T10:00:00Z', completed_at: null,
        counts: { total: 1200, queued: 0, sending: 0, skipped: 14, sent: 1180, delivered: 1100, read: 870, failed: 6, replied: 95 },
        failures: [{ code: '131049', count: 5, example: 'ecosystem' }],
        recipient: { status: 'sent', message_status: 'read', error_code: null, error: null, sent_at: '2026-03-01T10:00:05Z', replied: true },
      },
      {
        id: 'c-1', name: 'Rentrée', status: 'completed', template: { name: 'rentree', language: 'fr', category: 'marketing' },
        created_at: '2025-09-01T09:00:00Z', started_at: '2025-09-01T10:00:00Z', completed_at: '2025-09-01T12:00:00Z',
        counts: { total: 300, queued: 0, sending: 0, skipped: 0, sent: 296, delivered: 290, read: 200, failed: 4, replied: 12 },
        failures: [{ code: '131049', count: 4, example: 'ecosystem' }],
        recipient: { status: 'failed', message_status: 'failed', error_code: 131049, error: 'Meta chose not to deliver this marketing message', sent_at: null, replied: false },
      },
    ],
    opt_out: state.optedOut ? { source: 'keyword', detail: 'baraka', at: '2026-03-02T08:00:00Z' } : null,
  };
}

function thread(state: StubState) {
  return {
    thread: {
      id: 'th_42',
      contact_name: state.showcase ? 'Salma Bennani' : 'Salma <b>B.</b>',
      wa_id: '212612345678',
      phone_number_id: PNID,
      bot: {
        state: state.botState,
        paused_until: state.botState !== 'paused' ? null : state.showcase ? new Date(Date.now() + 2 * 3600_000).toISOString() : '2099-01-01T00:00:00Z',
        history: [{ from: 'active', to: 'paused', cause: 'app_echo', actor: 'phone', at: '2026-01-01T09:05:00Z' }],
      },
      window: { open: state.windowOpen, closes_at: state.windowOpen ? '2099-01-01T00:00:00Z' : '2026-01-01T10:00:00Z' },
      ...(state.control ? { control: state.control } : {}),
    },
    messages: [
      { id: 'm1', direction: 'inbound', origin: 'customer', type: 'text', text: 'Salam, wach kayn had l-modèle?', timestamp: '1767258000', status: 'read', transcript: null, transcript_state: null, media: null },
      { id: 'm2', direction: 'outbound', origin: 'app', type: 'text', text: 'Iyeh kayn, 349 dh', timestamp: '1767258300', status: 'read', transcript: null, transcript_state: null, media: null },
      { id: 'm3', direction: 'inbound', origin: 'customer', type: 'audio', text: null, timestamp: '1767258600', status: 'read', transcript: 'bghit nchri joj', transcript_state: 'done', media: { mime_type: 'audio/ogg; codecs=opus' } },
      { id: 'm4', direction: 'outbound', origin: 'agent', type: 'text', text: 'Safi, ghadi nsiftlek lien dyal commande.', timestamp: '1767258660', status: 'delivered', transcript: null, transcript_state: null, media: null },
      { id: 'm5', direction: 'inbound', origin: 'history', type: 'audio', text: null, timestamp: '1767000000', status: 'read', transcript: null, transcript_state: 'pending', media: null },
      ...(state.longThread
        ? Array.from({ length: 30 }, (_, i) => ({ id: `long-${i}`, direction: i % 2 ? 'outbound' : 'inbound', origin: i % 2 ? 'app' : 'customer', type: 'text', text: `Message ${i + 1} of the long thread`, timestamp: String(1767258700 + i * 60), status: 'read', transcript: null, transcript_state: null, media: null }))
        : []),
    ],
    sync: { history: { status: 'in_progress', progress: { phase: 'import', chunk: 3, percent: 64 } }, contacts: { status: 'completed' } },
  };
}

async function startCoexStub() {
  const requests: Recorded[] = [];
  const state: StubState = { windowOpen: true, botState: 'active', longThread: false, templates: 'ok', optedOut: true, showcase: false };
  let templateCalls = 0;
  const server = createServer((req, res) => {
    const cors = {
      'access-control-allow-origin': '*',
      'access-control-allow-headers': 'content-type, x-coex-account, x-coex-timestamp, x-coex-nonce, x-coex-signature',
      'access-control-allow-methods': 'GET, POST, OPTIONS',
    };
    if (req.method === 'OPTIONS') {
      res.writeHead(204, cors);
      res.end();
      return;
    }
    void readSignedRequest(req, KEY, ORG).then((recorded) => {
      const { body, signatureOk } = recorded;
      requests.push(recorded);
      const send = (status: number, json: unknown) => {
        res.writeHead(status, { ...cors, 'content-type': 'application/json' });
        res.end(JSON.stringify(json));
      };
      if (!signatureOk) return send(401, { code: 'bad_signature' });
      const url = new URL(req.url ?? '/', 'http://x');
      if (req.method === 'GET' && url.pathname === '/ext/v1/zoho/thread') {
        return send(200, url.searchParams.get('phone') === '+212612345678' ? thread(state) : { thread: null, messages: [], sync: {} });
      }
      if (req.method === 'GET' && url.pathname === '/ext/v1/zoho/templates') {
        templateCalls += 1;
        if (url.searchParams.get('phone_number_id') !== PNID) return send(404, { error: 'not a number of this tenant', code: 'not_found' });
        if (state.templates === 'fail-once' && templateCalls % 2 === 1) return send(502, { error: 'Meta refused', code: 'templates_unavailable', meta_code: 190 });
        return send(200, { templates: state.templates === 'empty' ? TEMPLATES.filter((t) => !t.sendable) : TEMPLATES, stale: state.templates === 'stale', fetched_at: '2026-12-04T10:00:00.000Z' });
      }
      if (req.method === 'GET' && url.pathname === '/ext/v1/zoho/campaigns') {
        if (url.searchParams.get('phone') !== '+212612345678') return send(200, { campaigns: [], opt_out: null });
        return send(200, campaigns(state));
      }
      if (req.method === 'POST' && url.pathname === '/ext/v1/zoho/threads/th_42/bot') {
        const action = (JSON.parse(body) as { action: string }).action;
        state.botState = action === 'pause' ? 'paused' : action === 'off' ? 'off' : 'active';
        return send(200, { bot: { state: state.botState } });
      }
      if (req.method === 'POST' && url.pathname === '/ext/v1/zoho/threads/th_42/messages') {
        const parsed = JSON.parse(body) as { text?: string };
        if (parsed.text !== undefined && !state.windowOpen) return send(409, { code: 'window_closed' });
        return send(202, { id: 'out_1' });
      }
      return send(404, { code: 'not_found' });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, requests, state, resetTemplateCalls: () => (templateCalls = 0), url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

// ── widget-core unit tests ───────────────────────────────────────────────────────────────────

describe('Zoho widget core: signing and config', () => {
  it('signs with Web Crypto exactly like the JS/Node reference (fixed vector)', async () => {
    const parts = { method: 'get', pathWithQuery: '/ext/v1/zoho/thread?phone=%2B212612345678', timestamp: '1767225600000', nonce: 'a1b2c3d4e5f60718', body: '' };
    expect(core.canonicalString(parts)).toBe('GET\n/ext/v1/zoho/thread?phone=%2B212612345678\n1767225600000\na1b2c3d4e5f60718\n');
    expect(await core.sign('k-3f9a1c', parts)).toBe(referenceSignature('k-3f9a1c', 'GET', parts.pathWithQuery, parts.timestamp, parts.nonce, ''));
    expect(await core.sign(KEY, { ...parts, method: 'POST', body: '{"text":"سلام"}' })).toBe(referenceSignature(KEY, 'POST', parts.pathWithQuery, parts.timestamp, parts.nonce, '{"text":"سلام"}'));
    expect(core.randomNonce()).toMatch(/^[0-9a-f]{32}$/);
  });

  it('reads org variables (plain or namespaced by the extension), the org id and the record phone', () => {
    const config = core.configFromOrgVariables({
      Success: { Content: { coexwa__coex_server_url: { value: 'https://coex.example.com/' }, coex_install_key: { value: ' k ' } } },
    });
    expect(config).toEqual({ serverUrl: 'https://coex.example.com', installKey: 'k' });
    expect(core.configFromOrgVariables({ Success: { Content: { coex_install_key: { value: 'null' } } } })).toEqual({ serverUrl: '', installKey: '' });
    expect(core.configFromOrgVariables(undefined)).toEqual({ serverUrl: '', installKey: '' });
    expect(Object.values(core.CONFIG_KEYS)).toEqual(['coex_server_url', 'coex_install_key']); // no template setting: the server is the source
    expect(core.orgIdFromOrgInfo({ org: [{ zgid: 20071234567, id: '999' }] })).toBe('20071234567');
    expect(core.localeFromCurrentUser({ users: [{ language: 'fr_FR', locale: 'en_US' }] })).toBe('fr-FR');
    expect(core.localeFromCurrentUser({ users: [{ language: null, locale: 'ar_EG' }] })).toBe('ar-EG');
    expect([core.localeFromCurrentUser({ users: [{ language: '<b>' }] }), core.localeFromCurrentUser(null)]).toEqual(['', '']);
    expect(core.configProblem({ ...config, account: '1' })).toBeNull();
    expect(core.configProblem({ ...config, account: '' })).toBe('not_configured');
    expect(core.configProblem({ serverUrl: 'javascript:alert(1)', installKey: 'k', account: '1' })).toBe('not_configured');
    expect(core.phoneFromRecord({ data: [{ Phone: '0522 00 00 00', Mobile: '+212 6 12 34 56 78' }] })).toBe('+212 6 12 34 56 78');
    expect(core.phoneFromRecord({ data: [{ Phone: '0522000000', Mobile: null }] })).toBe('0522000000');
    expect(core.phoneFromRecord({ data: [] })).toBe('');
  });

  it('maps server statuses to stable error codes and checks the thread payload shape', () => {
    expect(core.errorForStatus(409, { code: 'window_closed' }).code).toBe('window_closed');
    expect(core.errorForStatus(401, null).code).toBe('unauthorized');
    expect(core.errorForStatus(404, null).code).toBe('not_found');
    expect(core.errorForStatus(422, { code: 'invalid_template', message: 'nope' })).toMatchObject({ code: 'invalid_template', message: 'nope' });
    expect(core.errorForStatus(400, { code: 'invalid_phone', error: 'not a phone number' })).toMatchObject({ code: 'invalid_phone', message: 'not a phone number' });
    expect(core.errorForStatus(409, { code: 'no_number', error: 'no number yet' })).toMatchObject({ code: 'no_number', message: 'no number yet' });
    expect(core.errorForStatus(502, { code: 'templates_unavailable', meta_code: 190 }).code).toBe('templates_unavailable');
    expect(core.errorForStatus(502, { code: 'send_failed', error: 'WhatsApp refused (131049)' })).toMatchObject({ code: 'send_failed', message: 'WhatsApp refused (131049)' });
    expect(() => core.checkTemplatesPayload({ templates: [{ language: 'fr' }] })).toThrow('template list');
    expect(() => core.checkCampaignsPayload({ campaigns: null })).toThrow('campaign list');
    expect(core.checkCampaignsPayload({ campaigns: [], opt_out: 'x' })).toEqual({ campaigns: [], opt_out: null });
    expect(core.errorForStatus(503, null).code).toBe('server_error');
    expect(() => core.checkThreadPayload({ thread: { name: 'no id' }, messages: [] })).toThrow('without an id');
    expect(() => core.checkThreadPayload({ thread: null, messages: 'x' })).toThrow('malformed');
    expect(core.checkThreadPayload({ thread: null })).toEqual({ thread: null, messages: [], sync: {} });
  });
});

describe('Zoho widget core: client against the stub CoEx API', () => {
  let stub: Awaited<ReturnType<typeof startCoexStub>>;
  beforeAll(async () => {
    stub = await startCoexStub();
  });
  afterAll(() => new Promise<void>((r) => stub.server.close(() => r())));

  it('sends signed GET and POST requests the server can verify, and maps 409 to window_closed', async () => {
    const client = core.createCoexClient({ serverUrl: `${stub.url}/`, account: ORG, installKey: KEY, now: () => 1767225600000 });
    const payload = await client.getThread('+212612345678');
    expect(payload.thread?.id).toBe('th_42');
    expect(payload.messages).toHaveLength(5);
    expect(await client.setBot('th_42', 'pause')).toEqual({ bot: { state: 'paused' } });
    stub.state.windowOpen = false;
    await expect(client.sendText('th_42', 'hello')).rejects.toMatchObject({ code: 'window_closed', status: 409 });
    expect(await client.sendTemplate('th_42', { name: 'order_update', language: 'fr' })).toEqual({ id: 'out_1' });
    const [get, bot, text, template] = stub.requests.slice(-4);
    expect(get?.url).toBe('/ext/v1/zoho/thread?phone=%2B212612345678');
    expect(get?.headers['x-coex-timestamp']).toBe('1767225600000');
    expect([get, bot, text, template].every((r) => r?.signatureOk)).toBe(true);
    expect(template?.body).toBe('{"template":{"name":"order_update","language":"fr"}}');
    expect(() => client.setBot('th_42', 'explode')).toThrow('Unknown bot action');
    stub.state.windowOpen = true;
    stub.state.botState = 'active';
  });

  it('reads templates for the thread number and campaigns for the phone, and sends body_parameters as the contract says', async () => {
    const client = core.createCoexClient({ serverUrl: stub.url, account: ORG, installKey: KEY });
    const templates = await client.getTemplates(PNID);
    expect(templates.templates.map((t) => t.name)).toEqual(['hello_world', 'order_shipped', 'promo_photo', 'welcome_back']);
    expect(templates.stale).toBe(false);
    await expect(client.getTemplates('999')).rejects.toMatchObject({ code: 'not_found', status: 404 });
    const report = await client.getCampaigns('+212612345678');
    expect(report.campaigns).toHaveLength(2);
    expect(report.opt_out).toMatchObject({ source: 'keyword', detail: 'baraka' });
    const [shipped, welcome] = core.templateChoices(templates).choices.slice(1);
    await client.sendTemplate('th_42', core.templateMessage(shipped, { '1': 'Salma', '2': '#1042' })!);
    await client.sendTemplate('th_42', core.templateMessage(welcome, { first_name: 'Salma' })!);
    expect(() => client.sendTemplate('th_42', { name: '', language: 'fr' })).toThrow('Choose a template');
    const calls = stub.requests.slice(-5);
    expect(calls.map((r) => `${r.method} ${r.url}`)).toEqual([
      `GET /ext/v1/zoho/templates?phone_number_id=${PNID}`,
      'GET /ext/v1/zoho/templates?phone_number_id=999',
      'GET /ext/v1/zoho/campaigns?phone=%2B212612345678&limit=5',
      'POST /ext/v1/zoho/threads/th_42/messages',
      'POST /ext/v1/zoho/threads/th_42/messages',
    ]);
    expect(calls.every((r) => r.signatureOk)).toBe(true);
    expect(calls.slice(-2).map((r) => r.body)).toEqual([
      '{"template":{"name":"order_shipped","language":"fr","body_parameters":["Salma","#1042"]}}',
      '{"template":{"name":"welcome_back","language":"ar","body_parameters":{"first_name":"Salma"}}}',
    ]);
  });

  it('reports a wrong key as unauthorized and a dead server as unreachable', async () => {
    const wrong = core.createCoexClient({ serverUrl: stub.url, account: ORG, installKey: 'wrong' });
    await expect(wrong.getThread('+212612345678')).rejects.toMatchObject({ code: 'unauthorized' });
    const dead = core.createCoexClient({ serverUrl: 'http://127.0.0.1:9', account: ORG, installKey: KEY });
    await expect(dead.getThread('+1')).rejects.toMatchObject({ code: 'unreachable' });
  });
});

describe('Zoho widget core: rendering', () => {
  const NOW = Date.parse('2026-01-01T12:00:00Z');
  const state = (over: Partial<StubState> = {}): StubState => ({ windowOpen: false, botState: 'active', longThread: false, templates: 'ok', optedOut: true, showcase: false, ...over });
  it('renders badges, transcripts, bot state with causes, sync progress; escapes everything', () => {
    const html = core.renderWidget({ payload: core.checkThreadPayload(thread(state({ windowOpen: true, botState: 'paused' }))) }, { now: NOW, timeZone: 'UTC' });
    expect(html).toContain('Salma &lt;b&gt;B.&lt;/b&gt;');
    expect(html).not.toContain('<b>B.</b>');
    for (const badge of ['coex-badge-customer">Customer', 'coex-badge-app">Phone app', 'coex-badge-agent">Agent', 'coex-badge-history">History']) {
      expect(html).toContain(badge);
    }
    expect(html).toContain('bghit nchri joj');
    expect(html).toContain('Transcribing…');
    expect(html).toContain('data-bot-state="paused"');
    expect(html).toContain('data-action="bot-resume"');
    expect(html).toContain('Reply from the phone app');
    expect(html).toContain('data-sync="running"');
    expect(html).toContain('value="64"');
    expect(html).toContain('data-mode="text"');
  });

  it("says when Meta's agent or another app holds the chat, what a reply from here does, and nothing while CoEx holds it", () => {
    const render = (control: StubState['control'], locale?: string) =>
      core.renderWidget({ payload: core.checkThreadPayload(thread(state({ windowOpen: true, ...(control ? { control } : {}) }))) }, { now: NOW, timeZone: 'UTC', ...(locale ? { locale } : {}) });
    const meta = render({ holder: 'meta_agent', app_id: null, since: '2026-01-01T11:30:00Z' });
    expect(meta).toContain('<span class="coex-control" data-control="meta_agent">Meta&#39;s AI agent is handling this chat</span>');
    // Next to the bot state, in the header; the detail under it says what a reply sent from here does.
    expect(meta.indexOf('data-bot-state=')).toBeLessThan(meta.indexOf('data-control='));
    expect(meta.indexOf('data-control=')).toBeLessThan(meta.indexOf('</header>'));
    expect(meta).toContain('A text reply sent from here takes it back once WhatsApp accepts it (a template does not)');
    expect(meta).toContain('<span class="coex-control-since">since Jan 1, 2026, 11:30 AM</span>');
    const other = render({ holder: 'other_app', app_id: '<1234>', since: null });
    expect(other).toContain('data-control="other_app">Another app is handling this chat (&lt;1234&gt;)</span>');
    expect(other).not.toContain('coex-control-since');
    expect(render({ holder: 'meta_agent', app_id: null, since: null }, 'fr-MA')).toContain('L’agent IA de Meta gère cette conversation');
    expect(render({ holder: 'other_app', app_id: null, since: null }, 'ar')).toContain('تطبيق آخر يتولى هذه المحادثة');
    for (const html of [render({ holder: 'coex', app_id: null, since: '2026-01-01T11:30:00Z' }), render(undefined)]) {
      expect(html).toContain('data-bot-state="active"');
      expect(html).not.toContain('coex-control');
    }
  });

  it('shows the sendable templates when the window is closed: one required input per parameter, a filled preview, send enabled once valid', () => {
    const payload = core.checkThreadPayload(thread(state()));
    const templates = { data: { templates: TEMPLATES, stale: false, fetched_at: null } };
    const closed = core.renderWidget({ payload, templates }, { now: NOW });
    expect(closed).toContain('data-mode="template"');
    expect(closed).toContain('<option value="order_shipped|fr">order_shipped (fr)</option>');
    expect(closed).toContain('<option value="welcome_back|ar">welcome_back (ar)</option>');
    expect(closed).not.toContain('promo_photo');
    expect(closed).toContain('data-unsendable="1"');
    expect(closed).toMatch(/data-action="send-template" disabled/);
    const chosen = core.renderWidget({ payload, templates, template: 'order_shipped|fr', templateValues: { '1': 'Salma' } }, { now: NOW });
    expect(chosen.match(/<input type="text" required data-param="(\w+)"/g)).toHaveLength(2);
    expect(chosen).toContain('data-param="1" value="Salma"');
    expect(chosen).toContain('Bonjour <span class="coex-placeholder coex-filled" data-placeholder="1">Salma</span>, votre commande <span class="coex-placeholder coex-missing" data-placeholder="2">{{2}}</span> est en route.');
    expect(chosen).toContain('data-problem-for="2">Required</span>');
    expect(chosen).toMatch(/data-action="send-template" disabled/);
    const ready = core.renderWidget({ payload, templates, template: 'order_shipped|fr', templateValues: { '1': 'Salma', '2': '#1042' } }, { now: NOW });
    expect(ready).toMatch(/data-action="send-template">/);
    const named = core.renderWidget({ payload, templates, template: 'welcome_back|ar', templateValues: { first_name: '<i>x</i>' } }, { now: NOW });
    expect(named).toContain('Salam <span class="coex-placeholder coex-filled" data-placeholder="first_name">&lt;i&gt;x&lt;/i&gt;</span> &lt;3');
  });

  it('says when templates are loading, failed (with a retry), stale or none can be sent', () => {
    const payload = core.checkThreadPayload(thread(state()));
    expect(core.renderWidget({ payload, templates: { loading: true } }, { now: NOW })).toContain('data-templates="loading"');
    const failed = core.renderWidget({ payload, templates: { error: { code: 'templates_unavailable', message: 'WhatsApp did not give the template list' } } }, { now: NOW });
    expect(failed).toContain('data-templates="failed"');
    expect(failed).toContain('data-action="retry-templates"');
    expect(core.renderWidget({ payload, templates: { data: { templates: TEMPLATES, stale: true } } }, { now: NOW })).toContain('data-templates="stale"');
    const empty = core.renderWidget({ payload, templates: { data: { templates: TEMPLATES.filter((t) => !t.sendable), stale: false } } }, { now: NOW });
    expect(empty).toContain('data-templates="empty"');
    expect(empty).toContain('no approved template that can be sent from here');
    const forced = core.renderWidget({ payload: core.checkThreadPayload(thread(state({ windowOpen: true }))), forceTemplate: true, templates: { loading: true } }, { now: NOW });
    expect(forced).toContain('data-mode="template"');
    expect(core.renderWidget({ payload: { thread: null, messages: [], sync: {} } })).toContain('No WhatsApp conversation');
    expect(core.renderWidget({ problem: 'not_configured' })).toContain('data-problem="not_configured"');
    expect(core.renderWidget({ payload: null, error: { code: 'unauthorized', message: '<img onerror=x>' } })).toContain('&lt;img onerror=x&gt;');
  });

  it("renders the Campaigns block: opt-out first, each campaign with this customer's outcome and the totals", () => {
    const html = core.renderCampaigns({ data: campaigns(state()) }, { timeZone: 'UTC' });
    expect(html.indexOf('data-opt-out="keyword"')).toBeLessThan(html.indexOf('data-campaign="c-2"'));
    expect(html).toContain('Opted out of marketing messages</strong> · replied a stop keyword (“baraka”) · Mar 2, 2026');
    expect(html).toContain('Soldes &lt;Ramadan&gt;');
    expect(html).toContain('promo_ramadan (ar) · Mar 1, 2026');
    expect(html).toContain('data-outcome="read" data-replied="1"');
    expect(html).toContain('data-totals="1180/1100/870/6/95/1200">1200 recipients: 1180 sent · 1100 delivered · 870 read · 6 failed · 95 replied');
    expect(html).toContain('data-outcome="failed"');
    expect(html).toContain('#131049 Meta chose not to deliver this marketing message');
    expect(core.renderCampaigns({ data: { campaigns: [], opt_out: null } })).toContain('data-campaigns="empty"');
    expect(core.renderCampaigns({ loading: true })).toContain('data-campaigns="loading"');
    expect(core.renderCampaigns({ error: { code: 'invalid_phone', message: 'not a phone number' } })).toContain('data-campaigns="failed"');
    // Shown with the thread, and also when there is no thread yet.
    expect(core.renderWidget({ payload: { thread: null, messages: [], sync: {} }, campaigns: { data: campaigns(state()) } })).toContain('data-campaign="c-1"');
  });
});

// ── the real widget in headless Chromium ─────────────────────────────────────────────────────


/** Stands in for Zoho's SDK: PageLoad with a Contact, getRecord, getOrgVariable, getOrgInfo. */
function zohoStub(coexUrl: string): string {
  return `
(() => {
  const params = new URLSearchParams(location.search);
  const handlers = {};
  window.ZOHO = {
    embeddedApp: {
      on(event, fn) { handlers[event] = fn; },
      init() { setTimeout(() => handlers.PageLoad({ Entity: 'Contacts', EntityId: ['4876876000000624001'] }), 0); return Promise.resolve(); },
    },
    CRM: {
      API: {
        getRecord: async ({ Entity, RecordID }) => ({ data: [{ id: RecordID, Full_Name: 'Salma Bennani', Phone: params.get('phone') || '', Mobile: null, $module: Entity }] }),
        getOrgVariable: async () => ({ Success: { Content: {
          coexwa__coex_server_url: { value: ${JSON.stringify(coexUrl)} },
          coexwa__coex_install_key: { value: params.get('key') || ${JSON.stringify(KEY)} },
        } } }),
      },
      CONFIG: {
        getOrgInfo: async () => ({ org: [{ zgid: ${JSON.stringify(ORG)}, company_name: 'Atlas Boutique' }] }),
        // ?zlang=ar_EG: the language the user chose in Zoho CRM.
        getCurrentUser: async () => ({ users: [{ id: '4876876000000321001', language: params.get('zlang') || null, locale: params.get('zlang') || null }] }),
      },
    },
  };
  // Plays the user for scripted scenarios once the widget has rendered.
  const click = params.get('click');
  if (click) {
    const timer = setInterval(() => {
      const button = document.querySelector('[data-action="' + click + '"]');
      if (button && !button.disabled) { clearInterval(timer); button.click(); }
    }, 20);
  }
})();
${uiPlayerScript()}`;
}

const startWidgetHost = (coexUrl: string) => startZohoWidgetHost(() => zohoStub(coexUrl));
const chromium = (args: string[]) => runChromium(args);

const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) {
  console.warn(`SKIP zoho widget browser tests: ${CHROMIUM} is missing (apt-get install -y chromium). CI must install it.`);
}

// Under CI=true a missing Chromium fails these tests instead of skipping them (README, Tests).
describe.skipIf(!hasChromium && !process.env.CI)('Zoho widget in headless Chromium (stub ZOHO SDK, stub CoEx API)', () => {
  let stub: Awaited<ReturnType<typeof startCoexStub>>;
  let host: Awaited<ReturnType<typeof startWidgetHost>>;
  beforeAll(async () => {
    stub = await startCoexStub();
    host = await startWidgetHost(stub.url);
  });
  afterAll(async () => {
    await new Promise<void>((r) => stub.server.close(() => r()));
    await new Promise<void>((r) => host.server.close(() => r()));
  });
  const page = (query: string) => `${host.url}/app/widget.html?${query}`;

  it('loads the record phone, calls CoEx cross-origin with a valid signature and renders the thread', async () => {
    stub.state.windowOpen = true;
    stub.state.botState = 'active';
    const before = stub.requests.length;
    const dom = await chromium(['--dump-dom', page('phone=%2B212612345678')]);
    expect(dom).toContain('data-ready="ready"');
    expect(dom).toContain('Salma &lt;b&gt;B.&lt;/b&gt;');
    expect(dom).toContain('coex-badge-customer');
    expect(dom).toContain('coex-badge-app');
    expect(dom).toContain('bghit nchri joj');
    expect(dom).toContain('data-bot-state="active"');
    expect(dom).toContain('data-mode="text"');
    const calls = stub.requests.slice(before);
    // Window open: no template list is fetched; campaigns load beside the thread.
    expect(calls.map((r) => `${r.method} ${r.url}`).sort()).toEqual(['GET /ext/v1/zoho/campaigns?phone=%2B212612345678&limit=5', 'GET /ext/v1/zoho/thread?phone=%2B212612345678']);
    expect(calls.every((r) => r.signatureOk && r.headers['x-coex-account'] === ORG)).toBe(true);
    expect(dom).toContain('data-opt-out="keyword"');
    expect(dom).toContain('data-totals="1180/1100/870/6/95/1200"');
  });

  it("speaks the user's language: Arabic right to left, French, English otherwise", async () => {
    stub.state.windowOpen = true;
    stub.state.botState = 'active';
    const arabic = await chromium(['--lang=ar-MA', '--accept-lang=ar-MA', '--dump-dom', page('phone=%2B212612345678')]);
    expect(arabic).toMatch(/<html[^>]* dir="rtl"/);
    expect(arabic).toContain('>الزبون<');
    expect(arabic).toContain('>إرسال<');
    const french = await chromium(['--lang=fr-MA', '--accept-lang=fr-MA', '--dump-dom', page('phone=%2B212612345678')]);
    expect(french).toMatch(/<html[^>]* dir="ltr"/);
    expect(french).toContain('>Client<');
    expect(french).toContain('>Envoyer<');
    // Zoho CRM's own language setting wins over the browser's.
    const zohoArabic = await chromium(['--dump-dom', page('phone=%2B212612345678&zlang=ar_EG')]);
    expect(zohoArabic).toMatch(/<html[^>]* lang="ar-EG" dir="rtl"/);
    expect(zohoArabic).toContain('>الزبون<');
  });

  it("shows who holds the chat when it is not CoEx, from the thread's control", async () => {
    stub.state.windowOpen = true;
    stub.state.control = { holder: 'meta_agent', app_id: null, since: '2026-01-01T09:00:00Z' };
    const dom = await chromium(['--lang=fr-MA', '--accept-lang=fr-MA', '--dump-dom', page('phone=%2B212612345678')]);
    delete stub.state.control;
    expect(dom).toContain('data-control="meta_agent">L’agent IA de Meta gère cette conversation<');
    expect(dom).toContain('Une réponse texte envoyée d’ici la reprend');
    expect(await chromium(['--dump-dom', page('phone=%2B212612345678')])).not.toContain('data-control=');
  });

  it('with the holder badge, the header wraps at a side panel\'s width instead of squeezing the name and badges onto several lines each', async () => {
    stub.state.windowOpen = true;
    stub.state.botState = 'paused';
    stub.state.showcase = true;
    stub.state.control = { holder: 'meta_agent', app_id: null, since: '2026-01-01T09:00:00Z' };
    const steps: UiStep[] = [{ waitFor: '[data-control]' }, ...['.coex-title', '.coex-bot', '.coex-control', '[data-action="bot-resume"]'].map((sel) => ({ record: sel, as: sel }))];
    const lines: Record<string, Record<string, number>> = {};
    try {
      for (const [lang, width] of [['en-GB', 520], ['fr-MA', 520], ['fr-MA', 400]] as const) {
        const dom = await chromium([`--lang=${lang}`, `--accept-lang=${lang}`, `--window-size=${width},900`, '--dump-dom', page(`phone=%2B212612345678&${stepsQuery(steps)}`)]);
        const result = playerResult(dom);
        expect(result.error).toBe('');
        lines[`${lang}@${width}`] = Object.fromEntries(result.records.map((r) => [r.as, r.clientHeight]));
      }
    } finally {
      stub.state.showcase = false;
      stub.state.botState = 'active';
      delete stub.state.control;
    }
    // 13 px text at line-height 1.4 (the badges 11 px): one line is under 24 px, two are over 30.
    for (const [at, heights] of Object.entries(lines)) for (const [sel, h] of Object.entries(heights)) expect(h, `${sel} at ${at}`).toBeLessThan(24);
  });

  it('pauses the bot from the toggle and re-renders the new state', async () => {
    stub.state.botState = 'active';
    const before = stub.requests.length;
    const dom = await chromium(['--dump-dom', page('phone=%2B212612345678&click=bot-pause')]);
    const calls = stub.requests.slice(before);
    expect(calls.map((r) => `${r.method} ${r.url} ${r.body}`)).toContain('POST /ext/v1/zoho/threads/th_42/bot {"action":"pause"}');
    expect(calls.every((r) => r.signatureOk)).toBe(true);
    expect(dom).toContain('data-bot-state="paused"');
    expect(dom).toContain('data-action="bot-resume"');
  });

  const play = async (steps: UiStep[]) => {
    const dom = await chromium(['--dump-dom', page(`phone=%2B212612345678&${stepsQuery(steps)}`)]);
    const result = playerResult(dom);
    expect(result.error).toBe('');
    expect(result.state).toBe('done');
    return { dom, records: result.records };
  };

  it('window closed: lists the sendable templates of the thread number, asks each parameter, previews, sends body_parameters', async () => {
    stub.state.windowOpen = false;
    const before = stub.requests.length;
    const { dom, records } = await play([
      { waitFor: '[data-templates="ready"]' },
      { select: '#coex-template', value: 'order_shipped|fr' },
      { type: '[data-param="1"]', value: 'Salma' },
      { record: '[data-preview]', as: 'half' },
      { type: '[data-param="2"]', value: '#1042' },
      { record: '[data-preview]', as: 'full' },
      { click: '[data-action="send-template"]' },
      { waitFor: '#coex-template option[value="order_shipped|fr"]:not([selected])' },
      { sleep: 200 },
    ]);
    expect(dom).toContain('order_shipped (fr)');
    expect(dom).not.toContain('promo_photo');
    expect(records.find((r) => r.as === 'half')?.text).toBe('Preview: Bonjour Salma, votre commande {{2}} est en route.');
    expect(records.find((r) => r.as === 'full')?.text).toBe('Preview: Bonjour Salma, votre commande #1042 est en route.');
    const calls = stub.requests.slice(before);
    expect(calls.map((r) => `${r.method} ${r.url}`)).toContain(`GET /ext/v1/zoho/templates?phone_number_id=${PNID}`);
    const sent = calls.filter((r) => r.method === 'POST');
    expect(sent.map((r) => r.body)).toEqual(['{"template":{"name":"order_shipped","language":"fr","body_parameters":["Salma","#1042"]}}']);
    expect(sent[0]?.signatureOk).toBe(true);
    // Fetched once: the reload after sending reuses the list of the same number.
    expect(calls.filter((r) => r.url.startsWith('/ext/v1/zoho/templates'))).toHaveLength(1);
    stub.state.windowOpen = true;
  });

  it('window closed: a failed template list says why and Retry loads it; a stale list is flagged', async () => {
    stub.state.windowOpen = false;
    stub.state.templates = 'fail-once';
    stub.resetTemplateCalls();
    const { records } = await play([
      { waitFor: '[data-templates="failed"]' },
      { record: '[data-templates="failed"]', as: 'failed' },
      { click: '[data-action="retry-templates"]' },
      { waitFor: '[data-templates="ready"]' },
    ]);
    expect(records[0]?.text).toContain('WhatsApp did not give the template list');
    stub.state.templates = 'stale';
    const stale = await chromium(['--dump-dom', page('phone=%2B212612345678')]);
    expect(stale).toContain('data-templates="stale"');
    expect(stale).toContain('data-templates="ready"');
    stub.state.templates = 'empty';
    const empty = await chromium(['--dump-dom', page('phone=%2B212612345678')]);
    expect(empty).toContain('data-templates="empty"');
    stub.state.templates = 'ok';
    stub.state.windowOpen = true;
  });

  it('scrolls to the newest message on load and after sending, and keeps the position of a reader who scrolled up', async () => {
    stub.state.longThread = true;
    stub.state.botState = 'active';
    const { records } = await play([
      { waitFor: '.coex-timeline' },
      { record: '.coex-timeline', as: 'loaded' },
      { scrollTo: '.coex-timeline', top: 0 },
      { click: '[data-action="bot-pause"]' },
      { waitFor: '[data-bot-state="paused"]' },
      { record: '.coex-timeline', as: 'refreshed' },
      { type: '#coex-reply', value: 'Salam, wakha' },
      { click: '[data-action="send-text"]' },
      { waitFor: '[data-action="send-text"]:not([disabled])' },
      { sleep: 100 },
      { record: '.coex-timeline', as: 'sent' },
    ]);
    stub.state.longThread = false;
    stub.state.botState = 'active';
    const at = (as: string) => records.find((r) => r.as === as)!;
    expect(at('loaded').scrollHeight).toBeGreaterThan(at('loaded').clientHeight + 200); // it really overflows
    expect(at('loaded').scrollTop).toBe(at('loaded').scrollHeight - at('loaded').clientHeight);
    expect(at('refreshed').scrollTop).toBe(0);
    expect(at('sent').scrollTop).toBe(at('sent').scrollHeight - at('sent').clientHeight);
  });

  it('says so when the record has no phone, and shows an auth error for a wrong key', async () => {
    const noPhone = await chromium(['--dump-dom', page('')]);
    expect(noPhone).toContain('data-problem="no_phone"');
    const wrongKey = await chromium(['--dump-dom', page('phone=%2B212612345678&key=wrong')]);
    expect(wrongKey).toContain('data-error="unauthorized"');
  });

  it('renders a screenshot', async () => {
    const out = process.env.COEX_WRITE_SCREENSHOTS ? join(ROOT, 'docs/screenshots/zoho-widget.png') : join(mkdtempSync(join(tmpdir(), 'coex-shot-')), 'zoho-widget.png');
    // Window closed so the picker shows, with a template chosen and its parameter half filled; Meta's
    // AI agent holds the chat, so the widget says who answers the customer.
    stub.state.botState = 'paused';
    stub.state.windowOpen = false;
    stub.state.showcase = true;
    stub.state.control = { holder: 'meta_agent', app_id: null, since: '2026-01-01T09:30:00Z' };
    const steps = stepsQuery([{ waitFor: '[data-templates="ready"]' }, { select: '#coex-template', value: 'order_shipped|fr' }, { type: '[data-param="1"]', value: 'Salma' }]);
    // preview=1: the host labels the picture as a preview (stub SDK and stub CoEx, not Zoho's page).
    await chromium([`--screenshot=${out}`, '--window-size=520,1000', '--hide-scrollbars', page(`phone=%2B212612345678&preview=1&${steps}`)]);
    const dom = await chromium(['--dump-dom', page(`phone=%2B212612345678&preview=1&${steps}`)]);
    stub.state.showcase = false;
    delete stub.state.control;
    expect(dom).toContain('data-preview-banner');
    expect(dom).toMatch(/data-control="meta_agent">Meta(&#39;|')s AI agent is handling this chat</);
    expect(dom).toContain('Salma Bennani');
    expect(dom).not.toContain('2099');
    expect(dom).not.toContain('&lt;');
    stub.state.botState = 'active';
    stub.state.windowOpen = true;
    expect(dom).not.toMatch(/&lt;b&gt;|&lt;Ramadan&gt;/);
    const png = readFileSync(out);
    expect(png.subarray(0, 8).toString('hex')).toBe('89504e470d0a1a0a');
    expect(png.length).toBeGreaterThan(10_000);
  });
});
