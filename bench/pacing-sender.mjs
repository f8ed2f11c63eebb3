// Child process of pacing.bench.mjs: one independent sender (own pool, own pacer, own HTTP client).
import { openDatabase } from '../core/dist/db/index.js';
import { DbPacer } from '../core/dist/outbound/pacer.js';
import { GraphClient } from '../core/dist/outbound/graph-client.js';

const [graphUrl, token, pnid, count, tag] = process.argv.slice(2);
const handle = await openDatabase({ databaseUrl: process.env.DATABASE_URL, poolSize: 2 });
const pacer = new DbPacer(handle.db);
const client = new GraphClient({ baseUrl: graphUrl, version: 'v25.0', accessToken: token, userAgent: 'coex-bench' });
let errors = 0;
for (let i = 0; i < Number(count); i++) {
  await pacer.acquire(pnid, { ratePerSecond: 20 });
  try {
    await client.sendMessage(pnid, { type: 'template', to: `2126${tag}${String(i).padStart(6, '0')}`, name: 'hello_world', languageCode: 'en_US' });
  } catch {
    errors += 1;
  }
}
await handle.close();
process.stdout.write(JSON.stringify({ errors }));
