import { sql, type KyselyPlugin } from 'kysely';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends } from './helpers/backends.js';
import { openMigratedDatabase, type MigratedDatabase } from './helpers/migrated-database.js';
import type { DatabaseHandle } from '../core/src/db/index.js';
import { InboxWriter } from '../core/src/webhooks/inbox-writer.js';
import { DEFAULT_BATCH_SIZE, InboxProcessor, MAX_INBOX_ATTEMPTS, MAX_RETRY_DELAY_MS, type ProcessorMetrics } from '../core/src/worker/inbox-processor.js';
import { HISTORY_LANES, historyLaneOf, partitionKeysOf } from '../core/src/whatsapp/normalize.js';
import { NUMBER_LOCK } from '../core/src/store/contact-identity.js';
import { envelopeSchema } from '../core/src/whatsapp/schemas.js';
import * as P from '../core/src/whatsapp/payloads.js';

/**
 * The inbox processor on its own database (no runtime): per-number order, the outcome recorded on
 * each delivery, transient failures retried with backoff, a failing delivery split event by event
 * with only the poisoned event set aside, and a delivery that keeps failing set aside after
 * MAX_INBOX_ATTEMPTS. Failures come from a follow-up hook and from a trigger that refuses one text,
 * so they are real database errors. Quick enough for mutation testing (docs/testing.md).
 */
