import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { backends } from './helpers/backends.js';
import { startTestServer, type TestServer } from './helpers/runtime.js';
import { waitFor } from './helpers/wait.js';
import * as P from '../core/src/whatsapp/payloads.js';

/**
 * The README's durability and ordering promises ("What runs where"), each checked from the outside:
 * signed webhooks in through the real endpoint, results read from the admin API or the tables.
 * Every test here was seen failing against code broken on purpose (docs/testing.md lists how), so
 * they survive a rewrite of the worker's internals as long as the promise holds.
 */

const N: P.NumberRef = { wabaId: '102290129340398', phoneNumberId: '106540352242922', displayPhoneNumber: '212522123456' };
const t0 = Date.UTC(2026, 10, 24, 9, 0, 0);
const at = (minutes: number) => t0 + minutes * 60_000;

type ApiMessage = Record<string, unknown> & { wamid: string; type: string; text: string | null; status: string | null; media: Record<string, unknown> | null };

describe.each(backends())('README promises on ingestion [%s]', (backend) => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer(backend, { COEX_AGENT: 'off' });
  });
  afterAll(async () => {
    await s?.close();
  });

  async function post(body: unknown): Promise<void> {
    expect((await s.postWebhook(body)).status).toBe(200);
  }
  async function threadId(phoneNumberId: string, waId: string): Promise<string> {
    const res = await s.api(`/api/v1/threads?phone_number_id=${phoneNumberId}&wa_id=${waId}`);
    const threads = ((await res.json()) as { threads: Array<{ id: string }> }).threads;
    expect(threads).toHaveLength(1);
    return threads[0]!.id;
  }
  async function messages(phoneNumberId: string, waId: string): Promise<ApiMessage[]> {
    const res = await s.api(`/api/v1/threads/${await threadId(phoneNumberId, waId)}/messages`);
    expect(res.status).toBe(200);
    return ((await res.json()) as { messages: ApiMessage[] }).messages;
  }

  it('absorbs a delivery Meta repeats byte for byte: one stored copy, not two', async () => {
    const raw = JSON.stringify(P.inboundMessage(N, { waId: '212612000001', name: 'Youssef' }, 'wamid.DUP-1', at(1), P.text('salam')));
    await post(raw);
    await post(raw);
    await post(raw);
    await s.runtime.waitForInboxDrained();
    // The bytes are stored once: one inbox row for the number they name, holding them (a delivery
    // naming several numbers keeps them once in webhook_bodies: test/inbox-writer.test.ts).
    const copies = await s.runtime.db.selectFrom('webhook_inbox').select('id').where('raw_body', '=', raw).execute();
    expect(copies).toHaveLength(1);
    expect(await s.runtime.db.selectFrom('webhook_bodies').select('id').where('raw_body', '=', raw).execute()).toEqual([]);
    const messages = await s.runtime.db.selectFrom('messages').select('id').where('wamid', '=', 'wamid.DUP-1').execute();
    expect(messages).toHaveLength(1);
  });

  it('counts a history chunk once even when it is re-delivered in different bytes', async () => {
    const N2: P.NumberRef = { ...N, phoneNumberId: '106540352240001', displayPhoneNumber: '212522000001' };
    const chunk = P.historyChunk(N2, { phase: 0, chunkOrder: 1, progress: 50 }, [
      { waId: '212612000002', messages: [{ wamid: 'wamid.HC-1', fromCustomer: true, at: at(-5000), body: P.text('wach kayn?') }, { wamid: 'wamid.HC-2', fromCustomer: false, at: at(-4999), body: P.text('iyeh') }] },
    ]);
    // Same chunk, new bytes (Meta re-serializes on redelivery): the inbox's byte key cannot catch it.
    await post(JSON.stringify(chunk));
    await post(JSON.stringify(chunk, null, 2));
    await s.runtime.waitForInboxDrained();
    // Both deliveries stored (in the history lane of the chunk's one customer), the chunk counted once.
    const inboxRows = await s.runtime.db.selectFrom('webhook_inbox').select('id').where('partition_key', 'like', `${N2.phoneNumberId}/h%`).execute();
    expect(inboxRows).toHaveLength(2);
    const sync = (await (await s.api(`/api/v1/numbers/${N2.phoneNumberId}/sync`)).json()) as { history: { chunks: number; messages: number } };
    expect(sync.history).toMatchObject({ chunks: 1, messages: 2 });
  });

  it('upgrades a history placeholder when its media follow-up arrives after it (the normal order)', async () => {
    const N3: P.NumberRef = { ...N, phoneNumberId: '106540352240002', displayPhoneNumber: '212522000002' };
    const waId = '212612000003';
    await post(P.historyChunk(N3, { phase: 0, chunkOrder: 1, progress: 100 }, [{ waId, messages: [{ wamid: 'wamid.PH-1', fromCustomer: true, at: at(-3000), body: P.mediaPlaceholder, status: 'PLAYED' }] }]));
    await s.runtime.waitForInboxDrained();
    const before = await messages(N3.phoneNumberId, waId);
    expect(before).toHaveLength(1);
    expect(before[0]!.type).toBe('media_placeholder');
    await post(P.historyMediaFollowUp(N3, waId, 'wamid.PH-1', at(-3000), P.voiceNote('MEDIA-PH-1'), true));
    await s.runtime.waitForInboxDrained();
    const after = await messages(N3.phoneNumberId, waId);
    expect(after).toHaveLength(1);
    expect(after[0]).toMatchObject({ wamid: 'wamid.PH-1', type: 'audio', media: { id: 'MEDIA-PH-1', voice: true } });
  });

  it('ranks statuses above timestamps: a higher rank with an older timestamp wins, a lower rank with a newer one never regresses', async () => {
    const N4: P.NumberRef = { ...N, phoneNumberId: '106540352240003', displayPhoneNumber: '212522000003' };
    const waId = '212612000004';
    const wamid = 'wamid.RANK-1';
    await post(P.echo(N4, waId, wamid, at(0), P.text('Commande confirmée')));
    await s.runtime.waitForInboxDrained();
    // delivered (rank 2) stamped late, then read (rank 3) stamped EARLIER: read must win.
    await post(P.statusUpdate(N4, wamid, 'delivered', at(20), waId));
    await s.runtime.waitForInboxDrained();
    await post(P.statusUpdate(N4, wamid, 'read', at(10), waId));
    await s.runtime.waitForInboxDrained();
    const status = async () => (await messages(N4.phoneNumberId, waId)).find((m) => m.wamid === wamid)?.status;
    expect(await status()).toBe('read');
    // sent (rank 1) stamped newest: must not move it back.
    await post(P.statusUpdate(N4, wamid, 'sent', at(30), waId));
    await s.runtime.waitForInboxDrained();
    expect(await status()).toBe('read');
    // Same for statuses that arrive before their message.
    const early = 'wamid.RANK-2';
    await post(P.statusUpdate(N4, early, 'delivered', at(50), waId));
    await post(P.statusUpdate(N4, early, 'read', at(40), waId));
    await post(P.statusUpdate(N4, early, 'sent', at(60), waId));
    await post(P.echo(N4, waId, early, at(35), P.text('Livraison demain')));
    await s.runtime.waitForInboxDrained();
    expect((await messages(N4.phoneNumberId, waId)).find((m) => m.wamid === early)?.status).toBe('read');
  });

  it('sets aside the item the database refuses, visibly, and goes on with the rest of its number', { timeout: 180_000 }, async () => {
    const N5: P.NumberRef = { ...N, phoneNumberId: '106540352240004', displayPhoneNumber: '212522000004' };
    const waId = '212612000005';
    // A delivery that fails for a reason outside the worker's control: the database refuses its row.
    await sql
      .raw(
        `create or replace function coex_test_poison() returns trigger language plpgsql as $$
         begin
           if new.wamid = 'wamid.POISON' then raise exception 'poisoned by the test'; end if;
           return new;
         end $$`,
      )
      .execute(s.runtime.db);
    await sql
      .raw(
        `create trigger coex_test_poison before insert or update on messages for each row execute function coex_test_poison();`,
      )
      .execute(s.runtime.db);
    try {
      await post(P.inboundMessage(N5, { waId, name: 'Amine' }, 'wamid.POISON', at(100), P.text('this one cannot be stored')));
      await post(P.inboundMessage(N5, { waId, name: 'Amine' }, 'wamid.AFTER-POISON', at(101), P.text('but this one must be')));
      const after = await waitFor(
        async () => {
          const res = await s.api(`/api/v1/threads?phone_number_id=${N5.phoneNumberId}&wa_id=${waId}`);
          const threads = ((await res.json()) as { threads: Array<{ id: string }> }).threads;
          if (threads.length === 0) return undefined;
          const msgs = ((await (await s.api(`/api/v1/threads/${threads[0]!.id}/messages`)).json()) as { messages: ApiMessage[] }).messages;
          return msgs.some((m) => m.wamid === 'wamid.AFTER-POISON') ? msgs : undefined;
        },
        'the delivery after the poisoned one to be applied',
        150_000,
      );
      expect(after.map((m) => m.wamid)).toEqual(['wamid.AFTER-POISON']);
      await s.runtime.waitForInboxDrained(60_000);
      // Not retried for minutes and not lost: the refused item is kept with its reason, its delivery done.
      const aside = await s.runtime.db.selectFrom('webhook_set_aside').select(['kind', 'reason', 'payload', 'partition_key']).where('partition_key', '=', N5.phoneNumberId).execute();
      expect(aside).toHaveLength(1);
      expect(aside[0]!.kind).toBe('message');
      expect(aside[0]!.reason).toContain('poisoned by the test');
      expect(JSON.stringify(aside[0]!.payload)).toContain('wamid.POISON');
      const pending = await s.runtime.db.selectFrom('webhook_inbox').select('id').where('partition_key', '=', N5.phoneNumberId).where('processed_at', 'is', null).execute();
      expect(pending).toEqual([]);
      const metrics = await (await fetch(`${s.url}/metrics`)).text();
      expect(metrics).toMatch(/coex_inbox_set_aside_total\{kind="message"\} 1/);
    } finally {
      await sql.raw('drop trigger if exists coex_test_poison on messages').execute(s.runtime.db);
      await sql.raw('drop function if exists coex_test_poison()').execute(s.runtime.db);
    }
  });
});

