#!/usr/bin/env node
// Screenshot of the Odoo addon's chatter panel (docs/screenshots/odoo-chatter.png) without Odoo.
//
// What is real: the addon's component class (thread_panel.js, loaded unmodified as an ES module),
// its QWeb template (thread_panel.xml), its pure logic (thread_logic.js) and its SCSS (turned into
// native nested CSS), all rendered by the real OWL runtime in headless Chromium.
// What is stood in: `_t` (returns the English source string), the `/coex/thread/...` JSON routes
// (a local 127.0.0.1 server answering Odoo's JSON-RPC envelope with demo data), the surrounding
// Odoo form + chatter chrome, and Bootstrap / Font Awesome (a small hand-written subset below).
//
// OWL is not a dependency of this repo: pass the path of owl.iife.js (npm pack @odoo/owl@2.5.1,
// then tar xzf; it is package/dist/owl.iife.js) as the first argument or as OWL_IIFE. Without it,
// or without /usr/bin/chromium, the script prints why and exits 0 so CI never depends on it.
//
//   node scripts/screenshot-odoo-panel.mjs /tmp/owl-lab/package/dist/owl.iife.js [out.png]
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const PANEL_DIR = join(ROOT, 'odoo-addon-bridge/coex_whatsapp_bridge/static/src/thread_panel');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const owlPath = process.argv[2] || process.env.OWL_IIFE || '';
const outPath = resolve(process.argv[3] || join(ROOT, 'docs/screenshots/odoo-chatter.png'));

function skip(reason) {
  console.warn(`SKIP odoo chatter screenshot: ${reason}`);
  process.exit(0);
}
if (!owlPath || !existsSync(owlPath)) {
  skip('owl.iife.js not given or missing (arg 1 or OWL_IIFE; get it with `npm pack @odoo/owl@2.5.1`).');
}
if (!existsSync(CHROMIUM)) skip(`${CHROMIUM} is missing.`);

const panelJs = readFileSync(join(PANEL_DIR, 'thread_panel.js'), 'utf8');

