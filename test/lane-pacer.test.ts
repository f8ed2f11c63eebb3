import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends, createTestDatabase, type TestDatabase } from './helpers/backends.js';
import { migrateToLatest, openDatabase, type DatabaseHandle } from '../core/src/db/index.js';
import { CampaignLanePacer, campaignLaneKey, DEFAULT_CAMPAIGN_SHARE, type LaneReservation } from '../core/src/campaigns/lane-pacer.js';

/**
 * The campaign lane's arithmetic, read from the pacer state in the database (never from wall time):
 * small and quick, so mutation testing (npm run test:mutation) can run it once per mutant.
 */
describe.each(backends())('campaign lane pacer [%s]', (backend) => {
  let database: TestDatabase;
  let handle: DatabaseHandle;
  let n = 0;
  const number = () => `1065403522${String(++n).padStart(5, '0')}`;
  const tatOf = async (key: string) => (await handle.db.selectFrom('send_pacers').select('tat').where('phone_number_id', '=', key).executeTakeFirstOrThrow()).tat.getTime();

  beforeAll(async () => {
    database = await createTestDatabase(backend);
    handle = await openDatabase({ databaseUrl: database.databaseUrl });
    await migrateToLatest(handle.db);
  });
  afterAll(async () => {
    await handle?.close();
    await database?.drop();
  });

  it('keeps campaigns to 60 % of the rate by default and refuses shares outside (0, 1]', () => {
    expect(DEFAULT_CAMPAIGN_SHARE).toBe(0.6);
    expect(new CampaignLanePacer(handle.db).share).toBe(0.6);
    expect(new CampaignLanePacer(handle.db, { share: 1 }).share).toBe(1);
    for (const share of [0, -0.5, 1.01, Number.NaN]) {
      expect(() => new CampaignLanePacer(handle.db, { share }), String(share)).toThrow(RangeError);
      expect(() => new CampaignLanePacer(handle.db, { share }), String(share)).toThrow(`campaign share must be in (0, 1], got ${share}`);
    }
    expect(campaignLaneKey('106540352242922')).toBe('106540352242922:campaign');
  });

  it('books lane slots one lane interval apart: rate × share × 0.95 safety, no burst', async () => {
    for (const share of [0.6, 0.25]) {
      const pn = number();
      const lane = new CampaignLanePacer(handle.db, { share });
      const rate = 0.1;
      await lane.acquire(pn, { ratePerSecond: rate });
      const first = await tatOf(campaignLaneKey(pn));
      const stop = new AbortController();
      stop.abort(new Error('not waiting'));
      await expect(lane.acquire(pn, { ratePerSecond: rate }, stop.signal)).rejects.toThrow(/not waiting/);
      const gap = (await tatOf(campaignLaneKey(pn))) - first;
      const expected = 1000 / (rate * share * 0.95);
      expect(gap, `share ${share}`).toBeGreaterThan(expected - 5);
      expect(gap, `share ${share}`).toBeLessThan(expected + 5);
    }
  });

  it('waits for its lane slot only when there is a wait, even when the number itself is idle', async () => {
    const stop = new AbortController();
    stop.abort(new Error('would have waited'));
    // A fresh lane and an idle number: no wait at all, so even an aborted signal does not stop it.
    const pn = number();
    const lane = new CampaignLanePacer(handle.db);
    await expect(lane.acquire(pn, { ratePerSecond: 0.1 }, stop.signal)).resolves.toBeUndefined();
    // The lane is now booked ~17.5 s ahead; the number's own bucket is made idle again (a live
    // reply has nothing queued): the campaign must still wait for its lane slot.
    await handle.db.updateTable('send_pacers').set({ tat: new Date(Date.now() - 3_600_000) }).where('phone_number_id', '=', pn).execute();
    await expect(lane.acquire(pn, { ratePerSecond: 0.1 }, stop.signal)).rejects.toThrow(/would have waited/);
  });

  it('takes the number’s slot only when its bucket is idle, and says how long the queue is otherwise', async () => {
    const pn = number();
    const lane = new CampaignLanePacer(handle.db);
    const first = await lane.reserveIfIdle(pn, { ratePerSecond: 0.1 });
    expect(first).toEqual({ taken: true, waitMs: 0 });
    const tat = await tatOf(pn);
    const second = await lane.reserveIfIdle(pn, { ratePerSecond: 0.1 });
    expect(second.taken).toBe(false);
    // The queue is one interval (1 / (0.1 × 0.95) s) minus the moment that passed.
    expect(second.waitMs).toBeGreaterThan(10_000);
    expect(second.waitMs).toBeLessThanOrEqual(1000 / (0.1 * 0.95));
    expect(await tatOf(pn)).toBe(tat);
    // A custom safety factor changes the interval.
    const pn2 = number();
    await lane.reserveIfIdle(pn2, { ratePerSecond: 0.1, safety: 0.5 });
    expect((await lane.reserveIfIdle(pn2, { ratePerSecond: 0.1, safety: 0.5 })).waitMs).toBeGreaterThan(19_000);
    await expect(lane.reserveIfIdle(number(), { ratePerSecond: 0 })).rejects.toThrow(/invalid send rate/);
  });

  it('reports each gate: lane first, then the number (standing back while it is busy)', async () => {
    const pn = number();
    const seen: LaneReservation[] = [];
    const lane = new CampaignLanePacer(handle.db, { onReservation: (r) => seen.push(r) });
    // A live reply just took the number's slot: the campaign stands back until it is free.
    // (1 msg/s: the number stays busy for about a second, longer than any database round trip here.)
    await lane.reserveIfIdle(pn, { ratePerSecond: 1 });
    await lane.acquire(pn, { ratePerSecond: 1 });
    expect(seen[0]).toMatchObject({ phoneNumberId: pn, gate: 'lane', taken: true, waitMs: 0 });
    const numberGates = seen.filter((r) => r.gate === 'number');
    expect(numberGates.at(-1)).toMatchObject({ phoneNumberId: pn, taken: true, waitMs: 0 });
    expect(numberGates.length).toBeGreaterThanOrEqual(2);
    expect(numberGates[0]).toMatchObject({ taken: false });
    expect(numberGates[0]!.waitMs).toBeGreaterThan(0);
  });
});
