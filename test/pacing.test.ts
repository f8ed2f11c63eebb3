import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends, createTestDatabase, type TestDatabase } from './helpers/backends.js';
import { startGraphApiFake, DEFAULT_FAKE_TOKEN, DEFAULT_FAKE_PHONE_NUMBER, type GraphApiFake } from './fakes/graph-api.js';
import { migrateToLatest, openDatabase, type DatabaseHandle } from '../core/src/db/index.js';
import { DbPacer } from '../core/src/outbound/pacer.js';
import { GraphClient } from '../core/src/outbound/graph-client.js';

const PNID = DEFAULT_FAKE_PHONE_NUMBER.id;

/** Two independent senders (own connection pool, own pacer object, own HTTP client) share one number. */
describe.each(backends())('per-number pacing shared by senders [%s]', (backend) => {
  let graph: GraphApiFake;
  let db: TestDatabase;
  const handles: DatabaseHandle[] = [];

  beforeAll(async () => {
    graph = await startGraphApiFake({ mps: 50 });
    db = await createTestDatabase(backend);
    const first = await openDatabase({ databaseUrl: db.databaseUrl });
    await migrateToLatest(first.db);
    handles.push(first);
    // The second sender gets a pool of its own, as a second process would.
    handles.push(await openDatabase({ databaseUrl: db.databaseUrl }));
  });
  afterAll(async () => {
    for (const h of new Set(handles)) await h.close();
    await db?.drop();
    await graph?.close();
  });

  it('never exceeds the number’s rate across two senders (zero 130429 from a fake that enforces it)', async () => {
    const perSender = 60;
    const senders = handles.map((h) => ({
      pacer: new DbPacer(h.db),
      client: new GraphClient({ baseUrl: graph.url, version: 'v25.0', accessToken: DEFAULT_FAKE_TOKEN, userAgent: 'coex-test' }),
    }));
    const results = await Promise.all(
      senders.map(async ({ pacer, client }, s) => {
        let ok = 0;
        for (let i = 0; i < perSender; i++) {
          await pacer.acquire(PNID, { ratePerSecond: 50 });
          await client.sendMessage(PNID, { type: 'template', to: `2126000${s}${String(i).padStart(4, '0')}`, name: 'hello_world', languageCode: 'en_US' });
          ok += 1;
        }
        return ok;
      }),
    );
    expect(results).toEqual([perSender, perSender]);
    expect(graph.state.rejections.throughput[PNID] ?? 0).toBe(0);
    expect(graph.state.sent.length).toBe(2 * perSender);
  });

  it('pushes every sender back after Meta says 130429', async () => {
    const pacer = new DbPacer(handles[0]!.db);
    await pacer.acquire('pacer-penalty-test', { ratePerSecond: 1000 });
    await pacer.penalize('pacer-penalty-test', 2000);
    const other = new DbPacer(handles[1]!.db);
    const wait = await other.reserve('pacer-penalty-test', { ratePerSecond: 1000 });
    expect(wait).toBeGreaterThan(1500);
  });
});
