import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { backends } from './helpers/backends.js';
import { isStored, lockWaiting, startTestServer } from './helpers/runtime.js';
import { waitFor } from './helpers/wait.js';
import { HISTORY_LANES, historyLaneOf } from '../core/src/whatsapp/normalize.js';
import * as P from '../core/src/whatsapp/payloads.js';

/**
 * A number's history import does not hold back another number's live messages (issue 12: "everything
 * shows up fast"). The worker's passes waited for every lane they started, and a lane that applied a
 * history chunk held the next pass — and every live message due meanwhile — until its drain was done:
 * seconds during an import. History partitions are drained by lanes beside the passes
 * (worker/queue.ts). Reproduced here by holding the lane that records a chunk's progress inside its
 * transaction (another transaction keeps the number's sync state row locked).
 */
describe.each(backends())('history lanes beside live traffic [%s]', { timeout: 60_000 }, (backend) => {
  const A: P.NumberRef = { wabaId: '102290129340398', phoneNumberId: '106540352247001', displayPhoneNumber: '212522127001' };
  const B: P.NumberRef = { wabaId: '102290129340398', phoneNumberId: '106540352247002', displayPhoneNumber: '212522127002' };
  const AT = Date.UTC(2026, 10, 28, 9, 0, 0);
  /** One customer in each history lane. */
  const customers = (() => {
    const byLane = new Map<number, string>();
    for (let i = 0; byLane.size < HISTORY_LANES; i++) {
      const waId = `2126${String(i).padStart(8, '0')}`;
      if (!byLane.has(historyLaneOf(waId))) byLane.set(historyLaneOf(waId), waId);
    }
    return [...byLane.values()];
  })();

  it('a live message of another number is applied while a lane applying a history chunk waits inside its transaction', async () => {
    const server = await startTestServer(backend);
    const holder = new pg.Client({ connectionString: server.database.databaseUrl });
    await holder.connect();
    let holding = false;
    try {
      // Number A is known (its sync state row exists).
      expect((await server.postWebhook(P.inboundMessage(A, { waId: customers[0]! }, 'wamid.A.live', AT, P.text('salam')))).status).toBe(200);
      await waitFor(() => isStored(server, 'wamid.A.live'), 'A known');
      await holder.query('begin');
      await holder.query('select 1 from sync_state where phone_number_id = $1 for update', [A.phoneNumberId]);
      holding = true;
      const chunk = P.historyChunk(A, { phase: 0, chunkOrder: 1, progress: 100 }, customers.map((waId, t) => ({
        waId,
        messages: [0, 1].map((m) => ({ wamid: `wamid.A.hist.${t}.${m}`, fromCustomer: m === 1, at: AT - 86_400_000 + (t * 2 + m) * 1000, body: P.text(`old ${t}.${m}`) })),
      })));
      expect((await server.postWebhook(chunk)).status).toBe(200);
      // The lane that records the chunk's progress is waiting for the row, inside its transaction.
      await waitFor(() => lockWaiting(server), 'a lane waiting on the sync state row');

      expect((await server.postWebhook(P.inboundMessage(B, { waId: '212611000001' }, 'wamid.B.live', AT + 5_000, P.text('wach kayn?')))).status).toBe(200);
      await waitFor(() => isStored(server, 'wamid.B.live'), 'B applied beside the held lane', 10_000);
      const sync = await server.runtime.db.selectFrom('sync_state').select('history_chunks').where('phone_number_id', '=', A.phoneNumberId).executeTakeFirstOrThrow();
      expect(sync.history_chunks).toBe(0);

      await holder.query('commit');
      holding = false;
      await server.runtime.waitForInboxDrained(30_000);
      const stored = await server.runtime.db.selectFrom('messages').select('wamid').where('phone_number_id', '=', A.phoneNumberId).where('wamid', 'like', 'wamid.A.hist.%').execute();
      expect(stored).toHaveLength(2 * HISTORY_LANES);
      const after = await server.runtime.db.selectFrom('sync_state').select(['history_chunks', 'history_status']).where('phone_number_id', '=', A.phoneNumberId).executeTakeFirstOrThrow();
      expect(after).toEqual({ history_chunks: 1, history_status: 'complete' });
    } finally {
      if (holding) await holder.query('rollback');
      await holder.end();
      await server.close();
    }
  });
});