// Each test takes about a second; 10 s lets a drain that never ends (a mutant) fail fast.
describe.each(backends())('inbox processor [%s]', { timeout: 10_000 }, (backend) => {
  let database: MigratedDatabase;
  let handle: DatabaseHandle;
  let writer: InboxWriter;
  let n = 0;
  const AT = Date.UTC(2026, 10, 20, 9, 0, 0);
  const numberRef = (): P.NumberRef => ({ wabaId: '102290129340398', phoneNumberId: `40654035224${String(++n).padStart(4, '0')}`, displayPhoneNumber: '212522123456' });

  /** Writes a delivery as the webhook route does; returns its partition keys. */
  const deliver = async (payload: unknown, raw = JSON.stringify(payload)) => {
    const parsed = envelopeSchema.safeParse(payload);
    const keys = parsed.success ? partitionKeysOf(parsed.data) : [];
    await writer.write({ rawBody: raw, partitionKeys: keys.length ? keys : ['unparsed'] });
    return keys;
  };
  const inbox = async (pn: string) =>
    (await handle.db.selectFrom('webhook_inbox').select(['id', 'attempts', 'last_error', 'outcome', sql<boolean>`processed_at is not null`.as('processed'), sql<number>`extract(epoch from (next_attempt_at - now()))::float8`.as('due_in')]).where('partition_key', '=', pn).orderBy('id').execute());
  const texts = async (pn: string) => (await handle.db.selectFrom('messages').select('text').where('phone_number_id', '=', pn).orderBy('provider_timestamp').execute()).map((r) => r.text);
  const setAside = async (pn: string) => handle.db.selectFrom('webhook_set_aside').select(['kind', 'reason', 'payload']).where('partition_key', '=', pn).orderBy('id').execute();
  const metrics = () => {
    const calls: Array<[string, ...unknown[]]> = [];
    const m: ProcessorMetrics = { processed: (o, c) => void calls.push(['processed', o, c]), unknown: (c) => void calls.push(['unknown', c]), setAside: (k) => void calls.push(['setAside', k]) };
    return { m, calls };
  };
  const logs: Array<{ level: number; msg: string; [k: string]: unknown }> = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void logs.push(JSON.parse(line)) });
  const text = (N: P.NumberRef, wamid: string, body: string, i = 0) => P.inboundMessage(N, { waId: '212612345678', name: 'Youssef' }, wamid, AT + i * 1000, P.text(body));
  /**
   * Another worker holding these numbers: their advisory locks taken in an open transaction; resolves
   * once they are held, with the call that lets them go (and waits for that transaction to end).
   */
  const holdNumbers = async (...keys: string[]): Promise<() => Promise<void>> => {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let locked!: () => void;
    const isLocked = new Promise<void>((resolve) => (locked = resolve));
    const holder = handle.db.transaction().execute(async (trx) => {
      for (const key of keys) await sql`select pg_advisory_xact_lock(hashtextextended(${`coex.inbox:${key}`}, 0))`.execute(trx);
      locked();
      await held;
    });
    await isLocked;
    return async () => {
      release();
      await holder;
    };
  };
  /** The database goes away at the claim (the advisory lock), before any delivery is taken. */
  const databaseGoneAtClaim: KyselyPlugin = {
    transformQuery: (args) => {
      if (args.node.kind === 'RawNode' && JSON.stringify(args.node).includes('pg_try_advisory_xact_lock')) throw new Error('database went away');
      return args.node;
    },
    transformResult: async (args) => args.result,
  };
  /**
   * A transaction held open once a query's result holds `marker` (its messages written): the plugin,
   * a promise resolved when it is held, and the call that lets it go.
   */
  const holdAfterResult = (marker: string) => {
    let reached!: () => void;
    const atHold = new Promise<void>((resolve) => (reached = resolve));
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const plugin: KyselyPlugin = {
      transformQuery: (args) => args.node,
      transformResult: async (args) => {
        if (JSON.stringify(args.result.rows).includes(marker)) {
          reached();
          await held;
        }
        return args.result;
      },
    };
    return { plugin, atHold, release };
  };
  /** An error as the pg driver reports it, with a SQLSTATE. */
  const pgError = (code: string, message = `error ${code}`) => Object.assign(new Error(message), { code });

  beforeAll(async () => {
    database = await openMigratedDatabase(backend);
    handle = database.handle;
    writer = new InboxWriter(handle.db);
    await handle.db.insertInto('tenants').values({ id: 'atlas', name: 'Atlas' }).onConflict((oc) => oc.doNothing()).execute();
    // A message text the database refuses (not transient: raise_exception, P0001).
    // And one it refuses as a deadlock would (transient: 40P01).
    await sql`create function refuse_poison() returns trigger language plpgsql as $$ begin if new.text = 'poison' then raise exception 'poison refused'; end if; if new.text = 'deadlock' then raise exception 'deadlock detected' using errcode = '40P01'; end if; return new; end $$`.execute(handle.db);
    await sql`create trigger refuse_poison before insert on messages for each row execute function refuse_poison()`.execute(handle.db);
  });
  afterAll(async () => {
    await database?.close();
  });

  it('applies a number’s deliveries in one batch, records the outcome on each, learns the WABA, counts', async () => {
    expect(DEFAULT_BATCH_SIZE).toBe(200);
    const N = numberRef();
    await deliver(text(N, 'wamid.1', 'salam', 0));
    await deliver(text(N, 'wamid.2', 'wach kayn?', 1));
    await deliver(P.statusUpdate(N, 'wamid.out', 'read', AT, '212612345678'));
    const { m, calls } = metrics();
    const processor = new InboxProcessor(handle.db, logger, 'atlas', m);
    expect(await processor.pendingCount()).toBeGreaterThanOrEqual(3);
    // The worker's view lists the number and counts each number's pending deliveries (it sizes its groups by them).
    expect((await processor.pendingWork()).find((w) => w.partitionKey === N.phoneNumberId)).toEqual({ partitionKey: N.phoneNumberId, pending: 3 });
    expect(await processor.drain(N.phoneNumberId)).toBe(3);
    expect(await texts(N.phoneNumberId)).toEqual(['salam', 'wach kayn?']);
    const rows = await inbox(N.phoneNumberId);
    expect(rows.map((r) => [r.processed, r.attempts, r.last_error])).toEqual([
      [true, 1, null],
      [true, 1, null],
      [true, 1, null],
    ]);
    expect(rows[0]!.outcome).toEqual({ batch: 3, inserted: 2, merged: 0, statuses: 1, mutations: 0, historyChunks: 0, contacts: 0, account: 0, unknown: 0 });
    expect(calls).toEqual([['processed', 'ok', 3]]);
    expect((await handle.db.selectFrom('whatsapp_numbers').select(['tenant_id', 'waba_id']).where('phone_number_id', '=', N.phoneNumberId).executeTakeFirstOrThrow())).toEqual({ tenant_id: 'atlas', waba_id: N.wabaId });
    expect((await processor.pendingWork()).map((w) => w.partitionKey)).not.toContain(N.phoneNumberId);
    // Nothing left: nothing to do.
    expect(await processor.drain(N.phoneNumberId)).toBe(0);
  });

  it('takes at most a batch per transaction and at most maxRows per drain', async () => {
    const N = numberRef();
    for (let i = 0; i < 5; i += 1) await deliver(text(N, `wamid.b${i}`, `m${i}`, i));
    const { m, calls } = metrics();
    const processor = new InboxProcessor(handle.db, logger, 'atlas', m, 2);
    const paced: number[] = [];
    const t0 = performance.now();
    expect(await processor.drain(N.phoneNumberId, 3, async (ms) => void paced.push(ms))).toBe(4);
    // Paced after each transaction with the time it took (within the drain's own time).
    const took = performance.now() - t0;
    expect(paced).toHaveLength(2);
    for (const ms of paced) expect(ms >= 0 && ms <= took).toBe(true);
    expect(calls).toEqual([['processed', 'ok', 2], ['processed', 'ok', 2]]);
    expect((await inbox(N.phoneNumberId)).map((r) => (r.outcome as { batch?: number } | null)?.batch ?? null)).toEqual([2, 2, 2, 2, null]);
    expect(await processor.drain(N.phoneNumberId)).toBe(1);
    // maxRows reached exactly: no further batch.
    const M = numberRef();
    for (let i = 0; i < 3; i += 1) await deliver(text(M, `wamid.x${i}`, `m${i}`, i));
    expect(await processor.drain(M.phoneNumberId, 2)).toBe(2);
  });

  it('stores a delivery that is no envelope as an unknown event, and counts it', async () => {
    const raw = '{"not":"an envelope"}';
    await writer.write({ rawBody: raw, partitionKeys: ['unparsed'] });
    await writer.write({ rawBody: 'not json at all', partitionKeys: ['unparsed'] });
    const { m, calls } = metrics();
    const processor = new InboxProcessor(handle.db, logger, 'atlas', m);
    expect(await processor.drain('unparsed')).toBeGreaterThanOrEqual(2);
    const unknown = await handle.db.selectFrom('unknown_events').select(['field', 'detail', 'payload', 'phone_number_id']).where('field', '=', '(envelope)').orderBy('id').execute();
    expect(unknown.slice(-2)).toEqual([
      { field: '(envelope)', detail: 'delivery is not a WhatsApp webhook envelope', payload: { not: 'an envelope' }, phone_number_id: null },
      { field: '(envelope)', detail: 'delivery is not a WhatsApp webhook envelope', payload: 'not json at all', phone_number_id: null },
    ]);
    expect(calls).toContainEqual(['unknown', expect.any(Number)]);
    // Each unknown event names its own delivery, even applied in one batch; text is kept to 10,000 characters.
    const long = `not json ${'x'.repeat(12_000)}`;
    await writer.write({ rawBody: '{"first":1}', partitionKeys: ['unparsed'] });
    await writer.write({ rawBody: long, partitionKeys: ['unparsed'] });
    const ids = (await inbox('unparsed')).filter((r) => !r.processed).map((r) => r.id);
    expect(ids).toHaveLength(2);
    await processor.drain('unparsed');
    const last = await handle.db.selectFrom('unknown_events').select(['inbox_id', 'payload']).where('field', '=', '(envelope)').orderBy('id', 'desc').limit(2).execute();
    expect(last.map((r) => String(r.inbox_id)).reverse()).toEqual(ids.map(String));
    expect(last[0]!.payload).toBe(long.slice(0, 10_000));
  });

  it('works without metrics, and with metrics that do not count set-asides', async () => {
    for (const m of [undefined, { processed: () => undefined, unknown: () => undefined }]) {
      const N = numberRef();
      await deliver(text(N, `wamid.nm${n}`, 'fine', 0));
      const bad = text(N, `wamid.np${n}`, 'poison', 1);
      await deliver(bad);
      await deliver({ entry: [{ id: N.wabaId, changes: [{ field: 'calls', value: { metadata: { display_phone_number: N.displayPhoneNumber, phone_number_id: N.phoneNumberId } } }] }], object: 'whatsapp_business_account' });
      const processor = new InboxProcessor(handle.db, logger, 'atlas', m);
      expect(await processor.drain(N.phoneNumberId)).toBe(3);
      expect((await inbox(N.phoneNumberId)).map((r) => [r.processed, r.attempts])).toEqual([
        [true, 1],
        [true, 1],
        [true, 1],
      ]);
      expect((await setAside(N.phoneNumberId)).map((r) => r.kind)).toEqual(['message']);
    }
  });

  it('a database failure before anything is claimed is thrown to the caller (the worker loop retries)', async () => {
    const N = numberRef();
    await deliver(text(N, 'wamid.f1', 'x'));
    const processor = new InboxProcessor(handle.db.withPlugin(databaseGoneAtClaim), logger, 'atlas');
    await expect(processor.drain(N.phoneNumberId)).rejects.toThrow('database went away');
    expect((await inbox(N.phoneNumberId)).map((r) => [r.processed, r.attempts])).toEqual([[false, 0]]);
  });

  it('a transient failure retries the batch after a backoff; the number waits, in order', async () => {
    const N = numberRef();
    await deliver(text(N, 'wamid.t1', 'one', 0));
    await deliver(text(N, 'wamid.t2', 'two', 1));
    const { m, calls } = metrics();
    const processor = new InboxProcessor(handle.db, logger, 'atlas', m);
    let hookCalls = 0;
    let failing = true;
    processor.onApplied(() => {
      hookCalls += 1;
      if (failing) throw pgError('40P01', 'deadlock detected');
    });
    expect(await processor.drain(N.phoneNumberId)).toBe(0);
    expect(hookCalls).toBe(1);
    expect(calls).toEqual([['processed', 'error', 2]]);
    let rows = await inbox(N.phoneNumberId);
    expect(rows.map((r) => [r.processed, r.attempts, r.last_error])).toEqual([
      [false, 1, 'deadlock detected'],
      [false, 1, 'deadlock detected'],
    ]);
    // 250 ms × 2^attempts: 500 ms after the first failure.
    for (const r of rows) expect(r.due_in).toBeLessThanOrEqual(0.5);
    expect(await texts(N.phoneNumberId)).toEqual([]);
    expect(logs.filter((l) => l.msg === 'inbox batch failed (transient); retrying soon').at(-1)).toMatchObject({ level: 40, partitionKey: N.phoneNumberId, deliveries: 2, attempts: 1, retryInMs: 500 });
    // Not due yet: the number waits (and so does a later delivery).
    await deliver(text(N, 'wamid.t3', 'three', 2));
    expect(await processor.drain(N.phoneNumberId)).toBe(0);
    expect(hookCalls).toBe(1);
    // Third and fourth attempts: 2 s and 4 s; then capped at MAX_RETRY_DELAY_MS (the fifth and later
    // are no longer retried as a batch but tried alone, with the same backoff).
    expect(MAX_RETRY_DELAY_MS).toBe(5_000);
    for (const [attempts, delay] of [[3, 2], [4, 4], [5, 5], [8, 5]] as const) {
      await sql`update webhook_inbox set attempts = ${attempts - 1}, next_attempt_at = now() where partition_key = ${N.phoneNumberId}`.execute(handle.db);
      await processor.drain(N.phoneNumberId);
      rows = await inbox(N.phoneNumberId);
      const due = rows.find((r) => !r.processed)!.due_in;
      expect(due, `attempt ${attempts}`).toBeLessThanOrEqual(delay);
      expect(due, `attempt ${attempts}`).toBeGreaterThan(delay - 1);
    }
    failing = false;
    await sql`update webhook_inbox set next_attempt_at = now() where partition_key = ${N.phoneNumberId}`.execute(handle.db);
    expect(await processor.drain(N.phoneNumberId)).toBe(3);
    expect(await texts(N.phoneNumberId)).toEqual(['one', 'two', 'three']);
  });

  it('a later delivery does not overtake one waiting for its retry', async () => {
    const N = numberRef();
    await deliver(text(N, 'wamid.w1', 'first', 0));
    await sql`update webhook_inbox set next_attempt_at = now() + interval '1 hour', attempts = 1 where partition_key = ${N.phoneNumberId}`.execute(handle.db);
    await deliver(text(N, 'wamid.w2', 'second', 1));
    const processor = new InboxProcessor(handle.db, logger, 'atlas');
    expect(await processor.drain(N.phoneNumberId)).toBe(0);
    expect(await texts(N.phoneNumberId)).toEqual([]);
  });

  it('classifies connection, resource and lock errors as transient, data errors not', async () => {
    // EAI_AGAIN: the database's host name could not be resolved for a moment (DNS), a Node error code with an underscore.
    const transient = ['08006', '53300', '57P01', '58000', '40001', '40P01', '55P03', 'ECONNRESET', 'ETIMEDOUT', 'EAI_AGAIN'];
    // '22008' has 08 inside, '0ECONN' and 'ECONN_1' hold a driver-like code amid other characters: not transient.
    const permanent = ['23505', '22P02', '22008', 'P0001', 'XX000', 'E1', 'econnreset', '0ECONN', 'ECONN_1'];
    const messages = ['Connection terminated unexpectedly', 'connection error', 'Connection closed', 'timeout exceeded when trying to connect', 'Client has encountered a connection error and is not queryable', 'connect ECONNREFUSED 127.0.0.1:5432'];
    const verdict = async (error: unknown) => {
      const N = numberRef();
      await deliver(text(N, `wamid.c${n}`, 'x'));
      const processor = new InboxProcessor(handle.db, logger, 'atlas');
      let hookCalls = 0;
      processor.onApplied(() => {
        hookCalls += 1;
        throw error;
      });
      await processor.drain(N.phoneNumberId);
      // Transient: the batch is retried later (one call). Otherwise the delivery is tried alone at once (two calls).
      return hookCalls === 1 ? 'transient' : 'permanent';
    };
    for (const code of transient) expect(await verdict(pgError(code)), code).toBe('transient');
    for (const code of permanent) expect(await verdict(pgError(code)), code).toBe('permanent');
    for (const message of messages) expect(await verdict(new Error(message)), message).toBe('transient');
    expect(await verdict(new Error('boom'))).toBe('permanent');
    expect(await verdict('Connection terminated')).toBe('transient');
    expect(await verdict(Object.assign(new Error('Connection terminated'), { code: 123 }))).toBe('transient');
    expect(await verdict(null)).toBe('permanent');
  });

  it('a batch holding a delivery at its last attempt is split, not retried whole; long errors are cut to 2,000 characters', async () => {
    const N = numberRef();
    await deliver(text(N, 'wamid.a1', 'one', 0));
    await deliver(text(N, 'wamid.a2', 'two', 1));
    await sql`update webhook_inbox set attempts = ${MAX_INBOX_ATTEMPTS - 1} where partition_key = ${N.phoneNumberId} and id = (select min(id) from webhook_inbox where partition_key = ${N.phoneNumberId})`.execute(handle.db);
    const processor = new InboxProcessor(handle.db, logger, 'atlas');
    let hookCalls = 0;
    processor.onApplied(() => {
      hookCalls += 1;
      throw pgError('40P01', `deadlock ${'x'.repeat(3000)}`);
    });
    expect(await processor.drain(N.phoneNumberId)).toBe(0);
    // The batch, then the first delivery alone, then its events one by one: three tries; a transient
    // error never sets a delivery aside.
    expect(hookCalls).toBe(3);
    const rows = await inbox(N.phoneNumberId);
    expect(rows.map((r) => [r.processed, r.attempts])).toEqual([
      [false, MAX_INBOX_ATTEMPTS],
      [false, 0],
    ]);
    expect(rows[0]!.last_error).toHaveLength(2000);
    expect(await setAside(N.phoneNumberId)).toEqual([]);
  });

  it('a delivery split out of a failing batch counts even when the next one has to wait', async () => {
    const N = numberRef();
    await deliver(text(N, 'wamid.s1', 'fine', 0));
    await deliver(text(N, 'wamid.s2', 'hook-poison', 1));
    await deliver(text(N, 'wamid.s3', 'after', 2));
    const processor = new InboxProcessor(handle.db, logger, 'atlas');
    processor.onApplied((outcome) => {
      if (outcome.live.some((l) => l.wamid === 'wamid.s2')) throw new Error('hook refuses this one');
    });
    expect(await processor.drain(N.phoneNumberId)).toBe(1);
    expect(await texts(N.phoneNumberId)).toEqual(['fine']);
    expect((await inbox(N.phoneNumberId)).map((r) => [r.processed, r.attempts])).toEqual([
      [true, 1],
      [false, 1],
      [false, 0],
    ]);
  });

  it('a transient error of one event, even applied alone, retries the whole delivery and sets nothing aside', async () => {
    const N = numberRef();
    const mixed = text(N, 'wamid.t1', 'poison', 0);
    const value = mixed.entry[0]!.changes[0]!.value as { messages: Array<Record<string, unknown>> };
    value.messages.push({ ...value.messages[0]!, id: 'wamid.t2', text: { body: 'deadlock' } });
    await deliver(mixed);
    const processor = new InboxProcessor(handle.db, logger, 'atlas');
    expect(await processor.drain(N.phoneNumberId)).toBe(0);
    const [row] = await inbox(N.phoneNumberId);
    expect([row!.processed, row!.attempts, row!.last_error]).toEqual([false, 1, 'deadlock detected']);
    expect(await setAside(N.phoneNumberId)).toEqual([]);
  });

  it('learns the WABA of every number a delivery names, from the entry that names it, also when applied event by event', async () => {
    const A = numberRef();
    const B = { ...numberRef(), wabaId: '222222222222222' };
    const one = text(A, 'wamid.w1', 'fine', 0);
    const oneValue = one.entry[0]!.changes[0]!.value as { messages: Array<Record<string, unknown>> };
    oneValue.messages.push({ ...oneValue.messages[0]!, id: 'wamid.w1p', text: { body: 'poison' } });
    const two = text(B, 'wamid.w2', 'hello', 0);
    const both = { object: 'whatsapp_business_account', entry: [one.entry[0]!, two.entry[0]!] };
    await deliver(both);
    const processor = new InboxProcessor(handle.db, logger, 'atlas');
    expect(await processor.drain(A.phoneNumberId)).toBe(1);
    expect(await processor.drain(B.phoneNumberId)).toBe(1);
    const waba = async (pn: string) => (await handle.db.selectFrom('whatsapp_numbers').select('waba_id').where('phone_number_id', '=', pn).executeTakeFirstOrThrow()).waba_id;
    // A's delivery was applied event by event (one message is set aside): the WABA is still learned.
    expect(await waba(A.phoneNumberId)).toBe(A.wabaId);
    expect(await waba(B.phoneNumberId)).toBe('222222222222222');
    // One entry naming two numbers: both learn it.
    const C = numberRef();
    const D = numberRef();
    const shared = text(C, 'wamid.w3', 'c', 0);
    shared.entry[0]!.changes.push(text(D, 'wamid.w4', 'd', 0).entry[0]!.changes[0]!);
    await deliver(shared);
    await processor.drain(C.phoneNumberId);
    await processor.drain(D.phoneNumberId);
    expect(await waba(C.phoneNumberId)).toBe(C.wabaId);
    expect(await waba(D.phoneNumberId)).toBe(D.wabaId);
  });

  it('parses a body naming several numbers once for all of them, and keeps no delivery naming one', async () => {
    const A = numberRef();
    const B = numberRef();
    const shared = text(A, 'wamid.p1', 'a', 0);
    shared.entry[0]!.changes.push(text(B, 'wamid.p2', 'b', 0).entry[0]!.changes[0]!);
    const sharedRaw = JSON.stringify(shared);
    const alone = text(A, 'wamid.p3', 'alone', 1);
    const aloneRaw = JSON.stringify(alone);
    await deliver(shared, sharedRaw);
    await deliver(alone, aloneRaw);
    const processor = new InboxProcessor(handle.db, logger, 'atlas');
    // JSON.parse calls on each body's text, counted while the processor works.
    const parses = new Map<string, number>();
    const parse = JSON.parse;
    JSON.parse = ((text: string, reviver?: Parameters<typeof JSON.parse>[1]) => {
      if (text === sharedRaw || text === aloneRaw) parses.set(text, (parses.get(text) ?? 0) + 1);
      return parse(text, reviver);
    }) as typeof JSON.parse;
    try {
      expect(await processor.drain(A.phoneNumberId)).toBe(2);
      expect(await processor.drain(B.phoneNumberId)).toBe(1);
    } finally {
      JSON.parse = parse;
    }
    expect(await texts(A.phoneNumberId)).toEqual(['a', 'alone']);
    expect(await texts(B.phoneNumberId)).toEqual(['b']);
    expect([parses.get(sharedRaw), parses.get(aloneRaw)]).toEqual([1, 1]);
    // Only the shared body stays in the parse cache (a single-number delivery is never read again).
    expect((processor as unknown as { parsed: Map<string, unknown> }).parsed.size).toBe(1);
  });

  describe('a number\'s history in lanes', () => {
    /** One customer for each history lane, in lane order. */
    const customers = (() => {
      const byLane = new Map<number, string>();
      for (let i = 0; byLane.size < HISTORY_LANES; i++) {
        const waId = `2126${String(i).padStart(8, '0')}`;
        if (!byLane.has(historyLaneOf(waId))) byLane.set(historyLaneOf(waId), waId);
      }
      return [...byLane].sort(([a], [b]) => a - b).map(([, waId]) => waId);
    })();
    const chunk = (N: P.NumberRef, tag: string) =>
      P.historyChunk(N, { phase: 0, chunkOrder: 1, progress: 100 }, customers.map((waId, t) => ({
        waId,
        messages: [0, 1, 2].map((m) => ({ wamid: `wamid.${tag}.${t}.${m}`, fromCustomer: m !== 1, at: AT - 86_400_000 + (t * 3 + m) * 1000, body: P.text(`${tag} ${t}.${m}`) })),
      })));

    it('a chunk is applied in its customers\' lanes (its progress by the first): each message once, the chunk counted once, its body read and parsed once', async () => {
      const N = numberRef();
      const body = chunk(N, 'hl');
      const raw = JSON.stringify(body);
      const keys = await deliver(body, raw);
      expect(keys).toEqual(customers.map((_, lane) => `${N.phoneNumberId}/h${lane}`));
      // The body's text as the database sends it back, and JSON.parse calls on it.
      let reads = 0;
      const countReads: KyselyPlugin = {
        transformQuery: (args) => args.node,
        transformResult: async (args) => {
          reads += args.result.rows.filter((r) => (r as { raw_body?: unknown }).raw_body === raw).length;
          return args.result;
        },
      };
      let parses = 0;
      const parse = JSON.parse;
      JSON.parse = ((text: string, reviver?: Parameters<typeof JSON.parse>[1]) => {
        if (text === raw) parses += 1;
        return parse(text, reviver);
      }) as typeof JSON.parse;
      const processor = new InboxProcessor(handle.db.withPlugin(countReads), logger, 'atlas');
      try {
        // The lane with the chunk's progress last: any order goes.
        for (const key of [...keys].reverse()) expect(await processor.drain(key)).toBe(1);
      } finally {
        JSON.parse = parse;
      }
      expect([reads, parses]).toEqual([1, 1]);
      const byCustomer = await handle.db
        .selectFrom('messages')
        .innerJoin('threads', 'threads.id', 'messages.thread_id')
        .innerJoin('contacts', 'contacts.id', 'threads.contact_id')
        .select(['contacts.wa_id', (eb) => eb.fn.count<string>('messages.id').as('n')])
        .where('messages.phone_number_id', '=', N.phoneNumberId)
        .groupBy('contacts.wa_id')
        .orderBy('contacts.wa_id')
        .execute();
      expect(byCustomer).toEqual([...customers].sort().map((waId) => ({ wa_id: waId, n: '3' })));
      const sync = await handle.db.selectFrom('sync_state').select(['history_chunks', 'history_messages', 'history_progress', 'history_status']).where('phone_number_id', '=', N.phoneNumberId).executeTakeFirstOrThrow();
      expect(sync).toEqual({ history_chunks: 1, history_messages: 3 * HISTORY_LANES, history_progress: 100, history_status: 'complete' });
      const number = await handle.db.selectFrom('whatsapp_numbers').select(['waba_id', 'display_phone_number']).where('phone_number_id', '=', N.phoneNumberId).executeTakeFirstOrThrow();
      expect(number).toEqual({ waba_id: N.wabaId, display_phone_number: N.displayPhoneNumber });
    });

    it('the lanes of a new number do not wait for each other: the number is created and committed outside their transactions', async () => {
      const N = numberRef();
      const keys = await deliver(chunk(N, 'nw'));
      // The first lane's transaction is held open once its messages are written.
      const { plugin, atHold, release } = holdAfterResult('"inserted_count"');
      const first = new InboxProcessor(handle.db.withPlugin(plugin), logger, 'atlas').drain(keys[0]!);
      try {
        await atHold;
        const others = Promise.all(keys.slice(1).map((key) => new InboxProcessor(handle.db, logger, 'atlas').drain(key)));
        const outcome = await Promise.race([others.then(() => 'applied'), new Promise((resolve) => setTimeout(resolve, 5_000, 'waiting for the first lane'))]);
        expect(outcome).toBe('applied');
        await others;
      } finally {
        release();
        await first;
      }
      const count = await handle.db.selectFrom('messages').select((eb) => eb.fn.countAll<string>().as('n')).where('phone_number_id', '=', N.phoneNumberId).executeTakeFirstOrThrow();
      expect(count.n).toBe(String(3 * HISTORY_LANES));
    });

    it('a lane holds its number\'s lock shared: a contact merge in flight (exclusive) holds it off', async () => {
      const N = numberRef();
      const keys = await deliver(chunk(N, 'lk'));
      let release!: () => void;
      const released = new Promise<void>((resolve) => (release = resolve));
      let locked!: () => void;
      const isLocked = new Promise<void>((resolve) => (locked = resolve));
      const merge = handle.db.transaction().execute(async (trx) => {
        await sql`select pg_advisory_xact_lock(${NUMBER_LOCK}, hashtext(${N.phoneNumberId}))`.execute(trx);
        locked();
        await released;
      });
      await isLocked;
      const lane = new InboxProcessor(handle.db, logger, 'atlas').drain(keys[1]!);
      try {
        expect(await Promise.race([lane.then(() => 'applied'), new Promise((resolve) => setTimeout(resolve, 300, 'waiting'))])).toBe('waiting');
      } finally {
        release();
        await merge;
      }
      expect(await lane).toBe(1);
    });

    it('the events kept for a chunk\'s other partitions count toward the parse cache\'s bound until each partition took its own', async () => {
      const N = numberRef();
      const body = chunk(N, 'cb');
      const size = JSON.stringify(body).length;
      const keys = await deliver(body);
      const processor = new InboxProcessor(handle.db, logger, 'atlas');
      const cache = processor as unknown as { parsedBytes: number; parsed: Map<string, { events?: Map<string, unknown[]> }> };
      expect(await processor.drain(keys[1]!)).toBe(1);
      const [entry] = [...cache.parsed.values()];
      expect([...entry!.events!.keys()]).toEqual([keys[0], ...keys.slice(2)]);
      expect(cache.parsedBytes).toBe(size * 9);
      for (const key of [keys[0]!, ...keys.slice(2)]) expect(await processor.drain(key)).toBe(1);
      expect(entry!.events!.size).toBe(0);
      expect(cache.parsedBytes).toBe(size);
    });

    it('a body left out of the claim as parsed already, but gone from the cache since, is read again: never parsed as empty', async () => {
      const N = numberRef();
      const keys = await deliver(chunk(N, 'ev'));
      const processor = new InboxProcessor(handle.db, logger, 'atlas');
      expect(await processor.drain(keys[0]!)).toBe(1);
      // The cache says the body is parsed when the claim asks, and has lost it when the apply looks
      // (other lanes of the process parsed bodies in between).
      const cache = (processor as unknown as { parsed: Map<string, unknown> }).parsed;
      const keep = [...cache.keys()];
      cache.get = () => undefined;
      cache.has = () => false;
      cache.keys = () => keep[Symbol.iterator]() as MapIterator<string>;
      const notEnvelopes = async () => (await handle.db.selectFrom('unknown_events').select((eb) => eb.fn.countAll<string>().as('n')).where('field', '=', '(envelope)').executeTakeFirstOrThrow()).n;
      const before = await notEnvelopes();
      // keys[1]: lane 1, customer 1's thread.
      expect(await processor.drain(keys[1]!)).toBe(1);
      const inLane = await handle.db.selectFrom('messages').select('wamid').where('phone_number_id', '=', N.phoneNumberId).where('wamid', 'like', 'wamid.ev.1.%').orderBy('wamid').execute();
      expect(inLane.map((r) => r.wamid)).toEqual(['wamid.ev.1.0', 'wamid.ev.1.1', 'wamid.ev.1.2']);
      expect(await notEnvelopes()).toBe(before);
    });
  });

  it('reads deliveries stored before bodies were kept apart (raw_body on the inbox row)', async () => {
    const N = numberRef();
    for (const [i, body] of ['old one', 'old two'].entries()) {
      await handle.db.insertInto('webhook_inbox').values({ partition_key: N.phoneNumberId, body_sha256: `legacy-${n}-${i}`, raw_body: JSON.stringify(text(N, `wamid.legacy${i}`, body, i)) }).execute();
    }
    expect(await new InboxProcessor(handle.db, logger, 'atlas').drain(N.phoneNumberId)).toBe(2);
    expect(await texts(N.phoneNumberId)).toEqual(['old one', 'old two']);
  });

  it('sets aside only the event the database refuses; the rest of its delivery and of its batch is stored', async () => {
    const N = numberRef();
    await deliver(text(N, 'wamid.p0', 'before', 0));
    const mixed = text(N, 'wamid.p1', 'good', 1);
    const value = mixed.entry[0]!.changes[0]!.value as { messages: Array<Record<string, unknown>> };
    value.messages.push({ ...value.messages[0]!, id: 'wamid.p2', text: { body: 'poison' } });
    await deliver(mixed);
    await deliver(text(N, 'wamid.p3', 'after', 3));
    const { m, calls } = metrics();
    const processor = new InboxProcessor(handle.db, logger, 'atlas', m);
    expect(await processor.drain(N.phoneNumberId)).toBe(3);
    expect(await texts(N.phoneNumberId)).toEqual(['before', 'good', 'after']);
    const aside = await setAside(N.phoneNumberId);
    expect(aside).toEqual([{ kind: 'message', reason: 'poison refused', payload: expect.objectContaining({ kind: 'message', phoneNumberId: N.phoneNumberId, message: expect.objectContaining({ wamid: 'wamid.p2', text: 'poison' }) }) }]);
    expect(calls).toEqual([['processed', 'ok', 1], ['setAside', 'message'], ['processed', 'ok', undefined], ['processed', 'ok', 1]]);
    expect((await inbox(N.phoneNumberId)).map((r) => [r.processed, r.attempts, r.last_error])).toEqual([
      [true, 1, null],
      [true, 1, null],
      [true, 1, null],
    ]);
    expect(logs.filter((l) => l.msg === 'inbox batch failed; applying its deliveries one by one').at(-1)).toMatchObject({ partitionKey: N.phoneNumberId, deliveries: 3, err: 'poison refused' });
    expect(logs.filter((l) => l.msg === 'webhook item set aside: it cannot be stored (the rest of its delivery was)').at(-1)).toMatchObject({ level: 50, partitionKey: N.phoneNumberId, kind: 'message', reason: 'poison refused' });
  });

  it('a delivery that fails even event by event is retried, then set aside after MAX_INBOX_ATTEMPTS', async () => {
    expect(MAX_INBOX_ATTEMPTS).toBe(5);
    const N = numberRef();
    await deliver(text(N, 'wamid.d1', 'doomed', 0));
    const { m, calls } = metrics();
    const processor = new InboxProcessor(handle.db, logger, 'atlas', m);
    processor.onApplied(() => {
      throw new Error('hook refuses');
    });
    const seen = [];
    for (let attempt = 1; attempt <= MAX_INBOX_ATTEMPTS; attempt += 1) {
      seen.push(await processor.drain(N.phoneNumberId));
      const [row] = await inbox(N.phoneNumberId);
      expect([row!.attempts, row!.processed, row!.last_error], `attempt ${attempt}`).toEqual([attempt, attempt === MAX_INBOX_ATTEMPTS, 'hook refuses']);
      await sql`update webhook_inbox set next_attempt_at = now() where partition_key = ${N.phoneNumberId}`.execute(handle.db);
    }
    expect(seen).toEqual([0, 0, 0, 0, 1]);
    const [row] = await inbox(N.phoneNumberId);
    expect(row!.outcome).toEqual({ dead: true });
    expect(await setAside(N.phoneNumberId)).toEqual([{ kind: 'delivery', reason: 'hook refuses | hook refuses', payload: null }]);
    // No payload is SQL NULL, not a JSON null.
    expect((await sql<{ n: number }>`select count(*)::int as n from webhook_set_aside where partition_key = ${N.phoneNumberId} and payload is null`.execute(handle.db)).rows[0]!.n).toBe(1);
    expect(calls).toEqual([['processed', 'error', undefined], ['processed', 'error', undefined], ['processed', 'error', undefined], ['processed', 'error', undefined], ['setAside', 'delivery'], ['processed', 'dead', undefined]]);
    expect(logs.filter((l) => l.msg === 'webhook delivery failed; will retry' && l.partitionKey === N.phoneNumberId).map((l) => [l.level, l.attempts, l.dead])).toEqual([[50, 1, false], [50, 2, false], [50, 3, false], [50, 4, false]]);
    expect(logs.filter((l) => l.msg === 'webhook delivery set aside after repeated failures' && l.partitionKey === N.phoneNumberId).map((l) => [l.level, l.attempts, l.dead])).toEqual([[50, 5, true]]);
    // The message itself was never stored (the hook's transaction rolled back); the number is free again.
    expect(await texts(N.phoneNumberId)).toEqual([]);
    await deliver(text(N, 'wamid.d2', 'next', 1));
    expect(await new InboxProcessor(handle.db, logger, 'atlas').drain(N.phoneNumberId)).toBe(1);
  });

  it('a number another worker takes between a failure and its retry event by event is left to it: nothing is recorded on the delivery', async () => {
    const N = numberRef();
    await deliver(text(N, 'wamid.t0', 'hello', 0));
    const processor = new InboxProcessor(handle.db, logger, 'atlas');
    let holding: Promise<() => Promise<void>> | undefined;
    processor.onApplied(async () => {
      if (holding) return;
      // Another worker asks for the number now; it gets it the moment this transaction fails.
      holding = holdNumbers(N.phoneNumberId);
      for (let i = 0; i < 500; i++) {
        const waiting = await sql<{ n: number }>`select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`.execute(handle.db);
        if (waiting.rows[0]!.n > 0) break;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      throw new Error('a follow-up hook refused the delivery');
    });
    expect(await processor.drain(N.phoneNumberId)).toBe(0);
    const release = await holding!;
    expect((await inbox(N.phoneNumberId)).map((r) => [r.processed, r.attempts, r.last_error])).toEqual([[false, 0, null]]);
    expect(await setAside(N.phoneNumberId)).toEqual([]);
    await release();
    // The other worker let it go without applying it: the next drain applies it.
    expect(await processor.drain(N.phoneNumberId)).toBe(1);
    expect(await texts(N.phoneNumberId)).toEqual(['hello']);
  });

  it('when even recording a failure fails (the database gone), that is logged and thrown to the worker loop; the delivery stays pending', async () => {
    const N = numberRef();
    await deliver(text(N, 'wamid.r0', 'hello', 0));
    /** The database refuses the update that records a failure on the inbox row. */
    const recordRefused: KyselyPlugin = {
      transformQuery: (args) => {
        const node = JSON.stringify(args.node);
        if (args.node.kind === 'UpdateQueryNode' && node.includes('webhook_inbox') && node.includes('last_error')) throw new Error('database went away');
        return args.node;
      },
      transformResult: async (args) => args.result,
    };
    const processor = new InboxProcessor(handle.db.withPlugin(recordRefused), logger, 'atlas');
    processor.onApplied(() => {
      throw new Error('a follow-up hook refused the delivery');
    });
    logs.length = 0;
    await expect(processor.drain(N.phoneNumberId)).rejects.toThrow('database went away');
    expect(logs.filter((l) => l.msg === 'could not record an inbox failure')).toEqual([expect.objectContaining({ level: 50, partitionKey: N.phoneNumberId, err: 'database went away' })]);
    expect((await inbox(N.phoneNumberId)).map((r) => [r.processed, r.attempts])).toEqual([[false, 0]]);
  });

  it('leaves a number another worker holds alone', async () => {
    const N = numberRef();
    await deliver(text(N, 'wamid.l1', 'held', 0));
    const processor = new InboxProcessor(handle.db, logger, 'atlas');
    const release = await holdNumbers(N.phoneNumberId);
    expect(await processor.drain(N.phoneNumberId)).toBe(0);
    await release();
    expect(await processor.drain(N.phoneNumberId)).toBe(1);
    expect((await inbox(N.phoneNumberId)).map((r) => [r.processed, r.attempts])).toEqual([[true, 1]]);
  });

  it('two workers creating their first numbers on a fresh database do not wait for each other: the default tenant is committed before either transaction', async () => {
    // The default tenant does not exist yet (a fresh install). One worker's transaction is held open
    // after its messages are written (a big first batch); another worker's first number must not wait
    // for it on the tenant's row (on a fresh database every lane of every worker did, for as long as
    // the first transaction lasted).
    const tenant = `fresh-${n}`;
    const [A, B] = [numberRef(), numberRef()];
    await deliver(text(A, 'wamid.fresh.a', 'first', 0));
    await deliver(text(B, 'wamid.fresh.b', 'second', 0));
    const { plugin, atHold, release } = holdAfterResult('"wamid.fresh.a"');
    const first = new InboxProcessor(handle.db.withPlugin(plugin), logger, tenant).drain(A.phoneNumberId);
    try {
      await atHold;
      const second = new InboxProcessor(handle.db, logger, tenant).drain(B.phoneNumberId);
      const outcome = await Promise.race([second.then(() => 'applied'), new Promise((resolve) => setTimeout(resolve, 5_000, 'waiting for the other worker'))]);
      release();
      expect(outcome).toBe('applied');
      await second;
    } finally {
      release();
      await first;
    }
    const owners = await handle.db.selectFrom('whatsapp_numbers').select(['phone_number_id', 'tenant_id']).where('phone_number_id', 'in', [A.phoneNumberId, B.phoneNumberId]).orderBy('phone_number_id').execute();
    expect(owners).toEqual([A, B].map((N) => ({ phone_number_id: N.phoneNumberId, tenant_id: tenant })));
    expect([...(await texts(A.phoneNumberId)), ...(await texts(B.phoneNumberId))]).toEqual(['first', 'second']);
  });

  it('a long drain reads on from the last delivery it applied; one committed late with a lower id waits for the next drain, which applies it', async () => {
    // Two group commits in flight: a delivery can take its id before another and commit after it has
    // been applied. A drain's later batches start past the deliveries it applied (not from the
    // number's first index entry, dead entries included); what it passed is the next drain's.
    const N = numberRef();
    const { rows: [reserved] } = await sql<{ id: string }>`select nextval('webhook_inbox_id_seq')::text as id`.execute(handle.db);
    for (let i = 0; i < 3; i += 1) await deliver(text(N, `wamid.late.${i}`, `in order ${i}`, i));
    const processor = new InboxProcessor(handle.db, logger, 'atlas', undefined, 1);
    let batches = 0;
    processor.onApplied(async (_outcome, trx) => {
      // After the first batch, the late delivery commits with the id it took before the others.
      if (++batches !== 1) return;
      const late = JSON.stringify(text(N, 'wamid.late.x', 'committed late', 9));
      await sql`insert into webhook_inbox (id, partition_key, body_sha256, raw_body) values (${reserved!.id}::bigint, ${N.phoneNumberId}, ${'late-' + reserved!.id}, ${late})`.execute(trx);
    });
    expect(await processor.drain(N.phoneNumberId)).toBe(3);
    expect(await texts(N.phoneNumberId)).toEqual(['in order 0', 'in order 1', 'in order 2']);
    expect((await inbox(N.phoneNumberId)).map((r) => r.processed)).toEqual([false, true, true, true]);
    // The next drain (the worker's next pass: the number is still pending) starts from the first entry.
    expect(await processor.drain(N.phoneNumberId)).toBe(1);
    expect(await texts(N.phoneNumberId)).toEqual(['in order 0', 'in order 1', 'in order 2', 'committed late']);
    expect((await inbox(N.phoneNumberId)).map((r) => r.processed)).toEqual([true, true, true, true]);
  });

  describe('several numbers in one transaction (drainMany)', () => {
    it('reads each number on from the last delivery it applied, like drain', async () => {
      const [A, B] = [numberRef(), numberRef()];
      const { rows: [reserved] } = await sql<{ id: string }>`select nextval('webhook_inbox_id_seq')::text as id`.execute(handle.db);
      for (let i = 0; i < 3; i += 1) for (const N of [A, B]) await deliver(text(N!, `wamid.gl.${i}`, `${N!.phoneNumberId.slice(-2)}-${i}`, i));
      const processor = new InboxProcessor(handle.db, logger, 'atlas', undefined, 1);
      let batches = 0;
      processor.onApplied(async (_outcome, trx) => {
        if (++batches !== 1) return;
        const late = JSON.stringify(text(A!, 'wamid.gl.late', 'committed late', 9));
        await sql`insert into webhook_inbox (id, partition_key, body_sha256, raw_body) values (${reserved!.id}::bigint, ${A!.phoneNumberId}, ${'late-' + reserved!.id}, ${late})`.execute(trx);
      });
      expect(await processor.drainMany([A!.phoneNumberId, B!.phoneNumberId])).toBe(6);
      expect((await inbox(A!.phoneNumberId)).map((r) => r.processed)).toEqual([false, true, true, true]);
      expect(await processor.drainMany([A!.phoneNumberId, B!.phoneNumberId])).toBe(1);
      expect((await texts(A!.phoneNumberId)).at(-1)).toBe('committed late');
    });

    it('applies the due deliveries of every number of the group together, each number in its order; learns each WABA', async () => {
      const [A, B, C] = [numberRef(), numberRef(), numberRef()];
      for (let i = 0; i < 3; i += 1) for (const N of [A, B, C]) await deliver(text(N!, `wamid.g${i}`, `${N!.phoneNumberId.slice(-2)}-${i}`, i));
      const { m, calls } = metrics();
      const processor = new InboxProcessor(handle.db, logger, 'atlas', m);
      const applied: number[] = [];
      processor.onApplied((outcome) => void applied.push(outcome.messagesInserted));
      const paced: number[] = [];
      const t0 = performance.now();
      expect(await processor.drainMany([A!.phoneNumberId, B!.phoneNumberId, C!.phoneNumberId], undefined, async (ms) => void paced.push(ms))).toBe(9);
      const took = performance.now() - t0;
      // One transaction for the three numbers: one hook call, one count, one pace.
      expect(applied).toEqual([9]);
      expect(calls).toEqual([['processed', 'ok', 9]]);
      expect(paced).toHaveLength(1);
      // The time the transaction took: within the drain's own time.
      expect(paced[0]).toBeGreaterThanOrEqual(0);
      expect(paced[0]).toBeLessThanOrEqual(took);
      for (const N of [A, B, C]) {
        const suffix = N!.phoneNumberId.slice(-2);
        expect(await texts(N!.phoneNumberId)).toEqual([`${suffix}-0`, `${suffix}-1`, `${suffix}-2`]);
        expect((await inbox(N!.phoneNumberId)).map((r) => [r.processed, (r.outcome as { batch: number }).batch])).toEqual([[true, 9], [true, 9], [true, 9]]);
        expect((await handle.db.selectFrom('whatsapp_numbers').select('waba_id').where('phone_number_id', '=', N!.phoneNumberId).executeTakeFirstOrThrow()).waba_id).toBe(N!.wabaId);
      }
      // The same wamid on two numbers is two messages (the key of a message is its number and its wamid).
      expect(await handle.db.selectFrom('messages').select('phone_number_id').where('wamid', '=', 'wamid.g0').where('phone_number_id', 'in', [A!.phoneNumberId, B!.phoneNumberId, C!.phoneNumberId]).execute()).toHaveLength(3);
    });

    it('shares a transaction out between the numbers, and drains each number to the end over several', async () => {
      const [A, B] = [numberRef(), numberRef()];
      for (let i = 0; i < 5; i += 1) await deliver(text(A!, `wamid.s${i}`, `a${i}`, i));
      await deliver(text(B!, 'wamid.s0', 'b0', 0));
      const { m, calls } = metrics();
      // A batch of 2 per number: A needs three transactions, B is done in the first.
      const processor = new InboxProcessor(handle.db, logger, 'atlas', m, 2);
      expect(await processor.drainMany([A!.phoneNumberId, B!.phoneNumberId])).toBe(6);
      expect(calls).toEqual([['processed', 'ok', 3], ['processed', 'ok', 2], ['processed', 'ok', 1]]);
      expect(await texts(A!.phoneNumberId)).toEqual(['a0', 'a1', 'a2', 'a3', 'a4']);
      expect(await texts(B!.phoneNumberId)).toEqual(['b0']);
      // maxRows bounds the drain.
      const [C, D] = [numberRef(), numberRef()];
      for (let i = 0; i < 4; i += 1) for (const N of [C, D]) await deliver(text(N!, `wamid.t${i}`, `t${i}`, i));
      expect(await processor.drainMany([C!.phoneNumberId, D!.phoneNumberId], 4)).toBe(4);
      expect(await processor.drainMany([C!.phoneNumberId, D!.phoneNumberId])).toBe(4);
      // A single number takes the one-number path.
      const E = numberRef();
      await deliver(text(E, 'wamid.e0', 'e0', 0));
      expect(await processor.drainMany([E.phoneNumberId])).toBe(1);
    });

    it('gives each number of a small group up to a whole batch in one transaction', async () => {
      const [A, B] = [numberRef(), numberRef()];
      for (let i = 0; i < 21; i += 1) await deliver(text(A!, `wamid.w${i}`, `w${i}`, i));
      await deliver(text(B!, 'wamid.w0', 'b', 0));
      const { m, calls } = metrics();
      const processor = new InboxProcessor(handle.db, logger, 'atlas', m);
      expect(await processor.drainMany([A!.phoneNumberId, B!.phoneNumberId])).toBe(22);
      expect(calls).toEqual([['processed', 'ok', 22]]);
    });

    it('shares 2,000 deliveries a transaction between the numbers of a large group: 11 numbers, one with 183, take 182 of it', async () => {
      const numbers = Array.from({ length: 11 }, () => numberRef());
      const [big, ...small] = numbers;
      for (let i = 0; i < 183; i += 1) await deliver(text(big!, `wamid.g${i}`, `g${i}`, i));
      for (const N of small) await deliver(text(N, 'wamid.g0', 's', 0));
      const perTransaction: number[] = [];
      const processor = new InboxProcessor(handle.db, logger, 'atlas');
      processor.onApplied((outcome) => void perTransaction.push(outcome.messagesInserted));
      expect(await processor.drainMany(numbers.map((N) => N.phoneNumberId))).toBe(193);
      // ceil(2,000 / 11) = 182 of the large number with the 10 others, then its last one.
      expect(perTransaction).toEqual([192, 1]);
    });

    it('a number that fails even alone after its group failed is logged, and the others of the group still go through', async () => {
      const [A, B] = [numberRef(), numberRef()];
      for (const N of [A, B]) await deliver(text(N!, 'wamid.f0', 'x', 0));
      const processor = new InboxProcessor(handle.db, logger, 'atlas');
      let groupSeen = false;
      processor.onApplied(() => {
        if (!groupSeen) {
          groupSeen = true;
          throw new Error('a follow-up hook refused the group');
        }
      });
      // The database goes away for A's drain alone.
      const drain = processor.drain.bind(processor);
      processor.drain = async (key, ...rest) => {
        if (key === A!.phoneNumberId) throw new Error('database went away');
        return drain(key, ...rest);
      };
      logs.length = 0;
      expect(await processor.drainMany([A!.phoneNumberId, B!.phoneNumberId])).toBe(1);
      expect(logs.filter((l) => l.msg === 'inbox drain failed; retrying')).toEqual([expect.objectContaining({ level: 40, partitionKey: A!.phoneNumberId, err: 'database went away' })]);
      expect((await inbox(A!.phoneNumberId)).map((r) => [r.processed, r.attempts])).toEqual([[false, 0]]);
      expect((await inbox(B!.phoneNumberId)).map((r) => r.processed)).toEqual([true]);
    });

    it('a database failure before anything is claimed is thrown to the caller', async () => {
      const [A, B] = [numberRef(), numberRef()];
      for (const N of [A, B]) await deliver(text(N!, 'wamid.u0', 'x', 0));
      const processor = new InboxProcessor(handle.db.withPlugin(databaseGoneAtClaim), logger, 'atlas');
      await expect(processor.drainMany([A!.phoneNumberId, B!.phoneNumberId])).rejects.toThrow('database went away');
      for (const N of [A, B]) expect((await inbox(N!.phoneNumberId)).map((r) => [r.processed, r.attempts])).toEqual([[false, 0]]);
    });

    it('a group held entirely by other workers does nothing; a waiting number ahead of a due one in the group is left out', async () => {
      const [A, B, W, X] = [numberRef(), numberRef(), numberRef(), numberRef()];
      for (const N of [A, B, W, X]) await deliver(text(N!, 'wamid.k0', 'first', 0));
      const release = await holdNumbers(A!.phoneNumberId, B!.phoneNumberId);
      const { m, calls } = metrics();
      const processor = new InboxProcessor(handle.db, logger, 'atlas', m);
      const paced: number[] = [];
      expect(await processor.drainMany([A!.phoneNumberId, B!.phoneNumberId], undefined, async (ms) => void paced.push(ms))).toBe(0);
      expect([paced, calls]).toEqual([[], []]);
      await release();
      // W (first in the group's order) waits for a retry: X is applied in the group's transaction, no fallback.
      const [waiting] = await inbox(W!.phoneNumberId);
      await sql`update webhook_inbox set next_attempt_at = now() + interval '1 hour' where id = ${waiting!.id}`.execute(handle.db);
      const fallbacks = logs.filter((l) => l.msg === 'inbox group failed; applying its numbers one by one').length;
      expect(await processor.drainMany([W!.phoneNumberId, X!.phoneNumberId])).toBe(1);
      expect(logs.filter((l) => l.msg === 'inbox group failed; applying its numbers one by one')).toHaveLength(fallbacks);
      expect(calls).toEqual([['processed', 'ok', 1]]);
      expect(await texts(X!.phoneNumberId)).toEqual(['first']);
    });

    it('a failing number does not hold back the others of its group: each is drained alone, the bad event set aside', async () => {
      const [A, B] = [numberRef(), numberRef()];
      await deliver(text(A!, 'wamid.f0', 'fine', 0));
      await deliver(text(B!, 'wamid.f0', 'poison', 0));
      await deliver(text(B!, 'wamid.f1', 'after', 1));
      const processor = new InboxProcessor(handle.db, logger, 'atlas');
      expect(await processor.drainMany([A!.phoneNumberId, B!.phoneNumberId])).toBe(3);
      expect(await texts(A!.phoneNumberId)).toEqual(['fine']);
      expect(await texts(B!.phoneNumberId)).toEqual(['after']);
      expect((await setAside(B!.phoneNumberId)).map((r) => r.reason)).toEqual(['poison refused']);
      expect(await setAside(A!.phoneNumberId)).toEqual([]);
      expect(logs.filter((l) => l.msg === 'inbox group failed; applying its numbers one by one').at(-1)).toMatchObject({ partitionKeys: 2, deliveries: 3, err: 'poison refused' });
    });

    it('skips a number another worker holds and one waiting for a retry, and applies the rest', async () => {
      const [A, B, C] = [numberRef(), numberRef(), numberRef()];
      for (const N of [A, B, C]) await deliver(text(N!, 'wamid.h0', 'first', 0));
      await deliver(text(C!, 'wamid.h1', 'second', 1));
      // C's first delivery waits for a retry: its second must not overtake it.
      const [waiting] = await inbox(C!.phoneNumberId);
      await sql`update webhook_inbox set next_attempt_at = now() + interval '1 hour' where id = ${waiting!.id}`.execute(handle.db);
      const processor = new InboxProcessor(handle.db, logger, 'atlas');
      const release = await holdNumbers(A!.phoneNumberId);
      expect(await processor.drainMany([A!.phoneNumberId, B!.phoneNumberId, C!.phoneNumberId])).toBe(1);
      expect(await texts(B!.phoneNumberId)).toEqual(['first']);
      expect(await texts(A!.phoneNumberId)).toEqual([]);
      expect(await texts(C!.phoneNumberId)).toEqual([]);
      await release();
      expect(await processor.drainMany([A!.phoneNumberId, C!.phoneNumberId])).toBe(1);
      expect(await texts(A!.phoneNumberId)).toEqual(['first']);
      // Nothing of the group is free: nothing is done, nothing is claimed, nothing counted, and there is nothing to pace.
      const { m, calls } = metrics();
      const paced: number[] = [];
      expect(await new InboxProcessor(handle.db, logger, 'atlas', m).drainMany([A!.phoneNumberId, C!.phoneNumberId], undefined, async (ms) => void paced.push(ms))).toBe(0);
      expect(paced).toEqual([]);
      expect(calls).toEqual([]);
      expect((await inbox(C!.phoneNumberId)).map((r) => r.processed)).toEqual([false, false]);
    });
  });
});