describe.each(backends())('README promise: the worker polls the inbox [%s]', (backend) => {
  let s: TestServer;
  beforeAll(async () => {
    // The production poll interval (not a test override).
    s = await startTestServer(backend, { COEX_AGENT: 'off' }, { sweepIntervalMs: undefined });
  });
  afterAll(async () => {
    await s?.close();
  });

  it("picks up a stored delivery whose wake-up was lost, by the worker's own poll", { timeout: 120_000 }, async () => {
    // A crash between the 200 and the job: the row is in the inbox, nobody was told.
    const raw = JSON.stringify(P.inboundMessage(N, { waId: '212612000010', name: 'Khadija' }, 'wamid.SWEEP-1', at(200), P.text('salam, mazal kayn?')));
    const { createHash } = await import('node:crypto');
    await s.runtime.db
      .insertInto('webhook_inbox')
      .values({ partition_key: N.phoneNumberId, body_sha256: createHash('sha256').update(raw).digest('hex'), raw_body: raw, processed_at: null, last_error: null, outcome: null })
      .execute();
    const applied = await waitFor(
      async () => (await s.runtime.db.selectFrom('messages').select('id').where('wamid', '=', 'wamid.SWEEP-1').executeTakeFirst()) ?? undefined,
      'the sweep to apply the orphaned delivery',
      // A 1 s poll plus generous slack for a loaded machine; a poll broken or slowed to minutes fails.
      75_000,
    );
    expect(applied.id).toBeTruthy();
  });
});
