// The Zoho CRM widget (connectors/src/zoho/widget): widget-core.js unit tests in Node, then the
// real widget in headless Chromium (when /usr/bin/chromium exists) against a stubbed ZOHO SDK and
// a stub CoEx extension API on another origin (so CORS preflight is exercised too).
import { createHmac, timingSafeEqual } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as core from '../connectors/src/zoho/widget/app/widget-core.js';
import { CHROMIUM, runChromium, startZohoWidgetHost } from './helpers/zoho-widget-host.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const KEY = 'zoho-install-key-🔑';
const ORG = '20071234567';

function referenceSignature(key: string, method: string, pathWithQuery: string, timestamp: string, nonce: string, body: string): string {
  return createHmac('sha256', Buffer.from(key, 'utf8')).update(`${method}\n${pathWithQuery}\n${timestamp}\n${nonce}\n${body}`, 'utf8').digest('hex');
}

// ── stub CoEx extension API (real HTTP, CORS like the real server must do for a Zoho widget) ──

interface Recorded { method: string; url: string; headers: IncomingMessage['headers']; body: string; signatureOk: boolean }

interface StubState { windowOpen: boolean; botState: string }

function thread(state: StubState) {
  return {
    thread: {
      id: 'th_42',
      contact_name: 'Salma <b>B.</b>',
      wa_id: '212612345678',
      bot: {
        state: state.botState,
        paused_until: state.botState === 'paused' ? '2099-01-01T00:00:00Z' : null,
        history: [{ from: 'active', to: 'paused', cause: 'app_echo', actor: 'phone', at: '2026-01-01T09:05:00Z' }],
      },
      window: { open: state.windowOpen, closes_at: state.windowOpen ? '2099-01-01T00:00:00Z' : '2026-01-01T10:00:00Z' },
    },
    messages: [
      { id: 'm1', direction: 'inbound', origin: 'customer', type: 'text', text: 'Salam, wach kayn had l-modèle?', timestamp: '1767258000', status: 'read', transcript: null, transcript_state: null, media: null },
      { id: 'm2', direction: 'outbound', origin: 'app', type: 'text', text: 'Iyeh kayn, 349 dh', timestamp: '1767258300', status: 'read', transcript: null, transcript_state: null, media: null },
      { id: 'm3', direction: 'inbound', origin: 'customer', type: 'audio', text: null, timestamp: '1767258600', status: 'read', transcript: 'bghit nchri joj', transcript_state: 'done', media: { mime_type: 'audio/ogg; codecs=opus' } },
      { id: 'm4', direction: 'outbound', origin: 'agent', type: 'text', text: 'Safi, ghadi nsiftlek lien dyal commande.', timestamp: '1767258660', status: 'delivered', transcript: null, transcript_state: null, media: null },
      { id: 'm5', direction: 'inbound', origin: 'history', type: 'audio', text: null, timestamp: '1767000000', status: 'read', transcript: null, transcript_state: 'pending', media: null },
    ],
    sync: { history: { status: 'in_progress', progress: { phase: 'import', chunk: 3, percent: 64 } }, contacts: { status: 'completed' } },
  };
}

async function startCoexStub() {
  const requests: Recorded[] = [];
  const state: StubState = { windowOpen: true, botState: 'active' };
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
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const h = (n: string) => String(req.headers[n] ?? '');
      const expected = Buffer.from(referenceSignature(KEY, req.method ?? '', req.url ?? '', h('x-coex-timestamp'), h('x-coex-nonce'), body));
      const got = Buffer.from(h('x-coex-signature'));
      const signatureOk = got.length === expected.length && timingSafeEqual(got, expected) && h('x-coex-account') === ORG;
      requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body, signatureOk });
      const send = (status: number, json: unknown) => {
        res.writeHead(status, { ...cors, 'content-type': 'application/json' });
        res.end(JSON.stringify(json));
      };
      if (!signatureOk) return send(401, { code: 'bad_signature' });
      const url = new URL(req.url ?? '/', 'http://x');
      if (req.method === 'GET' && url.pathname === '/ext/v1/zoho/thread') {
        return send(200, url.searchParams.get('phone') === '+212612345678' ? thread(state) : { thread: null, messages: [], sync: {} });
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
  return { server, requests, state, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
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
      Success: { Content: { coexwa__coex_server_url: { value: 'https://coex.example.com/' }, coex_install_key: { value: ' k ' }, coex_templates: { value: 'null' } } },
    });
    expect(config).toEqual({ serverUrl: 'https://coex.example.com', installKey: 'k', templates: '' });
    expect(core.configFromOrgVariables(undefined)).toEqual({ serverUrl: '', installKey: '', templates: '' });
    expect(core.orgIdFromOrgInfo({ org: [{ zgid: 20071234567, id: '999' }] })).toBe('20071234567');
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

  it('reports a wrong key as unauthorized and a dead server as unreachable', async () => {
    const wrong = core.createCoexClient({ serverUrl: stub.url, account: ORG, installKey: 'wrong' });
    await expect(wrong.getThread('+212612345678')).rejects.toMatchObject({ code: 'unauthorized' });
    const dead = core.createCoexClient({ serverUrl: 'http://127.0.0.1:9', account: ORG, installKey: KEY });
    await expect(dead.getThread('+1')).rejects.toMatchObject({ code: 'unreachable' });
  });
});

