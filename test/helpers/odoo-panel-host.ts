/**
 * Serves the Odoo addon's real OWL panel outside Odoo, for headless Chromium: the component class
 * (thread_panel.js, unmodified), its QWeb template, thread_logic.js and its SCSS (as native nested
 * CSS), mounted by the real OWL runtime. Stood in: `_t` (identity), Bootstrap / Font Awesome (a
 * hand-written subset) and the addon's `/coex/thread/...` JSON routes (answered by `rpc`, wrapped
 * in Odoo's JSON-RPC envelope).
 *
 * Used by test/odoo-addon.test.ts, test/ui-real-server-zoho-odoo.test.ts and
 * scripts/screenshot-odoo-panel.mjs (which imports this file directly: Node 24 strips the types,
 * so this module imports Node built-ins only).
 *
 * OWL comes from the test workspace's devDependency @odoo/owl@2.5.1 (OWL_IIFE overrides it, e.g. to
 * try another OWL version).
 */
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ODOO_PANEL_DIR = fileURLToPath(new URL('../../odoo-addon-bridge/coex_whatsapp_bridge/static/src/thread_panel', import.meta.url));

/** The JSON-RPC `result` of one addon route: what controllers/main.py returns. */
export type PanelRouteResult = { ok: true; data: unknown } | { ok: false; error: { code: string; message: string; status?: number | null } };
/** `tail` is '' (thread), '/bot', '/reply', '/templates' or '/campaigns'; `params` the JSON-RPC params. */
export type PanelRpc = (tail: string, params: Record<string, unknown>, route: { model: string; resId: number }) => PanelRouteResult | Promise<PanelRouteResult>;

export interface OdooPanelHostOptions {
  owlIife: string;
  rpc: PanelRpc;
  /** HTML of the page body; must contain <div id="coex-panel"></div>. */
  bodyHtml?: string;
  extraCss?: string;
  /** A classic script appended to the page (e.g. the UI player). */
  extraScript?: string;
  props?: { model: string; resId: number };
}

export function findOwlIife(): string | null {
  // @odoo/owl is a devDependency of the test workspace (the OWL version Odoo 17/18 ship), hoisted to the root.
  const installed = fileURLToPath(new URL('../../node_modules/@odoo/owl/dist/owl.iife.js', import.meta.url));
  for (const candidate of [process.env.OWL_IIFE, installed, '/tmp/owl-lab/package/dist/owl.iife.js']) {
    if (candidate && existsSync(candidate)) return candidate;
  }
  return null;
}

