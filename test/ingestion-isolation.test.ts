import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import pg from 'pg';
import { backends } from './helpers/backends.js';
import { startTestServer, type TestServer } from './helpers/runtime.js';
import { waitFor } from './helpers/wait.js';
import * as P from '../core/src/whatsapp/payloads.js';
import { TRUNCATED } from '../core/src/whatsapp/sanitize.js';

/*
 * Issue 12, "never acknowledged and dropped" and "no head-of-line blocking": hostile but signed
 * deliveries, items the database refuses, transient failures. Each case first reproduced the loss or
 * the stall against the per-delivery worker (a whole delivery set aside; 503 for bystanders).
 */

const N: P.NumberRef = { wabaId: '102290129340398', phoneNumberId: '106540352242922', displayPhoneNumber: '212522123456' };
const OTHER: P.NumberRef = { wabaId: '102290129340398', phoneNumberId: '106540352242933', displayPhoneNumber: '212522123499' };
const t0 = Date.UTC(2026, 10, 24, 9, 0, 0);

/** One `messages` change carrying several messages (Meta batches them like this under load). */
function batch(n: P.NumberRef, messages: Array<Record<string, unknown>>, contacts: Array<Record<string, unknown>>) {
  return {
    object: 'whatsapp_business_account',
    entry: [{ id: n.wabaId, changes: [{ field: 'messages', value: { messaging_product: 'whatsapp', metadata: { display_phone_number: n.displayPhoneNumber, phone_number_id: n.phoneNumberId }, contacts, messages } }] }],
  };
}

const msg = (wamid: string, from: string, body: string, timestamp = String(t0 / 1000)) => ({ from, id: wamid, timestamp, type: 'text', text: { body } });

async function stored(s: TestServer, wamid: string) {
  return s.runtime.db.selectFrom('messages').select(['wamid', 'text', 'payload']).where('wamid', '=', wamid).executeTakeFirst();
}

function deeplyNested(depth: number): string {
  return '['.repeat(depth) + ']'.repeat(depth);
}

