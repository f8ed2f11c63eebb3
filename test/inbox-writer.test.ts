import { createHash } from 'node:crypto';
import type { KyselyPlugin } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends } from './helpers/backends.js';
import { openMigratedDatabase, type MigratedDatabase } from './helpers/migrated-database.js';
import type { DatabaseHandle } from '../core/src/db/index.js';
import { INBOX_CHANNEL, InboxWriter } from '../core/src/webhooks/inbox-writer.js';

/**
 * The durable inbox on its own database, without a runtime: what is stored (each body once, one row
 * per number), what each caller is told is new, the NOTIFY at commit, and a bad delivery refused
 * alone. Quick enough for mutation testing (docs/testing.md); test/webhook-ingest.test.ts covers it
 * through HTTP.
 */
// Each test takes well under a second; 5 s lets a writer that never answers (a mutant) fail fast.
describe.each(backends())('inbox writer [%s]', { timeout: 5_000 }, (backend) => {
  let database: MigratedDatabase;
  let handle: DatabaseHandle;
  let listener: pg.Client;
  let notified = 0;
  const payloads: string[] = [];
  let n = 0;
  const body = (label = `d${++n}`) => JSON.stringify({ object: 'whatsapp_business_account', label });
  const sha = (raw: string) => createHash('sha256').update(raw).digest('hex');
  const bodies = async (raw: string) => handle.db.selectFrom('webhook_bodies').select(['id', 'body_sha256', 'raw_body']).where('body_sha256', '=', sha(raw)).execute();
  const rows = async (raw: string) =>
    (await handle.db.selectFrom('webhook_inbox').select(['partition_key', 'body_id', 'body_sha256', 'raw_body', 'processed_at']).where('body_sha256', '=', sha(raw)).orderBy('id').execute()).map((r) => ({ ...r, body_id: String(r.body_id) }));
  /** Notifications received so far: a round trip on the listening connection delivers the committed ones first. */
  const notifications = async () => {
    await listener.query('select 1');
    return notified;
  };

  beforeAll(async () => {
    database = await openMigratedDatabase(backend);
    handle = database.handle;
    listener = new pg.Client({ connectionString: database.databaseUrl });
    await listener.connect();
    listener.on('notification', (m) => {
      if (m.channel === INBOX_CHANNEL) {
        notified += 1;
        payloads.push(m.payload ?? '');
      }
    });
    await listener.query(`listen ${INBOX_CHANNEL}`);
  });
  afterAll(async () => {
    await listener?.end();
    await database?.close();
  });

  it('stores the bytes once and one row per number, tells the caller every key is new, and notifies', async () => {
    expect(INBOX_CHANNEL).toBe('coex_inbox');
    const writer = new InboxWriter(handle.db);
    const raw = body();
    const before = await notifications();
    expect(await writer.write({ rawBody: raw, partitionKeys: ['111', '222'] })).toEqual(['111', '222']);
    const [stored, ...others] = await bodies(raw);
    expect(others).toEqual([]);
    expect(stored).toMatchObject({ body_sha256: sha(raw), raw_body: raw });
    expect(await rows(raw)).toEqual([
      { partition_key: '111', body_id: String(stored!.id), body_sha256: sha(raw), raw_body: null, processed_at: null },
      { partition_key: '222', body_id: String(stored!.id), body_sha256: sha(raw), raw_body: null, processed_at: null },
    ]);
    expect(await notifications()).toBe(before + 1);
  });

  it('a history lane\'s rows notify with their partition key (a worker whose lane holds it need not look), the other rows with an empty payload', async () => {
    const writer = new InboxWriter(handle.db);
    const from = payloads.length;
    expect(await writer.write({ rawBody: body(), partitionKeys: ['777/h0', '777/h2'] })).toEqual(['777/h0', '777/h2']);
    expect(await writer.write({ rawBody: body(), partitionKeys: ['777', 'waba:5/h1'] })).toEqual(['777', 'waba:5/h1']);
    expect(await writer.write({ rawBody: body(), partitionKeys: ['777/h1'] })).toEqual(['777/h1']);
    await notifications();
    // Identical payloads of one transaction are sent once: the second delivery's two rows, one ''.
    expect(payloads.slice(from)).toEqual(['777/h0', '777/h2', '', '777/h1']);
  });

  it('a delivery naming one number keeps its bytes in its own row: no shared body is written', async () => {
    const writer = new InboxWriter(handle.db);
    const raw = body();
    const before = await notifications();
    expect(await writer.write({ rawBody: raw, partitionKeys: ['111'] })).toEqual(['111']);
    expect(await bodies(raw)).toEqual([]);
    expect(await rows(raw)).toEqual([{ partition_key: '111', body_id: 'null', body_sha256: sha(raw), raw_body: raw, processed_at: null }]);
    expect(await notifications()).toBe(before + 1);
    // In one statement with a delivery naming two numbers: each stored its way.
    const two = body();
    const [a, b] = await Promise.all([writer.write({ rawBody: body('alone'), partitionKeys: ['444'] }), writer.write({ rawBody: two, partitionKeys: ['444', '555'] })]);
    expect([a, b]).toEqual([['444'], ['444', '555']]);
    expect((await rows(body('alone'))).map((r) => [r.body_id, r.raw_body])).toEqual([['null', body('alone')]]);
    const [shared] = await bodies(two);
    expect((await rows(two)).map((r) => [r.partition_key, r.body_id, r.raw_body])).toEqual([
      ['444', String(shared!.id), null],
      ['555', String(shared!.id), null],
    ]);
  });

  it('a retry of the same bytes is absorbed (nothing new, no notification); a new number for them is not', async () => {
    const writer = new InboxWriter(handle.db);
    const raw = body();
    await writer.write({ rawBody: raw, partitionKeys: ['111'] });
    const before = await notifications();
    expect(await writer.write({ rawBody: raw, partitionKeys: ['111'] })).toEqual([]);
    expect(await notifications()).toBe(before);
    expect(await writer.write({ rawBody: raw, partitionKeys: ['111', '333'] })).toEqual(['333']);
    expect(await notifications()).toBe(before + 1);
    expect((await rows(raw)).map((r) => r.partition_key)).toEqual(['111', '333']);
    expect(await bodies(raw)).toHaveLength(1);
    // Other bytes for the same number are another delivery.
    const other = body();
    expect(await writer.write({ rawBody: other, partitionKeys: ['111'] })).toEqual(['111']);
  });

  it('answers every caller of a group with its own new keys', async () => {
    const writer = new InboxWriter(handle.db);
    const raws = [body(), body(), body(), body()];
    const shared = body();
    await writer.write({ rawBody: shared, partitionKeys: ['111'] });
    const results = await Promise.all([
      ...raws.map((raw, i) => writer.write({ rawBody: raw, partitionKeys: [`10${i}`, '999'] })),
      writer.write({ rawBody: shared, partitionKeys: ['111', '112'] }),
    ]);
    expect(results).toEqual([['100', '999'], ['101', '999'], ['102', '999'], ['103', '999'], ['112']]);
    for (const [i, raw] of raws.entries()) expect((await rows(raw)).map((r) => r.partition_key)).toEqual([`10${i}`, '999']);
  });

  it('writes a delivery naming more numbers than a statement may hold on its own, and the ones queued behind it', async () => {
    const writer = new InboxWriter(handle.db, { maxRowsPerInsert: 2 });
    const big = body();
    const small = [body(), body(), body()];
    const results = await Promise.all([writer.write({ rawBody: big, partitionKeys: ['1', '2', '3', '4', '5'] }), ...small.map((raw) => writer.write({ rawBody: raw, partitionKeys: ['6'] }))]);
    expect(results).toEqual([['1', '2', '3', '4', '5'], ['6'], ['6'], ['6']]);
    expect(await rows(big)).toHaveLength(5);
  });

  it('group commit: up to maxInFlight statements at once; the deliveries that arrive meanwhile go together, up to the row limit', async () => {
    // Counts the statements the writer runs (its only queries are its group inserts).
    let statements = 0;
    const counting: KyselyPlugin = { transformQuery: (args) => ((statements += 1), args.node), transformResult: async (args) => args.result };
    const five = () => [body(), body(), body(), body(), body()];
    // Two slots, a second group as soon as one is free: the first two deliveries go alone at once;
    // the three queued meanwhile take the slots as they free up, two rows at most per statement.
    const two = new InboxWriter(handle.db.withPlugin(counting), { maxRowsPerInsert: 2, maxInFlight: 2, overlapAfterMs: 0 });
    expect(await Promise.all(five().map((raw) => two.write({ rawBody: raw, partitionKeys: ['777'] })))).toEqual([['777'], ['777'], ['777'], ['777'], ['777']]);
    expect(statements).toBe(4);
    // The defaults: a second group waits while the first is quick (or until it has taken 100 ms), so
    // the four that arrive behind the first go together.
    statements = 0;
    const quick = new InboxWriter(handle.db.withPlugin(counting));
    expect(await Promise.all(five().map((raw) => quick.write({ rawBody: raw, partitionKeys: ['777'] })))).toEqual([['777'], ['777'], ['777'], ['777'], ['777']]);
    expect(statements).toBe(2);
    statements = 0;
    // One slot, even with a second group allowed at once: the first alone (nothing was waiting), then
    // two groups of two rows.
    const writer = new InboxWriter(handle.db.withPlugin(counting), { maxRowsPerInsert: 2, maxInFlight: 1, overlapAfterMs: 0 });
    const results = await Promise.all(five().map((raw) => writer.write({ rawBody: raw, partitionKeys: ['777'] })));
    expect(results).toEqual([['777'], ['777'], ['777'], ['777'], ['777']]);
    expect(statements).toBe(3);
    // One delivery naming three numbers exceeds the limit: written alone, in one statement.
    statements = 0;
    expect(await writer.write({ rawBody: body(), partitionKeys: ['1', '2', '3'] })).toEqual(['1', '2', '3']);
    expect(statements).toBe(1);
    // A delivery that cannot be stored, alone: refused after its one statement, not retried.
    statements = 0;
    await expect(writer.write({ rawBody: `${body()}\u0000`, partitionKeys: ['777'] })).rejects.toThrow();
    expect(statements).toBe(1);
  });

  it('a delivery that finds nothing in flight is written at once, however recently the last group started', async () => {
    // The overlap delay applies beside a group in flight only: one after another, these never wait for it.
    const writer = new InboxWriter(handle.db, { overlapAfterMs: 60_000 });
    for (let i = 0; i < 3; i++) expect(await writer.write({ rawBody: body(), partitionKeys: ['556'] })).toEqual(['556']);
  });

  it('a group stuck behind a lock does not hold back the deliveries after it', async () => {
    const stuck = body();
    const blocker = new pg.Client({ connectionString: database.databaseUrl });
    await blocker.connect();
    try {
      // Another transaction holds the unique key of `stuck` (as a second web process writing the
      // same retried delivery would): the writer's group for it waits until that one ends.
      await blocker.query('begin');
      await blocker.query("insert into webhook_inbox (partition_key, body_sha256, raw_body) values ('555', $1, 'x')", [sha(stuck)]);
      const writer = new InboxWriter(handle.db);
      let stuckAnswered = false;
      const first = writer.write({ rawBody: stuck, partitionKeys: ['555'] }).then((keys) => ((stuckAnswered = true), keys));
      // Started while the first group is in flight: a group of its own beside it, 100 ms later.
      const next = body();
      expect(await writer.write({ rawBody: next, partitionKeys: ['555'] })).toEqual(['555']);
      expect(await rows(next)).toHaveLength(1);
      expect(stuckAnswered).toBe(false);
      await blocker.query('rollback');
      expect(await first).toEqual(['555']);
    } finally {
      await blocker.end();
    }
  });

  it('refuses only the delivery that cannot be stored; the others of its group are written', async () => {
    // One slot, so the deliveries queued behind the first really share a statement with the bad one.
    const writer = new InboxWriter(handle.db, { maxInFlight: 1 });
    // PostgreSQL cannot store U+0000 in text: this delivery fails whatever it is grouped with.
    const bad = `${body()}\u0000`;
    const good = [body(), body(), body()];
    const retried = body();
    await writer.write({ rawBody: retried, partitionKeys: ['111'] });
    const settled = await Promise.allSettled([
      writer.write({ rawBody: good[0]!, partitionKeys: ['111'] }),
      writer.write({ rawBody: good[1]!, partitionKeys: ['111'] }),
      writer.write({ rawBody: bad, partitionKeys: ['111'] }),
      writer.write({ rawBody: good[2]!, partitionKeys: ['111'] }),
      // Meta's retry of a stored delivery, caught in the failing group: still nothing new.
      writer.write({ rawBody: retried, partitionKeys: ['111'] }),
    ]);
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
    expect(settled.map((s) => (s.status === 'fulfilled' ? s.value : null))).toEqual([['111'], ['111'], null, ['111'], []]);
    for (const raw of good) expect(await rows(raw)).toHaveLength(1);
    // Alone, it is refused too, and the writer goes on.
    await expect(writer.write({ rawBody: bad, partitionKeys: ['111'] })).rejects.toThrow();
    expect(await writer.write({ rawBody: body(), partitionKeys: ['111'] })).toEqual(['111']);
  });
});
