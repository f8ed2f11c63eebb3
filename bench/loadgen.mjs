// Load generator in its own process (so it never shares the server's event loop): signs and POSTs
// `count` webhook deliveries with `concurrency` keep-alive connections, then prints one JSON line:
// { sent, ok, failures, seconds, perSecond, p50, p99, startedAt, cpuSeconds, largeAckedMs } (latencies
// in ms; cpuSeconds: what this process spent while sending, for the benches that say who used the
// cores; largeAckedMs: when the last delivery over 10 KB was acknowledged, since the first POST).
// Usage: node bench/loadgen.mjs '<json options>'
//   { url, secret, count, concurrency, numbers, tag, kind: 'text' | 'hostile', startAt }
//   or { url, secret, concurrency, file }: the bodies of a file, one JSON delivery a line, in order.
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';

const o = JSON.parse(process.argv[2]);
const fromFile = o.file ? readFileSync(o.file, 'utf8').split('\n').filter(Boolean) : null;
if (fromFile) o.count = fromFile.length;
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
let largeAckedMs = null;
let next = 0;

/**
 * One keep-alive HTTP/1.1 connection that sends one request at a time, as Meta's senders do (no
 * pipelining), written on a socket directly (the default client, BENCH_LOADGEN_CLIENT=socket):
 * node:http's client spent ~180 µs of CPU a request — more than a hand-rolled server's whole
 * acknowledgement — on the two cores it shares with the server it measures, where Meta's senders
 * cost the server's machine nothing; this one ~37 µs. Answers with a Content-Length or chunked; a
 * closed connection is opened again for the next request.
 */
class Connection {
  socket = null;
  buffered = Buffer.alloc(0);
  waiting = null;

  async open() {
    this.socket = net.connect({ host: target.hostname, port: Number(target.port) });
    this.socket.setNoDelay(true);
    this.socket.on('data', (chunk) => {
      this.buffered = this.buffered.length ? Buffer.concat([this.buffered, chunk]) : chunk;
      this.parse();
    });
    const gone = () => {
      this.socket = null;
      this.buffered = Buffer.alloc(0);
      const w = this.waiting;
      this.waiting = null;
      w?.(0);
    };
    this.socket.on('error', gone);
    this.socket.on('close', gone);
    await new Promise((resolve, reject) => this.socket.once('connect', resolve).once('error', reject));
  }

  /** Status of a complete response at the start of the buffer (its bytes consumed), else nothing. */
  parse() {
    if (!this.waiting) return;
    const head = this.buffered.indexOf('\r\n\r\n');
    if (head < 0) return;
    const headers = this.buffered.toString('latin1', 0, head);
    const status = Number(headers.slice(9, 12));
    const length = /\r\ncontent-length: *(\d+)/i.exec(headers);
    let end;
    if (length) {
      end = head + 4 + Number(length[1]);
      if (this.buffered.length < end) return;
    } else if (/\r\ntransfer-encoding: *chunked/i.test(headers)) {
      const last = this.buffered.indexOf('\r\n0\r\n\r\n', head);
      if (last < 0) return;
      end = last + 7;
    } else end = head + 4;
    this.buffered = this.buffered.subarray(end);
    const w = this.waiting;
    this.waiting = null;
    w(status);
  }

  async post(raw, sig) {
    if (!this.socket) await this.open();
    const done = new Promise((resolve) => (this.waiting = resolve));
    this.socket.write(
      `POST ${target.pathname} HTTP/1.1\r\nHost: ${target.host}\r\nContent-Type: application/json\r\nContent-Length: ${raw.length}\r\nX-Hub-Signature-256: ${sig}\r\n\r\n`,
    );
    this.socket.write(raw);
    return done;
  }

  close() {
    this.socket?.destroy();
  }
}

async function post(connection, i) {
  const { raw, sig } = prepared[i];
  const started = process.hrtime.bigint();
  const status = await connection.post(raw, sig).catch(() => 0);
  latencies.push(Number(process.hrtime.bigint() - started) / 1e6);
  if (raw.length > 10_000) largeAckedMs = Number(process.hrtime.bigint() - startedAt) / 1e6;
  if (status === 200) ok += 1;
  else failures += 1;
}
/**
 * The same through node:http's client (BENCH_LOADGEN_CLIENT=http): the client of the figures in
 * docs/benchmarks.md up to the fifth session.
 */
class NodeHttpConnection {
  static agent = new http.Agent({ keepAlive: true, maxSockets: o.concurrency });

  post(raw, sig) {
    return new Promise((resolve) => {
      const req = http.request(
        { host: target.hostname, port: target.port, path: target.pathname, method: 'POST', agent: NodeHttpConnection.agent, headers: { 'content-type': 'application/json', 'content-length': raw.length, 'x-hub-signature-256': sig } },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode));
        },
      );
      req.on('error', () => resolve(0));
      req.end(raw);
    });
  }

  close() {
    NodeHttpConnection.agent.destroy();
  }
}

const Client = (process.env.BENCH_LOADGEN_CLIENT ?? 'socket') === 'http' ? NodeHttpConnection : Connection;
const connections = Array.from({ length: o.concurrency }, () => new Client());
const startedAt = process.hrtime.bigint();
const cpu0 = process.cpuUsage();
const startedAtMs = performance.timeOrigin + performance.now();
await Promise.all(
  connections.map(async (connection) => {
    while (next < o.count) await post(connection, next++);
  }),
);
const seconds = Number(process.hrtime.bigint() - startedAt) / 1e9;
const cpu = process.cpuUsage(cpu0);
latencies.sort((a, b) => a - b);
const pct = (p) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? 0;
for (const c of connections) c.close();
// startedAt: when the first POST went out (epoch ms), so a caller can time from it, not from this process's start.
console.log(JSON.stringify({ sent: o.count, ok, failures, seconds, perSecond: o.count / seconds, p50: pct(50), p99: pct(99), startedAt: startedAtMs, cpuSeconds: (cpu.user + cpu.system) / 1e6, largeAckedMs }));
