import type { KyselyPlugin, RootOperationNode } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends } from './helpers/backends.js';
import { openMigratedDatabase, type MigratedDatabase } from './helpers/migrated-database.js';
import type { DatabaseHandle } from '../core/src/db/index.js';
import { EventStreamApplier } from '../core/src/store/apply.js';
import { normalizeChange, type DomainEvent } from '../core/src/whatsapp/normalize.js';
import * as P from '../core/src/whatsapp/payloads.js';

/**
 * EventStreamApplier: deliveries added one at a time are written a statement's worth at a time, in
 * their order, while the caller parses the next (the inbox worker's apply); the outcome is that of
 * everything added, and a slice that fails while the caller is busy fails the next add() or finish().
 */
describe.each(backends())('store: streamed apply [%s]', { timeout: 20_000 }, (backend) => {
  let database: MigratedDatabase;
  let handle: DatabaseHandle;
  let n = 0;
  const AT = Date.UTC(2026, 6, 1, 9, 0, 0);
  const numberRef = (): P.NumberRef => ({ wabaId: '102290129340398', phoneNumberId: `50754035224${String(++n).padStart(4, '0')}`, displayPhoneNumber: '212522123456' });
  type Payload = { entry: Array<{ id: string; changes: Array<{ field: string; value: unknown }> }> };
  const eventsOf = (p: Payload): DomainEvent[] => p.entry.flatMap((e) => e.changes.flatMap((c) => normalizeChange(e.id, c.field, c.value)));
  /** A history chunk of `threads` customers × `perThread` messages (a delivery of 1,000 by default). */
  const chunk = (N: P.NumberRef, tag: string, threads = 10, perThread = 100): Payload =>
    P.historyChunk(
      N,
      { phase: 0, chunkOrder: 1, progress: 10 },
      Array.from({ length: threads }, (_, t) => ({
        waId: `2126${String(t).padStart(8, '0')}`,
        messages: Array.from({ length: perThread }, (_, m) => ({ wamid: `wamid.${tag}.${t}.${m}`, fromCustomer: m % 2 === 0, at: AT + (t * perThread + m) * 1000, body: P.text(`${tag} ${t}.${m}`) })),
      })),
    ) as Payload;
  const count = async (N: P.NumberRef) =>
    Number((await handle.db.selectFrom('messages').select((eb) => eb.fn.countAll<string>().as('n')).where('phone_number_id', '=', N.phoneNumberId).executeTakeFirstOrThrow()).n);

  beforeAll(async () => {
    database = await openMigratedDatabase(backend);
    handle = database.handle;
  });
  afterAll(async () => {
    await database?.close();
  });

  it('writes the deliveries added one by one, in order, and returns the outcome of them all', async () => {
    const N = numberRef();
    const first = chunk(N, 'a');
    // A status and an edit of chunk a's messages, then small live deliveries, then a second chunk.
    const status = P.statusUpdate(N, 'wamid.a.0.1', 'read', AT + 5_000_000, '212600000000') as Payload;
    const live = [1, 2, 3].map((i) => P.inboundMessage(N, { waId: '212611111111' }, `wamid.live.${i}`, AT + 6_000_000 + i, P.text(`salam ${i}`)) as Payload);
    const second = chunk(N, 'b', 5, 100);
    const outcome = await handle.db.transaction().execute(async (trx) => {
      const stream = new EventStreamApplier(trx, { defaultTenantId: 'atlas' });
      for (const delivery of [first, status, ...live, second]) await stream.add(eventsOf(delivery));
      return stream.finish();
    });
    expect(outcome.messagesInserted).toBe(1_000 + 3 + 500);
    expect(outcome.unknown).toBe(0);
    expect(outcome.statusesRecorded).toBe(1);
    expect(outcome.historyChunks).toBe(2);
    expect(outcome.live.map((m) => m.wamid)).toEqual(['wamid.live.1', 'wamid.live.2', 'wamid.live.3']);
    expect(await count(N)).toBe(1_503);
    const read = await handle.db.selectFrom('messages').select(['status']).where('phone_number_id', '=', N.phoneNumberId).where('wamid', '=', 'wamid.a.0.1').executeTakeFirstOrThrow();
    expect(read.status).toBe('read');
  });

  it('writes nothing until a statement’s worth of messages is queued; add() returns while that INSERT runs', async () => {
    const N = numberRef();
    // The statements the transaction sends, in order: a plugin sees each one as it is compiled, just
    // before it is sent (raw SQL by its first words, the others by kind and table).
    const sent: string[] = [];
    const label = (node: RootOperationNode): string =>
      node.kind === 'RawNode' ? node.sqlFragments.join('?').replace(/\s+/g, ' ').trim().slice(0, 40) : `${node.kind} ${JSON.stringify(node).match(/"name":"(\w+)"/)?.[1] ?? ''}`;
    const recording: KyselyPlugin = { transformQuery: (args) => (sent.push(label(args.node)), args.node), transformResult: async (args) => args.result };
    const outcome = await handle.db.withPlugin(recording).transaction().execute(async (trx) => {
      const stream = new EventStreamApplier(trx, { defaultTenantId: 'atlas' });
      for (let i = 0; i < 3; i++) await stream.add(eventsOf(P.inboundMessage(N, { waId: '212622222222' }, `wamid.small.${i}`, AT + i, P.text('wach kayn?')) as Payload));
      expect(sent).toEqual([]);
      // 997 more make exactly a statement's worth (1,000): writing starts, and add() comes back once
      // the messages INSERT is on its way (the caller parses the next delivery while it runs): the
      // statements that follow it (reconcile, the chunk's record) are not sent yet.
      await stream.add(eventsOf(chunk(N, 'c', 1, 997)));
      expect(sent.at(-1)).toMatch(/^with ins as \( insert into messages/);
      return stream.finish();
    });
    expect(sent.at(-1)).not.toMatch(/insert into messages/);
    expect(outcome.messagesInserted).toBe(1_000);
    expect(outcome.historyChunks).toBe(1);
    expect(await count(N)).toBe(1_000);
  });

  it('numbers seen for the first time in a transaction are created together: one statement per table, not three per number', async () => {
    const numbers = Array.from({ length: 6 }, () => numberRef());
    const inserts: string[] = [];
    const recording: KyselyPlugin = {
      transformQuery: (args) => {
        if (args.node.kind === 'InsertQueryNode') inserts.push(args.node.into?.table.identifier.name ?? '');
        return args.node;
      },
      transformResult: async (args) => args.result,
    };
    const outcome = await handle.db.withPlugin(recording).transaction().execute(async (trx) => {
      const stream = new EventStreamApplier(trx, { defaultTenantId: 'atlas' });
      for (const [i, N] of numbers.entries()) await stream.add(eventsOf(P.inboundMessage(N, { waId: '212633333333' }, `wamid.new-number.${i}`, AT + i, P.text('salam')) as Payload));
      return stream.finish();
    });
    expect(outcome.messagesInserted).toBe(6);
    expect(inserts.filter((t) => t === 'tenants')).toHaveLength(1);
    expect(inserts.filter((t) => t === 'whatsapp_numbers')).toHaveLength(1);
    expect(inserts.filter((t) => t === 'sync_state')).toHaveLength(1);
    const ids = numbers.map((N) => N.phoneNumberId);
    const created = await handle.db.selectFrom('whatsapp_numbers').select(['phone_number_id', 'tenant_id', 'display_phone_number']).where('phone_number_id', 'in', ids).orderBy('phone_number_id').execute();
    expect(created).toEqual(ids.map((id) => ({ phone_number_id: id, tenant_id: 'atlas', display_phone_number: '212522123456' })));
    const synced = await handle.db.selectFrom('sync_state').select('phone_number_id').where('phone_number_id', 'in', ids).execute();
    expect(synced).toHaveLength(6);
  });

  it('a slice that fails while the caller parses the next delivery fails the next add() or finish()', async () => {
    const N = numberRef();
    // PostgreSQL cannot store U+0000 in text: this chunk's INSERT fails (normalize would have replaced it).
    const poisoned = eventsOf(chunk(N, 'd')).map((e, i) => (i === 500 && e.kind === 'message' ? { ...e, message: { ...e.message, text: 'bad \u0000 text' } } : e));
    const failures: unknown[] = [];
    const onUnhandled = (reason: unknown) => failures.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      await expect(
        handle.db.transaction().execute(async (trx) => {
          const stream = new EventStreamApplier(trx, { defaultTenantId: 'atlas' });
          // Returns once the INSERT is on its way, before the database has refused it.
          await stream.add(poisoned);
          // Meanwhile the caller is busy (parsing); the refusal comes with its next call.
          await new Promise((resolve) => setTimeout(resolve, 50));
          await stream.add(eventsOf(chunk(N, 'e')));
          return stream.finish();
        }),
      ).rejects.toThrow(/0x00|null character|invalid byte sequence/i);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
    expect(failures).toEqual([]);
    expect(await count(N)).toBe(0);
  });
});
