#!/usr/bin/env node
// PREVIEW screenshot of the Odoo addon's chatter panel (docs/screenshots/odoo-chatter-preview.png) without
// Odoo; the real one (odoo-chatter.png) comes from scripts/screenshot-real-crms.sh.
//
// What is real: the addon's component class (thread_panel.js, loaded unmodified as an ES module),
// its QWeb template (thread_panel.xml), its pure logic (thread_logic.js) and its SCSS (turned into
// native nested CSS), all rendered by the real OWL runtime in headless Chromium.
// What is stood in: `_t` (returns the English source string), the `/coex/thread/...` JSON routes
// (thread, templates, campaigns: a local 127.0.0.1 server answering Odoo's JSON-RPC envelope with
// demo data), the surrounding Odoo form + chatter chrome, and Bootstrap / Font Awesome (a small
// hand-written subset). The host is test/helpers/odoo-panel-host.ts, shared with the OWL tests;
// the user choosing a template and typing its first parameter is played by test/helpers/ui-player.ts.
//
// OWL is the test workspace's devDependency @odoo/owl@2.5.1 (after `npm ci`); another owl.iife.js
// can be given as the first argument or OWL_IIFE. Without OWL or /usr/bin/chromium the script
// prints why and exits 0.
//
//   node scripts/screenshot-odoo-panel.mjs [owl.iife.js] [out.png]
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
// Node 24 runs these TypeScript helpers directly (type stripping; they import Node built-ins only).
import { findOwlIife, startOdooPanelHost } from '../test/helpers/odoo-panel-host.ts';
import { stepsQuery, uiPlayerScript } from '../test/helpers/ui-player.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const owlPath = process.argv[2] || findOwlIife() || '';
const outPath = resolve(process.argv[3] || join(ROOT, 'docs/screenshots/odoo-chatter-preview.png'));

function skip(reason) {
  console.warn(`SKIP odoo chatter screenshot: ${reason}`);
  process.exit(0);
}
if (!owlPath || !existsSync(owlPath)) {
  skip('owl.iife.js not found (run npm ci: the test workspace depends on @odoo/owl; or give its path as arg 1 or OWL_IIFE).');
}
if (!existsSync(CHROMIUM)) skip(`${CHROMIUM} is missing.`);

// The Odoo chrome around the panel: a contact form and the chatter topbar the patch inserts after.
const pageCss = `
.preview-label{background:#212529;color:#fff;padding:6px 14px;font-size:12px;letter-spacing:.02em}
.preview-label b{color:#ffc107}
.o-navbar{background:#714b67;color:#fff;padding:8px 14px;font-weight:600}
.o-breadcrumb{padding:8px 14px;font-size:16px;background:#fff;border-bottom:1px solid #dee2e6}
.o-breadcrumb span{color:#017e84}
.o-sheet{background:#fff;margin:10px 14px;border:1px solid #dee2e6;padding:12px 16px;display:flex;gap:40px}
.o-sheet h1{font-size:20px;margin:0 0 4px}
.o-field{color:#6c757d}.o-field b{color:#374151;font-weight:500;margin-left:8px}
.o-mail-Chatter{margin:0 14px}
.o-mail-Chatter-topbar{display:flex;gap:6px;padding:6px 0}
`;

