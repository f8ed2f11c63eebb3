// The real CRM servers of ../shared/real-crms (WordPress + WooCommerce, Odoo 19), started fresh per
// test file. Their location comes from COEX_REAL_CRMS (set by .ci/run); without it the suites that
// use them skip with `REAL_CRMS_SKIP_REASON`, and .ci/check-results.mjs fails a CI run where they did.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { z } from 'zod';

const run = promisify(execFile);

/** Absolute path of the real-crms folder, or null when COEX_REAL_CRMS is unset or wrong. */
export const REAL_CRMS: string | null = (() => {
  const raw = process.env.COEX_REAL_CRMS;
  if (!raw) return null;
  const dir = resolve(raw);
  return existsSync(join(dir, 'woocommerce', 'start.sh')) && existsSync(join(dir, 'odoo', 'start.sh')) ? dir : null;
})();

export const REAL_CRMS_SKIP_REASON = process.env.COEX_REAL_CRMS
  ? `COEX_REAL_CRMS=${process.env.COEX_REAL_CRMS} holds no woocommerce/start.sh and odoo/start.sh`
  : 'COEX_REAL_CRMS is not set (the real WooCommerce and Odoo servers of ../shared/real-crms; .ci/run sets it)';

export async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const address = probe.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  await new Promise<void>((r) => probe.close(() => r()));
  return port;
}

/** The last line start.sh prints (it logs progress before it). */
function lastJsonLine(stdout: string): unknown {
  const line = stdout.trim().split('\n').pop() ?? '';
  return JSON.parse(line);
}

const wooStack = z.object({
  url: z.string().url(),
  dir: z.string(),
  pid: z.number().int(),
  admin: z.object({ user: z.string(), password: z.string(), id: z.number().int() }),
  consumer_key: z.string().startsWith('ck_'),
  consumer_secret: z.string().startsWith('cs_'),
  hpos: z.boolean(),
  activated: z.record(z.string(), z.union([z.literal(true), z.string()])).or(z.array(z.unknown())),
  versions: z.object({ wordpress: z.string(), woocommerce: z.string(), php: z.string(), db: z.string() }),
  seconds: z.number(),
});
export type WooStack = z.infer<typeof wooStack> & {
  /** Runs PHP with WordPress loaded (wp-load.php) in the site; returns stdout. */
  php(code: string): Promise<string>;
  /** Lines of wp-content/debug.log (PHP notices, warnings, errors). */
  debugLog(): string[];
  stop(): Promise<void>;
};

/** A fresh WordPress + WooCommerce site (HPOS on) with `plugins` installed and activated. */
export async function startWooCommerce(plugins: string[] = []): Promise<WooStack> {
  if (!REAL_CRMS) throw new Error(REAL_CRMS_SKIP_REASON);
  const script = join(REAL_CRMS, 'woocommerce', 'start.sh');
  const dir = mkdtempSync(join(tmpdir(), 'realcrm-woo-'));
  const port = await freePort();
  const args = [dir, String(port), ...plugins.flatMap((p) => ['--plugin', p])];
  const { stdout } = await run(script, args, { encoding: 'utf8', timeout: 380_000, maxBuffer: 16 << 20 });
  const stack = wooStack.parse(lastJsonLine(stdout));
  const root = join(dir, 'wordpress');
  return {
    ...stack,
    php: async (code) => {
      const { stdout: out } = await run('php', ['-d', 'error_reporting=E_ALL&~E_DEPRECATED', '-r', `$_SERVER['HTTP_HOST']='127.0.0.1:${port}';require '${root}/wp-load.php';${code}`], { encoding: 'utf8', timeout: 60_000 });
      return out;
    },
    debugLog: () => (existsSync(join(dir, 'debug.log')) ? readFileSync(join(dir, 'debug.log'), 'utf8').split('\n').filter((l) => l.trim() !== '') : []),
    stop: async () => {
      await run(join(REAL_CRMS!, 'woocommerce', 'stop.sh'), [dir], { timeout: 30_000 }).catch(() => undefined);
      if (!process.env.COEX_KEEP_REAL_CRMS) rmSync(dir, { recursive: true, force: true });
    },
  };
}

