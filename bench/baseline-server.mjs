// The hand-rolled baseline of issue 12: node:http, HMAC-SHA256 over the raw body (constant-time
// compare), one INSERT per request into one table, 200 after the commit. What a minimal durable
// webhook receiver costs on the same machine and database; CoEx's figures are ratios against it.
// Usage: node bench/baseline-server.mjs <database url> <secret>  → prints {"port":…} once listening.
import { createHmac, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import pg from 'pg';

const [url, secret] = process.argv.slice(2);
const pool = new pg.Pool({ connectionString: url, max: 12 });
await pool.query('create table if not exists baseline_inbox (id bigserial primary key, body text not null, received_at timestamptz not null default now())');
const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', async () => {
    const raw = Buffer.concat(chunks);
    const expected = Buffer.from(`sha256=${createHmac('sha256', secret).update(raw).digest('hex')}`);
    const given = Buffer.from(String(req.headers['x-hub-signature-256'] ?? ''));
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return void res.writeHead(401).end();
    try {
      await pool.query('insert into baseline_inbox (body) values ($1)', [raw.toString('utf8')]);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    } catch {
      res.writeHead(503).end();
    }
  });
});
server.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ port: server.address().port })));
process.on('SIGTERM', () => server.close(() => pool.end().then(() => process.exit(0))));