// ── demo data, relative to now: the customer last wrote 26 hours ago, so the 24-hour window is
// closed and the panel shows the template picker; Meta's AI agent has held the chat since ──────
function demoPayload(now) {
  const at = (minutesAgo) => new Date(now - minutesAgo * 60_000).toISOString();
  const messages = [
    { id: 'h1', direction: 'inbound', origin: 'history', type: 'text', text: 'Salam, wach kayn had l-modèle f taille 40 ?', timestamp: at(50 * 60 + 40), status: 'read' },
    { id: 'h2', direction: 'outbound', origin: 'history', type: 'text', text: 'Oui madame, disponible en noir et en beige.', timestamp: at(50 * 60 + 31), status: 'read' },
    { id: 'm1', direction: 'inbound', origin: 'customer', type: 'text', text: 'Bonjour ! Je voudrais commander les sandales beiges, taille 40.', timestamp: at(26 * 60 + 72), status: 'read' },
    { id: 'm2', direction: 'outbound', origin: 'api', type: 'text', text: 'Merci Salma ! Commande #1042 préparée : 349 MAD. Livraison à Casablanca ?', timestamp: at(26 * 60 + 71), status: 'read' },
    { id: 'm3', direction: 'inbound', origin: 'customer', type: 'audio', text: null, timestamp: at(26 * 60 + 64), status: 'read', transcript: "Ah, l'adresse hiya 12 rue Ibnou Sina, Maârif. W bghit nkhelless cash f la livraison.", transcript_state: 'done' },
    { id: 'm4', direction: 'outbound', origin: 'app', type: 'text', text: "Parfait, je m'en occupe personnellement.", timestamp: at(26 * 60 + 58), status: 'read' },
    { id: 'm6', direction: 'outbound', origin: 'agent', type: 'text', text: 'Wakha! Demain entre 10h et 13h, le livreur vous appelle avant.', timestamp: at(26 * 60 + 36), status: 'delivered' },
    { id: 'm7', direction: 'inbound', origin: 'customer', type: 'audio', text: null, timestamp: at(26 * 60 + 2), status: 'read', transcript: null, transcript_state: 'processing' },
  ];
  return {
    thread: {
      id: 'th_demo',
      contact_name: 'Salma Benali',
      wa_id: '212612345678',
      bot: {
        state: 'paused',
        paused_until: new Date(now + 90 * 60_000).toISOString(),
        history: [
          { from: 'active', to: 'paused', cause: 'app_echo', actor: 'phone app', at: at(26 * 60 + 58) },
          { from: 'paused', to: 'active', cause: 'quiet_period', actor: 'system', at: at(20 * 60) },
          { from: 'active', to: 'paused', cause: 'crm_reply', actor: 'odoo:Youssef', at: at(26 * 60 + 31) },
        ],
      },
      phone_number_id: '106540352242922',
      window: { open: false, closes_at: new Date(now - 2 * 3_600_000).toISOString() },
      // Since her last voice note Meta's AI agent holds the chat (Conversation Routing): the panel says so.
      control: { holder: 'meta_agent', app_id: null, since: at(25 * 60) },
    },
    messages,
    sync: { history: { status: 'in_progress', progress: 0.64 }, contacts: { status: 'completed' } },
  };
}

// GET /templates and GET /campaigns as docs/extension-api.md shapes them.
const demoTemplates = {
  templates: [
    { name: 'delivery_reminder', language: 'ar', category: 'UTILITY', body: 'Salam {{first_name}}, l-livreur ghadi ydouz {{day}}.', parameters: { format: 'named', names: ['first_name', 'day'] }, sendable: true, unsendable_reason: null },
    { name: 'hello_world', language: 'en_US', category: 'UTILITY', body: 'Hello World', parameters: { format: 'positional', names: [] }, sendable: true, unsendable_reason: null },
    { name: 'new_collection', language: 'fr', category: 'MARKETING', body: 'Découvrez la nouvelle collection', parameters: { format: 'positional', names: [] }, sendable: false, unsendable_reason: 'needs an image header' },
    { name: 'order_shipped', language: 'fr', category: 'UTILITY', body: 'Bonjour {{1}}, votre commande {{2}} est en route.', parameters: { format: 'positional', names: ['1', '2'] }, sendable: true, unsendable_reason: null },
  ],
  stale: false,
  fetched_at: new Date().toISOString(),
};

function demoCampaigns(now) {
  const day = (n) => new Date(now - n * 86_400_000).toISOString();
  return {
    campaigns: [
      {
        id: 'c-2', name: 'Soldes Ramadan', status: 'running', template: { name: 'promo_ramadan', language: 'ar', category: 'marketing' },
        created_at: day(3), started_at: day(2), completed_at: null,
        counts: { total: 1200, queued: 0, sending: 0, skipped: 14, sent: 1180, delivered: 1100, read: 870, failed: 6, replied: 95 },
        failures: [{ code: '131049', count: 5, example: 'ecosystem' }],
        recipient: { status: 'sent', message_status: 'read', error_code: null, error: null, sent_at: day(2), replied: true },
      },
      {
        id: 'c-1', name: 'Nouvelle collection été', status: 'completed', template: { name: 'new_collection_text', language: 'fr', category: 'marketing' },
        created_at: day(40), started_at: day(40), completed_at: day(39),
        counts: { total: 640, queued: 0, sending: 0, skipped: 3, sent: 630, delivered: 602, read: 411, failed: 11, replied: 27 },
        failures: [{ code: '131049', count: 9, example: 'ecosystem' }],
        recipient: { status: 'failed', message_status: 'failed', error_code: 131049, error: 'Meta chose not to deliver this marketing message', sent_at: null, replied: false },
      },
    ],
    opt_out: { source: 'keyword', detail: 'baraka', at: day(1) },
  };
}

