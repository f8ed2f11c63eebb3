// (a) Signed webhooks acknowledged per second with durable persistence (the inbox INSERT commits
// before the 200), against a bare node:http server answering 200 to the same requests in the same run.
import http from 'node:http';
import { once } from 'node:events';
import { Runtime } from '../core/dist/runtime.js';
import { loadConfig } from '../core/dist/config.js';
import { createLogger } from '../core/dist/logger.js';
import { signBody } from '../core/dist/webhooks/signature.js';
import * as P from '../core/dist/whatsapp/payloads.js';
import { benchBackends, fmt, loadPost } from './lib.mjs';

const SECRET = 'bench-secret';
const TOTAL = Number(process.env.BENCH_WEBHOOKS ?? 3000);

function bodies(tag) {
  const n = { wabaId: '1', phoneNumberId: '106540352242922', displayPhoneNumber: '212522123456' };
  return Array.from({ length: TOTAL }, (_, i) => {
    const raw = Buffer.from(JSON.stringify(P.inboundMessage(n, { waId: `2126${String(i % 500).padStart(8, '0')}`, name: 'Bench' }, `wamid.${tag}.${i}`, Date.now(), P.text(`salam ${i}, wach kayn?`))));
    return { raw, headers: { 'x-hub-signature-256': signBody(raw, SECRET) } };
  });
}

async function bareBaseline() {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}'));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address();
  const r = await loadPost(`http://127.0.0.1:${port}/webhooks/whatsapp`, bodies('bare'));
  server.close();
  return r.perSecond;
}

export async function run() {
  console.log(`\n# Webhook acknowledgements (${fmt(TOTAL)} signed POSTs, 32 keep-alive connections)`);
  const bare = await bareBaseline();
  console.log(`baseline  bare node:http 200           ${fmt(bare)} req/s`);
  const rows = [];
  for (const backend of await benchBackends()) {
    const db = await backend.create();
    const config = loadConfig({}, { PORT: 0, HOST: '127.0.0.1', DATABASE_URL: db.databaseUrl, WHATSAPP_APP_SECRET: SECRET, COEX_API_TOKEN: 'bench-admin-token-000000', LOG_LEVEL: 'silent' });
    // Worker off: this measures the acknowledgement path alone (verify, parse, durable insert, 200).
    const runtime = await Runtime.create({ config, logger: createLogger('silent'), ephemeral: true, worker: false });
    const url = await runtime.listen(0, '127.0.0.1');
    await loadPost(`${url}/webhooks/whatsapp`, bodies('warm').slice(0, 200));
    const r = await loadPost(`${url}/webhooks/whatsapp`, bodies(backend.name));
    const stored = await runtime.processor.pendingCount();
    await runtime.close();
    await db.drop();
    console.log(`coex      ${backend.name.padEnd(8)} durable ack       ${fmt(r.perSecond)} req/s  ratio ${fmt(r.perSecond / bare, 2)} of bare  (${r.failures} non-200, ${fmt(stored)} rows durable)`);
    rows.push({ backend: backend.name, perSecond: r.perSecond, ratio: r.perSecond / bare });
  }
  return { bare, rows };
}

if (import.meta.url === `file://${process.argv[1]}`) await run();
