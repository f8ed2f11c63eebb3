import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Serving the real Zoho widget to headless Chromium, with Zoho's SDK replaced by a test stub. */

export const CHROMIUM = '/usr/bin/chromium';
export const ZOHO_WIDGET_APP = fileURLToPath(new URL('../../zoho-widget/app', import.meta.url));
const MIME: Record<string, string> = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8' };

const PREVIEW_BANNER_STYLE = 'background:#1f2933;color:#fff;font:600 12px/1.6 sans-serif;text-align:center;letter-spacing:.04em;padding:2px 0';

/** Serves zoho-widget/app under /app/, and `sdkStub()` in place of Zoho's SDK. */
export async function startZohoWidgetHost(sdkStub: () => string): Promise<{ server: Server; url: string }> {
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (path === '/zoho-sdk-stub.js') {
      res.writeHead(200, { 'content-type': MIME['.js'] ?? '' });
      res.end(sdkStub());
      return;
    }
    const file = normalize(join(ZOHO_WIDGET_APP, path.replace(/^\/app\//, '/')));
    if (!file.startsWith(ZOHO_WIDGET_APP) || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404);
      res.end();
      return;
    }
    let content = readFileSync(file);
    if (file.endsWith('widget.html')) {
      // The real page loads Zoho's SDK from live.zwidgets.com; here the stub replaces it.
      let html = content.toString('utf8').replace(/https:\/\/live\.zwidgets\.com\/[^"]+/, '/zoho-sdk-stub.js');
      // ?preview=1 (screenshots): say on the picture that this is the widget outside Zoho, on demo data.
      if (new URL(req.url ?? '/', 'http://x').searchParams.has('preview')) {
        html = html.replace('<body>', `<body><div data-preview-banner style="${PREVIEW_BANNER_STYLE}">PREVIEW — the widget outside Zoho CRM, demo data</div>`);
      }
      content = Buffer.from(html);
    }
    res.writeHead(200, { 'content-type': MIME[extname(file)] ?? 'application/octet-stream' });
    res.end(content);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

/** Runs headless Chromium with a throwaway profile; resolves with its stdout (e.g. --dump-dom). */
export function runChromium(args: string[], timeoutMs = 60_000): Promise<string> {
  const profile = mkdtempSync(join(tmpdir(), 'coex-chromium-'));
  return new Promise((resolve, reject) => {
    execFile(
      CHROMIUM,
      ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-dev-shm-usage', `--user-data-dir=${profile}`, '--virtual-time-budget=5000', ...args],
      { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        rmSync(profile, { recursive: true, force: true });
        if (err) reject(new Error(`${err.message}\n${stderr}`));
        else resolve(stdout);
      },
    );
  });
}