const bodyHtml = `
<div class="preview-label"><b>Preview:</b> Odoo chatter panel rendered with OWL outside Odoo — real component, template and logic; stub routes, demo data<span id="patch-note" hidden> · <b>template patched in memory</b>: self-referencing t-set lines removed (they crash OWL)</span></div>
<div class="o-navbar">Contacts</div>
<div class="o-breadcrumb"><span>Contacts</span> / Salma Benali</div>
<div class="o-sheet">
  <div><h1>Salma Benali</h1><div class="o-field">Casablanca, Morocco</div></div>
  <div><div class="o-field">Mobile<b>+212 6 12 34 56 78</b></div><div class="o-field">Email<b>salma.benali@example.ma</b></div></div>
</div>
<div class="o-mail-Chatter">
  <div class="o-mail-Chatter-topbar">
    <button class="btn btn-sm btn-primary">Send message</button><button class="btn btn-sm btn-secondary">Log note</button><button class="btn btn-sm btn-secondary">Activities</button>
  </div>
  <div id="coex-panel"></div>
</div>
<script>if (new URLSearchParams(location.search).has("patched")) document.getElementById("patch-note").hidden = false;</script>`;

const host = await startOdooPanelHost({
  owlIife: owlPath,
  bodyHtml,
  extraCss: pageCss,
  extraScript: uiPlayerScript(),
  rpc: (tail) => {
    if (tail === '/templates') return { ok: true, data: demoTemplates };
    if (tail === '/campaigns') return { ok: true, data: demoCampaigns(Date.now()) };
    if (tail === '/bot' || tail === '/reply') return { ok: true, data: {} };
    return { ok: true, data: demoPayload(Date.now()) };
  },
});
// The rep picks order_shipped and has typed the first parameter: the preview shows the second missing.
const steps = stepsQuery([
  { waitFor: '.o-coex-template-select' },
  { select: '.o-coex-template-select', value: 'order_shipped|fr' },
  { type: '[data-param="1"]', value: 'Salma' },
]);

// A fresh profile per run: a shared one can still be locked by the previous, exiting browser.
function chromium(url, args) {
  const profile = mkdtempSync(join(tmpdir(), 'coex-odoo-shot-'));
  return new Promise((ok, fail) => {
    execFile(
      CHROMIUM,
      [
        '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
        '--no-first-run', '--disable-dev-shm-usage', '--hide-scrollbars', '--window-size=900,1400', '--lang=en-GB',
        `--user-data-dir=${profile}`, '--virtual-time-budget=5000', ...(process.env.DEBUG_SHOT ? ['--enable-logging=stderr'] : []), ...args, url,
      ],
      // A fixed zone so times and day groups read as Casablanca's.
      { timeout: 60_000, maxBuffer: 16 * 1024 * 1024, env: { ...process.env, TZ: 'Africa/Casablanca' } },
      (err, stdout, stderr) => {
        rmSync(profile, { recursive: true, force: true });
        if (process.env.DEBUG_SHOT) console.error(stderr);
        if (err) fail(new Error(`${err.message}\n${stderr}`));
        else ok(stdout);
      },
    );
  });
}

const mounted = (dom) => dom.includes('data-mounted="1"') && dom.includes('o-coex-ThreadPanel');
const mountError = (dom) => /<pre id="mount-error">([\s\S]*?)<\/pre>/.exec(dom)?.[1] ?? dom.slice(-3000);

try {
  // The verbatim template first; the patched one only if that fails, and then loudly.
  let url = `${host.url}?${steps}`;
  const dom = await chromium(url, ['--dump-dom']);
  if (!mounted(dom)) {
    console.warn(`WARNING: the addon's template as shipped does not mount in OWL:\n${mountError(dom)}`);
    url = `${host.url}?patched=1&${steps}`;
    const retry = await chromium(url, ['--dump-dom']);
    if (!mounted(retry)) throw new Error(`the OWL panel did not mount even patched:\n${mountError(retry)}`);
    console.warn('Screenshot taken with the in-memory patched template (labelled on the page).');
  }
  await chromium(url, [`--screenshot=${outPath}`]);
  console.log(`wrote ${outPath}`);
} finally {
  await host.close();
}