describe('Zoho widget core: rendering', () => {
  const NOW = Date.parse('2026-01-01T12:00:00Z');
  it('renders badges, transcripts, bot state with causes, sync progress; escapes everything', () => {
    const html = core.renderWidget({ payload: core.checkThreadPayload(thread({ windowOpen: true, botState: 'paused' })) }, { now: NOW, timeZone: 'UTC' });
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

  it('shows the template picker when the window is closed or a 409 forced it, and the empty/config states', () => {
    const closed = core.renderWidget({ payload: core.checkThreadPayload(thread({ windowOpen: false, botState: 'active' })), templates: 'order_update|fr' }, { now: NOW });
    expect(closed).toContain('data-mode="template"');
    expect(closed).toContain('<option value="order_update|fr">order_update (fr)</option>');
    const forced = core.renderWidget({ payload: core.checkThreadPayload(thread({ windowOpen: true, botState: 'active' })), forceTemplate: true }, { now: NOW });
    expect(forced).toContain('data-mode="template"');
    expect(forced).toContain('No templates configured');
    expect(core.renderWidget({ payload: { thread: null, messages: [], sync: {} } })).toContain('No WhatsApp conversation');
    expect(core.renderWidget({ problem: 'not_configured' })).toContain('data-problem="not_configured"');
    expect(core.renderWidget({ payload: null, error: { code: 'unauthorized', message: '<img onerror=x>' } })).toContain('&lt;img onerror=x&gt;');
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
        getRecord: async ({ Entity, RecordID }) => ({ data: [{ id: RecordID, Full_Name: 'Salma B.', Phone: params.get('phone') || '', Mobile: null, $module: Entity }] }),
        getOrgVariable: async () => ({ Success: { Content: {
          coexwa__coex_server_url: { value: ${JSON.stringify(coexUrl)} },
          coexwa__coex_install_key: { value: params.get('key') || ${JSON.stringify(KEY)} },
          coexwa__coex_templates: { value: 'order_update|fr\\nfollow_up|ar' },
        } } }),
      },
      CONFIG: { getOrgInfo: async () => ({ org: [{ zgid: ${JSON.stringify(ORG)}, company_name: 'Atlas Boutique' }] }) },
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
})();`;
}

const startWidgetHost = (coexUrl: string) => startZohoWidgetHost(() => zohoStub(coexUrl));
const chromium = (args: string[]) => runChromium(args);

const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) {
  console.warn(`SKIP zoho widget browser tests: ${CHROMIUM} is missing (apt-get install -y chromium). CI must install it.`);
}

describe.skipIf(!hasChromium)('Zoho widget in headless Chromium (stub ZOHO SDK, stub CoEx API)', () => {
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
    expect(calls.map((r) => `${r.method} ${r.url}`)).toEqual(['GET /ext/v1/zoho/thread?phone=%2B212612345678']);
    expect(calls[0]?.signatureOk).toBe(true);
    expect(calls[0]?.headers['x-coex-account']).toBe(ORG);
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

  it('offers the configured templates when the window is closed', async () => {
    stub.state.windowOpen = false;
    const dom = await chromium(['--dump-dom', page('phone=%2B212612345678')]);
    expect(dom).toContain('data-mode="template"');
    expect(dom).toContain('order_update (fr)');
    expect(dom).toContain('follow_up (ar)');
    stub.state.windowOpen = true;
  });

  it('says so when the record has no phone, and shows an auth error for a wrong key', async () => {
    const noPhone = await chromium(['--dump-dom', page('')]);
    expect(noPhone).toContain('data-problem="no_phone"');
    const wrongKey = await chromium(['--dump-dom', page('phone=%2B212612345678&key=wrong')]);
    expect(wrongKey).toContain('data-error="unauthorized"');
  });

  it('renders a screenshot', async () => {
    const out = process.env.COEX_WRITE_SCREENSHOTS ? join(ROOT, 'docs/screenshots/zoho-widget.png') : join(mkdtempSync(join(tmpdir(), 'coex-shot-')), 'zoho-widget.png');
    stub.state.botState = 'paused';
    await chromium([`--screenshot=${out}`, '--window-size=520,760', '--hide-scrollbars', page('phone=%2B212612345678')]);
    stub.state.botState = 'active';
    const png = readFileSync(out);
    expect(png.subarray(0, 8).toString('hex')).toBe('89504e470d0a1a0a');
    expect(png.length).toBeGreaterThan(10_000);
  });
});
