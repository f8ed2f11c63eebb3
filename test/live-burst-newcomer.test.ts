import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { backends } from './helpers/backends.js';
import { isStored, lockWaiting, startTestServer } from './helpers/runtime.js';
import { waitFor } from './helpers/wait.js';
import * as P from '../core/src/whatsapp/payloads.js';

/**
 * A number whose deliveries keep a worker pass busy (a burst, or one long transaction) does not hold
 * back another number's customer (issue 12: "everything shows up fast"). A pass applied the numbers
 * it found until they were drained, and a number that became due meanwhile waited for all of it:
 * 1.9–2.6 s at the median during a 10,000-delivery burst (bench: ingestion, "another number's
 * customer"). Now a late look applies such a number beside the pass (worker/queue.ts). Reproduced
 * here by holding the busy number's lane inside its transaction: another transaction keeps the
 * thread row its message updates locked.
 */
describe.each(backends())('a newcomer beside a busy pass [%s]', { timeout: 60_000 }, (backend) => {
  const A: P.NumberRef = { wabaId: '102290129340398', phoneNumberId: '106540352246001', displayPhoneNumber: '212522126001' };
  const B: P.NumberRef = { wabaId: '102290129340398', phoneNumberId: '106540352246002', displayPhoneNumber: '212522126002' };
  const AT = Date.UTC(2026, 10, 28, 9, 0, 0);

  it("another number's message is applied while the pass's lane waits inside its transaction", async () => {
    const server = await startTestServer(backend);
    const holder = new pg.Client({ connectionString: server.database.databaseUrl });
    await holder.connect();
    let holding = false;
    try {
      expect((await server.postWebhook(P.inboundMessage(A, { waId: '212611000001' }, 'wamid.A.1', AT, P.text('salam')))).status).toBe(200);
      await waitFor(() => isStored(server, 'wamid.A.1'), 'A applied');
      await holder.query('begin');
      await holder.query('select 1 from threads where phone_number_id = $1 for update', [A.phoneNumberId]);
      holding = true;
      expect((await server.postWebhook(P.inboundMessage(A, { waId: '212611000001' }, 'wamid.A.2', AT + 1_000, P.text('wach kayn?')))).status).toBe(200);
      await waitFor(() => lockWaiting(server), "A's lane waiting on its thread row");

      expect((await server.postWebhook(P.inboundMessage(B, { waId: '212611000002' }, 'wamid.B.1', AT + 2_000, P.text('salam')))).status).toBe(200);
      await waitFor(() => isStored(server, 'wamid.B.1'), 'B applied beside the held lane', 10_000);
      expect(await isStored(server, 'wamid.A.2')).toBe(false);

      await holder.query('commit');
      holding = false;
      await server.runtime.waitForInboxDrained(30_000);
      expect(await isStored(server, 'wamid.A.2')).toBe(true);
    } finally {
      if (holding) await holder.query('rollback');
      await holder.end();
      await server.close();
    }
  });
});