// ── stand-ins for the modules the component imports ──────────────────────────────────────────────
// Re-export exactly what thread_panel.js imports from "@odoo/owl", taken from the IIFE's global.
const owlImport = /import\s*\{([^}]*)\}\s*from\s*["']@odoo\/owl["']/.exec(panelJs);
if (!owlImport?.[1]) throw new Error('thread_panel.js no longer imports from "@odoo/owl" as expected');
const owlNames = owlImport[1].split(',').map((s) => s.trim()).filter(Boolean);
const owlShim = owlNames.map((n) => `export const ${n} = window.owl.${n};`).join('\n');
const translationStub = 'export const _t = (source) => source; // Odoo would return the translation\n';

// SCSS → CSS: Chromium nests natively; only `//` comments and `$variables` need rewriting.
function scssToCss(scss) {
  const vars = new Map();
  return scss
    .split('\n')
    .filter((line) => {
      const m = /^\s*(\$[\w-]+)\s*:\s*([^;]+);/.exec(line);
      if (m?.[1] && m[2]) vars.set(m[1], m[2].trim());
      return !m && !/^\s*\/\//.test(line);
    })
    .join('\n')
    .replace(/\$[\w-]+/g, (name) => vars.get(name) ?? name);
}

// `<t t-set="bot" t-value="bot"/>` next to a `get bot()` makes OWL assign to a getter-only property
// (TypeError, OWL 2.2 and 2.5 alike). Dropping those lines leaves every `bot.x` reading the getter,
// so the rendering is the same. Only used when the verbatim template fails to mount.
function withoutSelfTSet(xml) {
  return xml.replace(/^[ \t]*<t t-set="(\w+)" t-value="\1"\s*\/>[ \t]*\r?\n/gm, '');
}

// Just the Bootstrap 5 / Font Awesome classes the template uses (text glyphs: no emoji font in CI), close to Odoo's backend look.
const bootstrapSubset = `
*,*::before,*::after{box-sizing:border-box}
body{margin:0;font:13px/1.5 system-ui,"Segoe UI",Roboto,"Noto Sans",Arial,sans-serif;color:#374151;background:#f9fafb}
.card{background:#fff;border:1px solid #dee2e6;border-radius:6px}
.card-header{background:#f8f9fa;border-bottom:1px solid #dee2e6;padding:4px 10px}
.card-body{padding:10px}
.d-flex{display:flex}.d-block{display:block}.align-items-center{align-items:center}
.flex-grow-1{flex-grow:1}.gap-1{gap:4px}.gap-2{gap:8px}
.mb-0{margin-bottom:0}.mb-1{margin-bottom:4px}.mb-2{margin-bottom:8px}.mt-2{margin-top:8px}
.my-1{margin-top:4px;margin-bottom:4px}.p-2{padding:8px}.py-1{padding-top:4px;padding-bottom:4px}
.px-2{padding-left:8px;padding-right:8px}
.small,small{font-size:.875em}.text-center{text-align:center}.fst-italic{font-style:italic}
.text-muted{color:#6c757d!important}.text-danger{color:#dc3545!important}.text-success{color:#25d366!important}
.list-unstyled{list-style:none;padding-left:0}
.badge{display:inline-block;padding:.3em .55em;font-size:.75em;font-weight:600;line-height:1;border-radius:4px;white-space:nowrap}
.btn{display:inline-block;border:1px solid transparent;border-radius:4px;background:none;font:inherit;cursor:pointer;color:#374151}
.btn-sm{padding:2px 8px;font-size:12px}
.btn-primary{background:#714b67;border-color:#714b67;color:#fff}
.btn-primary:disabled{opacity:.65}
.btn-secondary{background:#e7e9ed;border-color:#e7e9ed}
.btn-outline-secondary{border-color:#adb5bd}
.btn-link{color:#017e84;text-decoration:none}.btn-link.text-danger{color:#dc3545}
.progress{background:#e9ecef;border-radius:3px;overflow:hidden}
.progress-bar{height:100%;background:#017e84}
.alert{border-radius:4px}.alert-warning{background:#fff3cd;color:#664d03}
.form-control,.form-select{display:block;width:100%;border:1px solid #ced4da;border-radius:4px;padding:4px 8px;font:inherit;resize:none}
.fa{font-style:normal}.fa-whatsapp::before{content:"\\25CF"}.fa-refresh::before{content:"\\21BB"}
.fa-microphone::before{content:"\\266A"}
`;

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

// ── demo data, relative to now so the 24-hour window is open and the pause still running ────────
function demoPayload(now) {
  const at = (minutesAgo) => new Date(now - minutesAgo * 60_000).toISOString();
  const messages = [
    { id: 'h1', direction: 'inbound', origin: 'history', type: 'text', text: 'Salam, wach kayn had l-modèle f taille 40 ?', timestamp: at(26 * 60 + 40), status: 'read' },
    { id: 'h2', direction: 'outbound', origin: 'history', type: 'text', text: 'Oui madame, disponible en noir et en beige.', timestamp: at(26 * 60 + 31), status: 'read' },
    { id: 'm1', direction: 'inbound', origin: 'customer', type: 'text', text: 'Bonjour ! Je voudrais commander les sandales beiges, taille 40.', timestamp: at(72), status: 'read' },
    { id: 'm2', direction: 'outbound', origin: 'api', type: 'text', text: 'Merci Salma ! Commande #1042 préparée : 349 MAD. Livraison à Casablanca ?', timestamp: at(71), status: 'read' },
    { id: 'm3', direction: 'inbound', origin: 'customer', type: 'audio', text: null, timestamp: at(64), status: 'read', transcript: "Ah, l'adresse hiya 12 rue Ibnou Sina, Maârif. W bghit nkhelless cash f la livraison.", transcript_state: 'done' },
    { id: 'm4', direction: 'outbound', origin: 'app', type: 'text', text: "Parfait, je m'en occupe personnellement.", timestamp: at(58), status: 'read' },
    { id: 'm6', direction: 'outbound', origin: 'agent', type: 'text', text: 'Wakha! Demain entre 10h et 13h, le livreur vous appelle avant.', timestamp: at(36), status: 'delivered' },
    { id: 'm7', direction: 'inbound', origin: 'customer', type: 'audio', text: null, timestamp: at(2), status: 'read', transcript: null, transcript_state: 'processing' },
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
          { from: 'active', to: 'paused', cause: 'app_echo', actor: 'phone app', at: at(58) },
          { from: 'paused', to: 'active', cause: 'quiet_period', actor: 'system', at: at(20 * 60) },
          { from: 'active', to: 'paused', cause: 'crm_reply', actor: 'odoo:Youssef', at: at(26 * 60 + 31) },
        ],
      },
      window: { open: true, closes_at: new Date(now - 2 * 60_000 + 24 * 3_600_000).toISOString() },
    },
    messages,
    sync: { history: { status: 'in_progress', progress: 0.64 }, contacts: { status: 'completed' } },
    templates: 'order_update|fr\ndelivery_reminder|ar',
  };
}