/** SCSS → CSS: Chromium nests natively; only `//` comments and `$variables` need rewriting. */
export function scssToCss(scss: string): string {
  const vars = new Map<string, string>();
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

/**
 * `<t t-set="bot" t-value="bot"/>` next to a `get bot()` makes OWL assign to a getter-only property
 * (TypeError). Dropping those lines keeps the rendering; only served as `?patched=1`, which the
 * screenshot script uses (and labels) when the shipped template fails to mount.
 */
export function withoutSelfTSet(xml: string): string {
  return xml.replace(/^[ \t]*<t t-set="(\w+)" t-value="\1"\s*\/>[ \t]*\r?\n/gm, '');
}

/** Just the Bootstrap 5 / Font Awesome classes the template uses, close to Odoo's backend look. */
export const BOOTSTRAP_SUBSET = `
*,*::before,*::after{box-sizing:border-box}
body{margin:0;font:13px/1.5 system-ui,"Segoe UI",Roboto,"Noto Sans",Arial,sans-serif;color:#374151;background:#f9fafb}
.card{background:#fff;border:1px solid #dee2e6;border-radius:6px}
.card-header{background:#f8f9fa;border-bottom:1px solid #dee2e6;padding:4px 10px}
.card-body{padding:10px}
.d-flex{display:flex}.d-block{display:block}.align-items-center{align-items:center}
.flex-grow-1{flex-grow:1}.flex-wrap{flex-wrap:wrap}.gap-1{gap:4px}.gap-2{gap:8px}
.mb-0{margin-bottom:0}.mb-1{margin-bottom:4px}.mb-2{margin-bottom:8px}.mt-1{margin-top:4px}.mt-2{margin-top:8px}.ms-1{margin-left:4px}
.my-1{margin-top:4px;margin-bottom:4px}.p-2{padding:8px}.pt-2{padding-top:8px}.py-1{padding-top:4px;padding-bottom:4px}
.px-2{padding-left:8px;padding-right:8px}
.small,small{font-size:.875em}.text-center{text-align:center}.fst-italic{font-style:italic}
.text-muted{color:#6c757d!important}.text-danger{color:#dc3545!important}.text-success{color:#25d366!important}.text-warning{color:#997404!important}
.list-unstyled{list-style:none;padding-left:0}
/* Odoo's web client truncates badges (webclient.scss: o-text-overflow), so a squeezed one ends in an ellipsis there too. */
.badge{display:inline-block;padding:.3em .55em;font-size:.75em;font-weight:600;line-height:1;border-radius:4px;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.btn{display:inline-block;border:1px solid transparent;border-radius:4px;background:none;font:inherit;cursor:pointer;color:#374151}
.btn-sm{padding:2px 8px;font-size:12px}
.btn-primary{background:#714b67;border-color:#714b67;color:#fff}
.btn-primary:disabled{opacity:.65}
.btn-secondary{background:#e7e9ed;border-color:#e7e9ed}
.btn-outline-secondary{border-color:#adb5bd}
.btn-link{color:#017e84;text-decoration:none}.btn-link.text-danger{color:#dc3545}
.progress{background:#e9ecef;border-radius:3px;overflow:hidden}
.progress-bar{height:100%;background:#017e84}
.alert{border-radius:4px}.alert-warning{background:#fff3cd;color:#664d03}.alert-danger{background:#f8d7da;color:#842029}.alert-info{background:#cff4fc;color:#055160}
.form-control,.form-select{display:block;width:100%;border:1px solid #ced4da;border-radius:4px;padding:4px 8px;font:inherit;resize:none}
.fa{font-style:normal}.fa-whatsapp::before{content:"\\25CF"}.fa-refresh::before{content:"\\21BB"}
.fa-microphone::before{content:"\\266A"}
`;

function page(opts: OdooPanelHostOptions): string {
  const props = opts.props ?? { model: 'res.partner', resId: 42 };
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>CoEx Odoo panel</title>
<script type="importmap">{"imports":{"@odoo/owl":"/lib/owl.js","@web/core/l10n/translation":"/lib/translation.js"}}</script>
<script src="/lib/owl.iife.js"></script>
<link rel="stylesheet" href="/lib/bootstrap-subset.css"><link rel="stylesheet" href="/addon/thread_panel.css">
<style>${opts.extraCss ?? ''}</style>
</head><body>
${opts.bodyHtml ?? '<div id="coex-panel" style="max-width:640px;margin:8px"></div>'}
<script type="module">
  import { CoexThreadPanel } from "/addon/thread_panel.js";
  try {
    // Mount once the stylesheets apply (as in Odoo): the panel measures its scroll box on mount.
    if (document.readyState !== "complete") await new Promise((r) => addEventListener("load", r, { once: true }));
    const patched = new URLSearchParams(location.search).has("patched");
    const templates = await (await fetch(patched ? "/addon/thread_panel.patched.xml" : "/addon/thread_panel.xml")).text();
    await owl.mount(CoexThreadPanel, document.getElementById("coex-panel"), { props: ${JSON.stringify(props)}, templates, translateFn: (s) => s });
    document.body.dataset.mounted = "1";
  } catch (error) {
    const pre = document.createElement("pre");
    pre.id = "mount-error";
    pre.textContent = String(error.stack || error) + " / cause: " + String(error.cause?.stack || error.cause || "");
    document.body.append(pre);
  }
</script>
<script>${opts.extraScript ?? ''}</script>
</body></html>`;
}

export async function startOdooPanelHost(opts: OdooPanelHostOptions): Promise<{ server: Server; url: string; close: () => Promise<void> }> {
  const panelJs = readFileSync(join(ODOO_PANEL_DIR, 'thread_panel.js'), 'utf8');
  // Re-export exactly what thread_panel.js imports from "@odoo/owl", taken from the IIFE's global.
  const owlImport = /import\s*\{([^}]*)\}\s*from\s*["']@odoo\/owl["']/.exec(panelJs);
  if (!owlImport?.[1]) throw new Error('thread_panel.js no longer imports from "@odoo/owl" as expected');
  const owlShim = owlImport[1].split(',').map((s) => s.trim()).filter(Boolean).map((n) => `export const ${n} = window.owl.${n};`).join('\n');
  const xml = readFileSync(join(ODOO_PANEL_DIR, 'thread_panel.xml'), 'utf8');
  const files = new Map<string, [string, string]>([
    ['/', ['text/html', page(opts)]],
    ['/lib/owl.iife.js', ['text/javascript', readFileSync(opts.owlIife, 'utf8')]],
    ['/lib/owl.js', ['text/javascript', owlShim]],
    ['/lib/translation.js', ['text/javascript', 'export const _t = (source) => source; // Odoo would return the translation\n']],
    ['/lib/bootstrap-subset.css', ['text/css', BOOTSTRAP_SUBSET]],
    ['/addon/thread_panel.js', ['text/javascript', panelJs]],
    // thread_panel.js imports "./thread_logic" without an extension, as Odoo's bundler allows.
    ['/addon/thread_logic', ['text/javascript', readFileSync(join(ODOO_PANEL_DIR, 'thread_logic.js'), 'utf8')]],
    // thread_logic.js re-exports the shared thread view generated from ui-shared/ ("../vendor/coex_thread_view").
    ['/vendor/coex_thread_view', ['text/javascript', readFileSync(join(ODOO_PANEL_DIR, '../vendor/coex_thread_view.js'), 'utf8')]],
    ['/addon/thread_panel.xml', ['text/xml', xml]],
    ['/addon/thread_panel.patched.xml', ['text/xml', withoutSelfTSet(xml)]],
    ['/addon/thread_panel.css', ['text/css', scssToCss(readFileSync(join(ODOO_PANEL_DIR, 'thread_panel.scss'), 'utf8'))]],
  ]);

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const route = /^\/coex\/thread\/([^/]+)\/(\d+)(\/[a-z]+)?$/.exec(path);
    if (req.method === 'POST' && route) {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        void (async () => {
          let envelope: unknown;
          try {
            const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { id?: number; params?: Record<string, unknown> };
            const result = await opts.rpc(route[3] ?? '', body.params ?? {}, { model: decodeURIComponent(route[1] ?? ''), resId: Number(route[2]) });
            envelope = { jsonrpc: '2.0', id: body.id ?? 1, result };
          } catch (error) {
            // What Odoo answers when a controller raises: the panel shows data.message.
            envelope = { jsonrpc: '2.0', id: 1, error: { message: 'Odoo Server Error', data: { message: String((error as Error).message) } } };
          }
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify(envelope));
        })();
      });
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
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  return { server, url, close: () => new Promise<void>((r) => server.close(() => r())) };
}
