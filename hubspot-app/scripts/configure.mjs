#!/usr/bin/env node
// Sets the operator's own CoEx domain and support contacts in the HubSpot project before
// `hs project upload` (a UI extension has no environment at run time, and HubSpot reads the app's
// URLs from app-hsmeta.json at upload):
//   node scripts/configure.mjs --server-url https://coex.myshop.ma --support-email support@myshop.ma \
//     [--support-phone "+212 522 000 000"] [--support-url URL] [--documentation-url URL]
// writes, consistently:
//   src/app/app-hsmeta.json   auth.redirectUrls (…/oauth/hubspot/callback), permittedUrls.fetch,
//                             support.{supportEmail, supportPhone, supportUrl, documentationUrl}
//   src/app/cards/lib/config.ts  COEX_SERVER_URL (the URL the card calls)
// Each option may come from the environment instead (COEX_SERVER_URL, COEX_SUPPORT_EMAIL,
// COEX_SUPPORT_PHONE, COEX_SUPPORT_URL, COEX_DOCUMENTATION_URL).
//   node scripts/configure.mjs --check   exits 1 while an example.com placeholder is left
// (`npm run upload` runs the check first). `--root DIR` works on another copy of the project.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    'server-url': { type: 'string' },
    'support-email': { type: 'string' },
    'support-phone': { type: 'string' },
    'support-url': { type: 'string' },
    'documentation-url': { type: 'string' },
    root: { type: 'string' },
    check: { type: 'boolean', default: false },
  },
});
const root = values.root ?? fileURLToPath(new URL('../', import.meta.url));
const appFile = join(root, 'src', 'app', 'app-hsmeta.json');
const configFile = join(root, 'src', 'app', 'cards', 'lib', 'config.ts');
const SERVER_URL_LINE = /^export const COEX_SERVER_URL = '([^']*)';$/m;

function fail(message) {
  process.stderr.write(`configure: ${message}\n`);
  process.exit(1);
}

/** https origin (optionally with a path prefix), no query, no trailing slash: what hubspot.fetch accepts. */
function httpsUrl(name, raw) {
  let url;
  try {
    url = new URL(raw);
  } catch {
    fail(`${name} is not a URL: ${raw}`);
  }
  if (url.protocol !== 'https:') fail(`${name} must use https (hubspot.fetch refuses anything else): ${raw}`);
  if (url.search || url.hash || url.username || url.password) fail(`${name} must not carry a query, fragment or credentials: ${raw}`);
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
}

const app = JSON.parse(readFileSync(appFile, 'utf8'));
const configSource = readFileSync(configFile, 'utf8');

if (values.check) {
  const left = [];
  const scan = (value, path) => {
    if (typeof value === 'string' && /(^|[/.@])example\.com\b/.test(value)) left.push(`${path}: ${value}`);
    else if (value && typeof value === 'object') for (const [k, v] of Object.entries(value)) scan(v, `${path}.${k}`);
  };
  scan(app.config, 'app-hsmeta.json config');
  const current = SERVER_URL_LINE.exec(configSource)?.[1] ?? '';
  if (/(^|[/.])example\.com\b/.test(current)) left.push(`cards/lib/config.ts COEX_SERVER_URL: ${current}`);
  if (!app.config.support?.supportPhone) left.push('app-hsmeta.json config.support.supportPhone is not set');
  if (left.length > 0) fail(`placeholders left — run scripts/configure.mjs with your own domain first:\n  ${left.join('\n  ')}`);
  process.stdout.write('configure: no placeholders left\n');
  process.exit(0);
}

const serverRaw = values['server-url'] ?? process.env.COEX_SERVER_URL;
if (!serverRaw) fail('--server-url (or COEX_SERVER_URL) is required, e.g. --server-url https://coex.myshop.ma');
const server = httpsUrl('--server-url', serverRaw);
const origin = new URL(server).origin;
const supportEmail = values['support-email'] ?? process.env.COEX_SUPPORT_EMAIL;
if (supportEmail !== undefined && !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(supportEmail)) fail(`--support-email is not an email address: ${supportEmail}`);
const supportPhone = values['support-phone'] ?? process.env.COEX_SUPPORT_PHONE;
if (supportPhone !== undefined && !/^\+?[0-9][0-9 ().-]{5,}$/.test(supportPhone)) fail(`--support-phone is not a phone number: ${supportPhone}`);
const supportUrl = values['support-url'] ?? process.env.COEX_SUPPORT_URL;
const documentationUrl = values['documentation-url'] ?? process.env.COEX_DOCUMENTATION_URL;

app.config.auth.redirectUrls = [`${server}/oauth/hubspot/callback`];
// permittedUrls.fetch entries are origins/prefixes the card's hubspot.fetch calls may start with.
app.config.permittedUrls.fetch = [server];
const support = { ...(app.config.support ?? {}) };
if (supportEmail !== undefined) support.supportEmail = supportEmail;
if (supportPhone !== undefined) support.supportPhone = supportPhone;
support.supportUrl = supportUrl !== undefined ? httpsUrl('--support-url', supportUrl) : `${origin}/support`;
support.documentationUrl = documentationUrl !== undefined ? httpsUrl('--documentation-url', documentationUrl) : `${origin}/docs`;
app.config.support = support;

if (!SERVER_URL_LINE.test(configSource)) fail(`${configFile} has no "export const COEX_SERVER_URL = '…';" line`);
writeFileSync(appFile, `${JSON.stringify(app, null, 2)}\n`);
writeFileSync(configFile, configSource.replace(SERVER_URL_LINE, `export const COEX_SERVER_URL = '${server}';`));
process.stdout.write(`configure: ${server} written to app-hsmeta.json and cards/lib/config.ts\n`);