const page = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>CoEx Odoo chatter preview</title>
<script type="importmap">{"imports":{"@odoo/owl":"/lib/owl.js","@web/core/l10n/translation":"/lib/translation.js"}}</script>
<script src="/lib/owl.iife.js"></script>
<link rel="stylesheet" href="/lib/bootstrap-subset.css"><link rel="stylesheet" href="/lib/page.css">
<link rel="stylesheet" href="/addon/thread_panel.css">
</head><body>
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
<script type="module">
  import { CoexThreadPanel } from "/addon/thread_panel.js";
  try {
    const patched = new URLSearchParams(location.search).has("patched");
    if (patched) document.getElementById("patch-note").hidden = false;
    const templates = await (await fetch(patched ? "/addon/thread_panel.patched.xml" : "/addon/thread_panel.xml")).text();
    await owl.mount(CoexThreadPanel, document.getElementById("coex-panel"), {
      props: { model: "res.partner", resId: 42 },
      templates,
      translateFn: (s) => s,
    });
    document.body.dataset.mounted = "1";
  } catch (error) {
    // Surfaces in --dump-dom so the script can say why the panel is missing.
    const pre = document.createElement("pre");
    pre.id = "mount-error";
    pre.textContent = String(error.stack || error)  + " / cause: " + String(error.cause?.stack || error.cause || "");
    document.body.append(pre);
  }
</script>
</body></html>`;

// ── the local server: static files plus the addon's JSON routes ─────────────────────────────────
const files = new Map([
  ['/', ['text/html', page]],
  ['/lib/owl.iife.js', ['text/javascript', readFileSync(owlPath, 'utf8')]],
  ['/lib/owl.js', ['text/javascript', owlShim]],
  ['/lib/translation.js', ['text/javascript', translationStub]],
  ['/lib/bootstrap-subset.css', ['text/css', bootstrapSubset]],
  ['/lib/page.css', ['text/css', pageCss]],
  ['/addon/thread_panel.js', ['text/javascript', panelJs]],
  // thread_panel.js imports "./thread_logic" without an extension, as Odoo's bundler allows.
  ['/addon/thread_logic', ['text/javascript', readFileSync(join(PANEL_DIR, 'thread_logic.js'), 'utf8')]],
  ['/addon/thread_panel.xml', ['text/xml', readFileSync(join(PANEL_DIR, 'thread_panel.xml'), 'utf8')]],
  ['/addon/thread_panel.patched.xml', ['text/xml', withoutSelfTSet(readFileSync(join(PANEL_DIR, 'thread_panel.xml'), 'utf8'))]],
  ['/addon/thread_panel.css', ['text/css', scssToCss(readFileSync(join(PANEL_DIR, 'thread_panel.scss'), 'utf8'))]],
]);

const server = createServer((req, res) => {
  const path = new URL(req.url ?? '/', 'http://x').pathname;
  if (req.method === 'POST' && path.startsWith('/coex/thread/')) {
    // Same envelope Odoo gives a type="json" route: { jsonrpc, id, result: { ok, data } }.
    const data = /\/(bot|reply)$/.test(path) ? {} : demoPayload(Date.now());
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ jsonrpc: '2.0', id: 1, result: { ok: true, data } }));
    return;
  }
  const file = files.get(path);
  if (!file) {
    res.writeHead(404).end();
    return;
  }
  res.writeHead(200, { 'content-type': `${file[0]}; charset=utf-8` });
  res.end(file[1]);
});

await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
const address = server.address();
const base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/`;
// A fresh profile per run: a shared one can still be locked by the previous, exiting browser.
function chromium(url, args) {
  const profile = mkdtempSync(join(tmpdir(), 'coex-odoo-shot-'));
  return new Promise((ok, fail) => {
    execFile(
      CHROMIUM,
      [
        '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
        '--no-first-run', '--disable-dev-shm-usage', '--hide-scrollbars', '--window-size=900,1100', '--lang=en-GB',
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
  let url = base;
  const dom = await chromium(url, ['--dump-dom']);
  if (!mounted(dom)) {
    console.warn(`WARNING: the addon's template as shipped does not mount in OWL:\n${mountError(dom)}`);
    url = `${base}?patched=1`;
    const retry = await chromium(url, ['--dump-dom']);
    if (!mounted(retry)) throw new Error(`the OWL panel did not mount even patched:\n${mountError(retry)}`);
    console.warn('Screenshot taken with the in-memory patched template (labelled on the page).');
  }
  await chromium(url, [`--screenshot=${outPath}`]);
  console.log(`wrote ${outPath}`);
} finally {
  server.close();
}