describe.each(backends())('ingestion isolates what cannot be stored [%s]', (backend) => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer(backend);
  });
  afterAll(async () => {
    await s?.close();
  });

  it('stores the valid items of a delivery beside NUL, lone surrogates, an impossible timestamp and absurd nesting', async () => {
    // Built as text: JSON.stringify would not write a lone surrogate escape or 100,000 brackets for us.
    const valid = msg('wamid.ISO-OK', '212600000001', 'salam, wach kayn l9ftan?');
    const withNul = msg('wamid.ISO-NUL', '212600000002', 'x');
    const withSurrogate = msg('wamid.ISO-SUR', '212600000003', 'y');
    const badTime = msg('wamid.ISO-TIME', '212600000004', 'z', '99999999999999999999');
    const nested = { ...msg('wamid.ISO-DEEP', '212600000005', 'deep'), extra: '__DEEP__' };
    const body = JSON.stringify(
      batch(N, [valid, withNul, withSurrogate, badTime, nested], [
        { profile: { name: 'Amina' }, wa_id: '212600000001' },
        { profile: { name: '__SURNAME__' }, wa_id: '212600000003' },
      ]),
    )
      .replace('"text":{"body":"x"}', '"text":{"body":"a\\u0000b"}')
      .replace('"text":{"body":"y"}', '"text":{"body":"c\\ud800d"}')
      .replace('"__SURNAME__"', '"Kh\\udc00alid"')
      .replace('"__DEEP__"', deeplyNested(100_000));
    expect((await s.postWebhook(body)).status).toBe(200);
    await s.runtime.waitForInboxDrained(60_000);

    expect((await stored(s, 'wamid.ISO-OK'))?.text).toBe('salam, wach kayn l9ftan?');
    expect((await stored(s, 'wamid.ISO-NUL'))?.text).toBe('a\uFFFDb');
    expect((await stored(s, 'wamid.ISO-SUR'))?.text).toBe('c\uFFFDd');
    const deep = await stored(s, 'wamid.ISO-DEEP');
    expect(deep?.text).toBe('deep');
    expect(JSON.stringify(deep?.payload)).toContain(TRUNCATED);
    const contact = await s.runtime.db.selectFrom('contacts').select('profile_name').where('wa_id', '=', '212600000003').executeTakeFirst();
    expect(contact?.profile_name).toBe('Kh\uFFFDalid');
    // The impossible timestamp is kept as an unknown event with its reason, not dropped with the rest.
    expect(await stored(s, 'wamid.ISO-TIME')).toBeUndefined();
    const unknown = await s.runtime.db.selectFrom('unknown_events').select(['detail', 'payload']).where('detail', 'like', '%timestamp out of range%').execute();
    expect(unknown.length).toBe(1);
    expect(JSON.stringify(unknown[0]!.payload)).toContain('wamid.ISO-TIME');
    // The original bytes stay in the inbox, untouched.
    // (A delivery naming one number keeps its bytes in its inbox row; one naming several, in webhook_bodies.)
    const raw = await s.runtime.db.selectFrom('webhook_inbox').select('raw_body').where('raw_body', 'like', '%ISO-NUL%').executeTakeFirstOrThrow();
    expect(raw.raw_body).toContain('a\\u0000b');
    const dead = await s.runtime.db.selectFrom('webhook_inbox').select('outcome').where('processed_at', 'is not', null).execute();
    expect(dead.length).toBeGreaterThan(0);
    expect(dead.some((r) => JSON.stringify(r.outcome).includes('dead'))).toBe(false);
  });

  it('a phone_number_id carrying NUL never fails the deliveries committed with it', async () => {
    const bad = JSON.stringify(P.inboundMessage(N, { waId: '212611111111' }, 'wamid.BADPNID', t0, P.text('bad'))).replace(`"phone_number_id":"${N.phoneNumberId}"`, '"phone_number_id":"1065\\u0000403"');
    const goods = Array.from({ length: 40 }, (_, i) => P.inboundMessage(OTHER, { waId: `21262222${String(i).padStart(4, '0')}` }, `wamid.BYSTANDER-${i}`, t0 + i * 1000, P.text(`ok ${i}`)));
    const statuses = await Promise.all([...goods.map((g) => s.postWebhook(g)), ...Array.from({ length: 5 }, (_, i) => s.postWebhook(bad.replace('wamid.BADPNID', `wamid.BADPNID-${i}`)))].map(async (r) => (await r).status));
    expect(statuses.filter((x) => x !== 200)).toEqual([]);
    await s.runtime.waitForInboxDrained(60_000);
    const bystanders = await s.runtime.db.selectFrom('messages').select((eb) => eb.fn.countAll<string>().as('n')).where('wamid', 'like', 'wamid.BYSTANDER-%').executeTakeFirstOrThrow();
    expect(Number(bystanders.n)).toBe(40);
    // Kept, with the reason, under the WABA's partition (an id that cannot key a partition never does).
    const kept = await s.runtime.db.selectFrom('unknown_events').select(['detail']).where('detail', 'like', '%phone_number_id must be%').execute();
    expect(kept.length).toBe(5);
    const partitions = await s.runtime.db.selectFrom('webhook_inbox').select('partition_key').distinct().execute();
    for (const p of partitions) expect(p.partition_key).toMatch(/^(\d{1,32}|waba:\d{1,32}|unparsed)$/);
  });

  it('a delivery the inbox cannot store is refused alone, not with the deliveries of its group commit', async () => {
    await sql`create or replace function coex_test_refuse_body() returns trigger language plpgsql as $$
      begin
        -- Slow inserts: deliveries queue up behind each one and are committed in groups.
        perform pg_sleep(0.02);
        if new.raw_body like '%POISON-INSERT%' then raise exception 'refused body'; end if;
        return new;
      end $$`.execute(s.runtime.db);
    // Each of these deliveries names one number: its bytes go into its inbox row.
    await sql`create trigger coex_test_refuse_body before insert on webhook_inbox for each row execute function coex_test_refuse_body()`.execute(s.runtime.db);
    try {
      const goods = Array.from({ length: 60 }, (_, i) => P.inboundMessage(OTHER, { waId: '212677777777' }, `wamid.GROUP-${i}`, t0 + i * 1000, P.text(`fine ${i}`)));
      const bads = Array.from({ length: 6 }, (_, i) => P.inboundMessage(OTHER, { waId: '212677777778' }, `wamid.GROUP-BAD-${i}`, t0, P.text('POISON-INSERT')));
      const mixed = goods.flatMap((g, i) => (i % 10 === 5 ? [g, bads[(i - 5) / 10]!] : [g]));
      const results = await Promise.all(mixed.map(async (b) => ({ bad: JSON.stringify(b).includes('POISON-INSERT'), status: (await s.postWebhook(b)).status })));
      expect(results.filter((r) => !r.bad && r.status !== 200)).toEqual([]);
      expect(results.filter((r) => r.bad).map((r) => r.status)).toEqual([503, 503, 503, 503, 503, 503]);
      await s.runtime.waitForInboxDrained(60_000);
      const applied = await s.runtime.db.selectFrom('messages').select((eb) => eb.fn.countAll<string>().as('n')).where('wamid', 'like', 'wamid.GROUP-%').executeTakeFirstOrThrow();
      expect(Number(applied.n)).toBe(60);
    } finally {
      await sql`drop trigger if exists coex_test_refuse_body on webhook_inbox`.execute(s.runtime.db);
    }
  });

  it('a group commit that stalls does not hold back the deliveries that arrive after it', async () => {
    // A delivery whose body is being written by another, uncommitted transaction (a retry racing
    // its first copy) waits on the unique index; with one group in flight, every later delivery
    // waited behind it.
    const stuck = JSON.stringify(P.inboundMessage(OTHER, { waId: '212677777779' }, 'wamid.STALL-1', t0, P.text('stalled')));
    const sha = createHash('sha256').update(stuck).digest('hex');
    const holder = new pg.Client({ connectionString: s.runtime.handle.connectionString });
    await holder.connect();
    await holder.query('begin');
    await holder.query('insert into webhook_inbox (partition_key, body_sha256, raw_body) values ($1, $2, $3)', [OTHER.phoneNumberId, sha, stuck]);
    let stalledStatus: number | null = null;
    let stalled: Promise<number> | undefined;
    try {
      stalled = s.postWebhook(stuck).then((r) => (stalledStatus = r.status));
      await new Promise((r) => setTimeout(r, 300));
      const next = Promise.all(
        Array.from({ length: 5 }, (_, i) => s.postWebhook(P.inboundMessage(OTHER, { waId: '212677777780' }, `wamid.STALL-AFTER-${i}`, t0 + i, P.text(`next ${i}`)))),
      ).then((rs) => rs.map((r) => r.status));
      // Generous for a loaded machine; behind the stalled group they would wait forever.
      const timedOut = new Promise<string>((r) => setTimeout(() => r('still waiting behind the stalled delivery'), 30_000).unref());
      expect(await Promise.race([next, timedOut])).toEqual([200, 200, 200, 200, 200]);
      expect(stalledStatus).toBeNull();
    } finally {
      await holder.query('rollback');
      await holder.end();
    }
    expect(await stalled).toBe(200);
  });

  it('stores a delivery once however many numbers it names', async () => {
    const numbers = Array.from({ length: 12 }, (_, i) => ({ wabaId: N.wabaId, phoneNumberId: `3000000000${String(i).padStart(2, '0')}`, displayPhoneNumber: `2125000000${i}` }));
    const body = {
      object: 'whatsapp_business_account',
      entry: [{ id: N.wabaId, changes: numbers.map((n, i) => P.inboundMessage(n, { waId: '212633333333' }, `wamid.MULTI-${i}`, t0, P.text('hi')).entry[0]!.changes[0]!) }],
    };
    expect((await s.postWebhook(body)).status).toBe(200);
    expect((await s.postWebhook(body)).status).toBe(200); // Meta's retry: absorbed
    await s.runtime.waitForInboxDrained(60_000);
    const rows = await s.runtime.db.selectFrom('webhook_inbox').select(['body_id']).where('partition_key', 'in', numbers.map((n) => n.phoneNumberId)).execute();
    expect(rows.length).toBe(12);
    expect(new Set(rows.map((r) => r.body_id)).size).toBe(1);
    const bodies = await s.runtime.db.selectFrom('webhook_bodies').select('id').where('raw_body', 'like', '%wamid.MULTI-0%').execute();
    expect(bodies.length).toBe(1);
    const applied = await s.runtime.db.selectFrom('messages').select('wamid').where('wamid', 'like', 'wamid.MULTI-%').execute();
    expect(applied.length).toBe(12);
  });

  it('sets aside only the item the database refuses; its neighbours in the delivery and the batch are stored', async () => {
    // A trigger stands in for any row PostgreSQL will not take (a constraint, a type, a corrupt value).
    await sql`create or replace function coex_test_refuse() returns trigger language plpgsql as $$
      begin if new.text = 'POISON' then raise exception 'refused by a test trigger'; end if; return new; end $$`.execute(s.runtime.db);
    await sql`create trigger coex_test_refuse before insert on messages for each row execute function coex_test_refuse()`.execute(s.runtime.db);
    try {
      const first = batch(N, [msg('wamid.SET-A1', '212644444401', 'before'), msg('wamid.SET-POISON', '212644444402', 'POISON'), msg('wamid.SET-A2', '212644444403', 'after')], [{ profile: { name: 'A' }, wa_id: '212644444401' }]);
      const later = Array.from({ length: 10 }, (_, i) => P.inboundMessage(N, { waId: '212644444499' }, `wamid.SET-LATER-${i}`, t0 + i, P.text(`later ${i}`)));
      // And a history chunk with one refused message: set aside by its history lane, shown under its number.
      const history = P.historyChunk(N, { phase: 0, chunkOrder: 1, progress: 10 }, [
        { waId: '212644444410', messages: ['old one', 'POISON', 'old two'].map((body, i) => ({ wamid: `wamid.SET-H${i}`, fromCustomer: true, at: t0 - 86_400_000 + i, body: P.text(body) })) },
      ]);
      expect((await s.postWebhook(first)).status).toBe(200);
      expect((await s.postWebhook(history)).status).toBe(200);
      for (const l of later) expect((await s.postWebhook(l)).status).toBe(200);
      await s.runtime.waitForInboxDrained(60_000);
      for (const w of ['wamid.SET-A1', 'wamid.SET-A2', 'wamid.SET-H0', 'wamid.SET-H2', ...later.map((_, i) => `wamid.SET-LATER-${i}`)]) expect((await stored(s, w))?.wamid).toBe(w);
      expect(await stored(s, 'wamid.SET-POISON')).toBeUndefined();
      expect(await stored(s, 'wamid.SET-H1')).toBeUndefined();

      const list = await s.api('/api/v1/inbox/set-aside');
      expect(list.status).toBe(200);
      const items = ((await list.json()) as { items: Array<{ kind: string; reason: string; phone_number_id: string; payload: unknown }> }).items;
      expect(items.length).toBe(2);
      for (const item of items) {
        expect(item).toMatchObject({ kind: 'message', phone_number_id: N.phoneNumberId });
        expect(item.reason).toContain('refused by a test trigger');
      }
      expect(items.map((i) => JSON.stringify(i.payload).match(/wamid\.SET-(POISON|H1)/)?.[0]).sort()).toEqual(['wamid.SET-H1', 'wamid.SET-POISON']);
      const metrics = await (await fetch(`${s.url}/metrics`)).text();
      expect(metrics).toMatch(/coex_inbox_set_aside_total\{kind="message"\} 2/);
      // A tenant token does not see other tenants' deliveries.
      const status = await s.api('/api/v1/inbox');
      expect(((await status.json()) as { set_aside: number }).set_aside).toBe(2);
    } finally {
      await sql`drop trigger if exists coex_test_refuse on messages`.execute(s.runtime.db);
    }
  });

  it('a transient failure delays its own number by seconds and other numbers not at all', async () => {
    await sql`create table coex_test_flaky (on_ boolean not null)`.execute(s.runtime.db);
    await sql`insert into coex_test_flaky values (true)`.execute(s.runtime.db);
    await sql`create or replace function coex_test_flaky() returns trigger language plpgsql as $$
      begin if new.text = 'FLAKY' and (select on_ from coex_test_flaky) then raise exception 'try again' using errcode = '40001'; end if; return new; end $$`.execute(s.runtime.db);
    await sql`create trigger coex_test_flaky before insert on messages for each row execute function coex_test_flaky()`.execute(s.runtime.db);
    try {
      expect((await s.postWebhook(P.inboundMessage(N, { waId: '212655555501' }, 'wamid.FLAKY', t0, P.text('FLAKY')))).status).toBe(200);
      expect((await s.postWebhook(P.inboundMessage(N, { waId: '212655555502' }, 'wamid.FLAKY-NEXT', t0 + 1, P.text('queued behind')))).status).toBe(200);
      await waitFor(async () => (await s.runtime.db.selectFrom('webhook_inbox').select('attempts').where('last_error', '=', 'try again').executeTakeFirst())?.attempts, 'a failed attempt', 30_000);
      // Meanwhile another number flows.
      expect((await s.postWebhook(P.inboundMessage(OTHER, { waId: '212655555503' }, 'wamid.FLOWS', t0, P.text('not blocked')))).status).toBe(200);
      await waitFor(() => stored(s, 'wamid.FLOWS'), 'the other number applied', 30_000);
      // The number keeps its order: what came after the failing delivery waits for it.
      expect(await stored(s, 'wamid.FLAKY-NEXT')).toBeUndefined();
      // Its retry is due within MAX_RETRY_DELAY_MS, not minutes.
      const wait = await sql<{ s: number }>`select extract(epoch from max(next_attempt_at) - now())::float8 as s from webhook_inbox where processed_at is null`.execute(s.runtime.db);
      expect(wait.rows[0]!.s).toBeLessThanOrEqual(5.5);
      await sql`update coex_test_flaky set on_ = false`.execute(s.runtime.db);
      await s.runtime.waitForInboxDrained(60_000);
      expect((await stored(s, 'wamid.FLAKY'))?.text).toBe('FLAKY');
      expect((await stored(s, 'wamid.FLAKY-NEXT'))?.text).toBe('queued behind');
      const aside = await s.runtime.db.selectFrom('webhook_set_aside').select('id').where('reason', 'like', '%try again%').execute();
      expect(aside).toEqual([]);
    } finally {
      await sql`drop trigger if exists coex_test_flaky on messages`.execute(s.runtime.db);
    }
  });
});