const odooStack = z.object({
  url: z.string().url(),
  db: z.string(),
  login: z.string(),
  password: z.string(),
  api_key: z.string().min(20),
  pid: z.number().int(),
  version: z.string(),
  modules: z.array(z.string()),
  seconds: z.number(),
  install_seconds: z.number(),
  phonenumbers: z.boolean(),
  dir: z.string(),
  log: z.string(),
});
export type OdooStack = z.infer<typeof odooStack> & {
  /** Lines of odoo.log (`log` is its path). */
  logLines(): string[];
  stop(): Promise<void>;
};

/** A fresh Odoo 19 database and server with the addons in `addons` (folders of modules) installed. */
export async function startOdoo(addons: string[] = [], modules?: string[]): Promise<OdooStack> {
  if (!REAL_CRMS) throw new Error(REAL_CRMS_SKIP_REASON);
  const script = join(REAL_CRMS, 'odoo', 'start.sh');
  const dir = mkdtempSync(join(tmpdir(), 'realcrm-odoo-'));
  const port = await freePort();
  const args = [dir, String(port), ...addons.flatMap((p) => ['--addons', p]), ...(modules ? ['--modules', modules.join(',')] : [])];
  const { stdout } = await run(script, args, { encoding: 'utf8', timeout: 560_000, maxBuffer: 16 << 20, env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' } });
  const stack = odooStack.parse(lastJsonLine(stdout));
  return {
    ...stack,
    logLines: () => (existsSync(stack.log) ? readFileSync(stack.log, 'utf8').split('\n') : []),
    stop: async () => {
      await run(join(REAL_CRMS!, 'odoo', 'stop.sh'), [dir, '--drop'], { timeout: 60_000 }).catch(() => undefined);
      if (!process.env.COEX_KEEP_REAL_CRMS) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Headless Debian Chromium for playwright-core (no browser download). */
export const CHROMIUM_PATH = '/usr/bin/chromium';
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-dev-shm-usage', '--disable-extensions', '--no-first-run'];

/** A tiny cookie jar over fetch, for the WordPress login and admin forms. */
export class CookieFetch {
  readonly cookies = new Map<string, string>();

  async fetch(url: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    if (this.cookies.size > 0) headers.set('cookie', [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; '));
    const res = await fetch(url, { ...init, headers, redirect: 'manual' });
    for (const line of res.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      if (/expires=Thu, 01[- ]Jan[- ]1970/i.test(line) || value === 'deleted') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    return res;
  }

  /** Follows redirects by hand so every Set-Cookie on the way is kept. */
  async follow(url: string, init: RequestInit = {}): Promise<{ res: Response; url: string }> {
    let res = await this.fetch(url, init);
    let at = url;
    for (let i = 0; i < 10 && res.status >= 300 && res.status < 400; i++) {
      at = new URL(res.headers.get('location') ?? '/', at).toString();
      res = await this.fetch(at);
    }
    return { res, url: at };
  }
}

/** Hidden and text inputs of the first form whose action matches, as WordPress printed them. */
export function formFields(html: string, action: RegExp): Record<string, string> {
  const forms = [...html.matchAll(/<form\b[^>]*action="([^"]*)"[^>]*>([\s\S]*?)<\/form>/g)];
  const form = forms.find((f) => action.test(f[1] ?? ''));
  if (!form) throw new Error(`no form with action ${action}`);
  const out: Record<string, string> = {};
  for (const input of (form[2] ?? '').matchAll(/<input\b[^>]*>/g)) {
    const tag = input[0];
    // WordPress quotes attributes with " or ' (settings_fields() uses single quotes).
    const attr = (n: string) => new RegExp(`\\b${n}=(?:"([^"]*)"|'([^']*)')`).exec(tag)?.slice(1).find((v) => v !== undefined);
    const name = attr('name');
    const type = attr('type') ?? 'text';
    if (!name || type === 'checkbox' || type === 'submit') continue;
    out[decodeEntities(name)] = decodeEntities(attr('value') ?? '');
  }
  return out;
}

export function decodeEntities(s: string): string {
  return s
    .replace(/&#0*39;|&#x0*27;/gi, "'")
    .replace(/&quot;/g, '"')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&#8220;|&#8221;/g, '"')
    .replace(/&amp;/g, '&');
}
