import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import { DbPacer, sleep, type PaceOptions } from '../outbound/pacer.js';

/**
 * Campaign lane on top of the per-number pacer (docs/decisions/campaign-fair-pacing.md).
 *
 * A campaign send passes two gates, both GCRA state in `send_pacers`, shared by every process:
 * 1. the campaign lane `<phone_number_id>:campaign`, at `share` × the number's rate — so all
 *    campaigns on a number together use at most that share;
 * 2. the number's own bucket (the one live replies use), but only when that bucket has no queue:
 *    a campaign never books a slot in the future, it waits and asks again. Live traffic therefore
 *    never queues behind campaign sends: a live reply waits at most one send interval because of
 *    campaigns, however many campaign workers run and however late their timers fire.
 */

export const DEFAULT_CAMPAIGN_SHARE = 0.6;

export function campaignLaneKey(phoneNumberId: string): string {
  return `${phoneNumberId}:campaign`;
}

export interface LaneReservation {
  phoneNumberId: string;
  gate: 'lane' | 'number';
  /** For the number gate: false when the bucket had a queue and the campaign stood back. */
  taken: boolean;
  waitMs: number;
}

export interface CampaignLanePacerOptions {
  /** Fraction of the number's rate campaigns may use (0 < share ≤ 1). Default 0.6. */
  share?: number;
  /** Observes every reservation (tests and benchmarks assert on these, never on wall time). */
  onReservation?: (r: LaneReservation) => void;
}

export class CampaignLanePacer extends DbPacer {
  readonly share: number;
  private readonly database: Kysely<Database>;
  private readonly onReservation: ((r: LaneReservation) => void) | undefined;

  constructor(db: Kysely<Database>, options: CampaignLanePacerOptions = {}) {
    super(db);
    this.database = db;
    this.share = options.share ?? DEFAULT_CAMPAIGN_SHARE;
    if (!(this.share > 0 && this.share <= 1)) throw new RangeError(`campaign share must be in (0, 1], got ${this.share}`);
    this.onReservation = options.onReservation;
  }

  /** Called by SendService before each campaign send (and before each retry). */
  override async acquire(phoneNumberId: string, options: PaceOptions, signal?: AbortSignal): Promise<void> {
    const laneWait = await this.reserve(campaignLaneKey(phoneNumberId), { ...options, ratePerSecond: options.ratePerSecond * this.share, burst: 1 });
    this.onReservation?.({ phoneNumberId, gate: 'lane', taken: true, waitMs: laneWait });
    if (laneWait > 0) await sleep(laneWait, signal);
    for (;;) {
      const r = await this.reserveIfIdle(phoneNumberId, options);
      this.onReservation?.({ phoneNumberId, gate: 'number', taken: r.taken, waitMs: r.waitMs });
      if (r.taken) return;
      await sleep(Math.max(1, r.waitMs), signal);
    }
  }

  /**
   * Takes the number's next slot only if it is free now (tat ≤ now): then the send may go at once
   * and the bucket is left at most one interval ahead. Otherwise takes nothing and says how long
   * the queue is. Same interval arithmetic as DbPacer.reserve.
   */
  async reserveIfIdle(phoneNumberId: string, options: PaceOptions): Promise<{ taken: boolean; waitMs: number }> {
    const rate = options.ratePerSecond * (options.safety ?? 0.95);
    if (!(rate > 0)) throw new Error(`invalid send rate for ${phoneNumberId}: ${options.ratePerSecond}`);
    const intervalMs = 1000 / rate;
    await this.database.insertInto('send_pacers').values({ phone_number_id: phoneNumberId }).onConflict((oc) => oc.doNothing()).execute();
    // The outer SELECT sees the row as it was before the UPDATE (one snapshot per statement).
    const row = await sql<{ taken: boolean; wait_ms: number }>`
      with now_ as (select clock_timestamp() as t),
      upd as (
        update send_pacers p
           set tat = greatest(p.tat, (select t from now_)) + make_interval(secs => ${intervalMs / 1000}),
               updated_at = (select t from now_)
         where p.phone_number_id = ${phoneNumberId} and p.tat <= (select t from now_)
     returning p.tat
      )
      select exists (select 1 from upd) as taken,
             greatest(0, extract(epoch from ((select tat from send_pacers where phone_number_id = ${phoneNumberId}) - (select t from now_))) * 1000)::float8 as wait_ms`.execute(this.database);
    const r = row.rows[0];
    const taken = Boolean(r?.taken);
    return { taken, waitMs: taken ? 0 : Number(r?.wait_ms ?? 0) };
  }
}
