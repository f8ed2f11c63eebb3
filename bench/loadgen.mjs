// Load generator in its own process (so it never shares the server's event loop): signs and POSTs
// `count` webhook deliveries with `concurrency` keep-alive connections, then prints one JSON line:
// { sent, ok, failures, seconds, perSecond, p50, p99 } (latencies in ms).
// Usage: node bench/loadgen.mjs '<json options>'
//   { url, secret, count, concurrency, numbers, tag, kind: 'text' | 'hostile', startAt }
//   or { url, secret, concurrency, file }: the bodies of a file, one JSON delivery a line, in order.
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';

const o = JSON.parse(process.argv[2]);
const fromFile = o.file ? readFileSync(o.file, 'utf8').split('\n').filter(Boolean) : null;
if (fromFile) o.count = fromFile.length;
const agent = new http.Agent({ keepAlive: true, maxSockets: o.concurrency });
const target = new URL(`${o.url}/webhooks/whatsapp`);
const t0 = Math.floor(Date.now() / 1000);

function body(i) {
  if (fromFile) return fromFile[i];
  const n = i % o.numbers;
  const phoneNumberId = String(106540000000000 + n);
  const wa = `2126${String(i % 997).padStart(8, '0')}`;
  const value = {
    messaging_product: 'whatsapp',
    metadata: { display_phone_number: `2125${String(n).padStart(8, '0')}`, phone_number_id: phoneNumberId },
    contacts: [{ profile: { name: `Client ${i % 997}` }, wa_id: wa }],
    messages: [{ from: wa, id: `wamid.${o.tag}.${i}`, timestamp: String(t0 + i), type: 'text', text: { body: `salam ${i}, wach kayn l9ftan?` } }],
  };
  let raw = JSON.stringify({ object: 'whatsapp_business_account', entry: [{ id: '102290129340398', changes: [{ field: 'messages', value }] }] });
  if (o.kind === 'hostile' && i % 2 === 1) raw = hostile(i, raw);
  return raw;
}

/** Signed but nasty: what the 10,000-delivery fuzz of issue 12 sent. */
function hostile(i, raw) {
  switch (i % 10) {
    case 1:
      return raw.replace('"text":{"body":"', '"text":{"body":"\\u0000');
    case 3:
      return raw.replace('"name":"', '"name":"\\ud800');
    case 5:
      return raw.replace(/"timestamp":"\d+"/, '"timestamp":"99999999999999999999"');
    case 7:
      return raw.replace(/"phone_number_id":"\d+"/, '"phone_number_id":"10\\u000065"');
    default:
      return raw.replace('"type":"text"', `"type":"text","x":${'['.repeat(20000)}${']'.repeat(20000)}`);
  }
}

// Every delivery built and signed before the clock starts, as Meta's are before they are sent: the
// load generator shares the machine's cores with the server it measures, so its own work is kept
// out of the timed part as far as it can be (what is left is the HTTP client).
const prepared = Array.from({ length: o.count }, (_, i) => {
  const raw = Buffer.from(body(i));
  return { raw, sig: `sha256=${createHmac('sha256', o.secret).update(raw).digest('hex')}` };
});

const latencies = [];
let ok = 0;
let failures = 0;
let next = 0;
function post(i) {
  const { raw, sig } = prepared[i];
  const started = process.hrtime.bigint();
  return new Promise((resolve) => {
    const req = http.request(
      { host: target.hostname, port: target.port, path: target.pathname, method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': raw.length, 'x-hub-signature-256': sig } },
      (res) => {
        res.resume();
        res.on('end', () => {
          latencies.push(Number(process.hrtime.bigint() - started) / 1e6);
          if (res.statusCode === 200) ok += 1;
          else failures += 1;
          resolve();
        });
      },
    );
    req.on('error', () => {
      failures += 1;
      resolve();
    });
    req.end(raw);
  });
}
const startedAt = process.hrtime.bigint();
const startedAtMs = performance.timeOrigin + performance.now();
await Promise.all(
  Array.from({ length: o.concurrency }, async () => {
    while (next < o.count) await post(next++);
  }),
);
const seconds = Number(process.hrtime.bigint() - startedAt) / 1e9;
latencies.sort((a, b) => a - b);
const pct = (p) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? 0;
agent.destroy();
// startedAt: when the first POST went out (epoch ms), so a caller can time from it, not from this process's start.
console.log(JSON.stringify({ sent: o.count, ok, failures, seconds, perSecond: o.count / seconds, p50: pct(50), p99: pct(99), startedAt: startedAtMs }));
