import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/schema.js';

/**
 * Per-number send pacing shared by every process: a GCRA token bucket whose one piece of state (the
 * theoretical arrival time, `tat`) lives in PostgreSQL and is advanced with one atomic UPDATE
 * per send, using the database's clock so that processes on different machines agree. The caller
 * gets the moment its send is allowed and sleeps until then; nothing is counted per process, so two
 * senders share 20 msg/s instead of getting 20 each.
 */
export interface PaceOptions {
  /** Sends per second allowed for this number (20 for Coexistence numbers). */
  ratePerSecond: number;
  /** How many sends may go at once after idling (1 = strictly evenly spaced). */
  burst?: number;
  /** Fraction of the rate we actually use, leaving room for clock jitter and network reordering. */
  safety?: number;
}

export class DbPacer {
  constructor(private readonly db: Kysely<Database>) {}

  /** Reserves the next send slot for the number; returns milliseconds to wait before sending. */
  async reserve(phoneNumberId: string, options: PaceOptions): Promise<number> {
    const rate = options.ratePerSecond * (options.safety ?? 0.95);
    if (!(rate > 0)) throw new Error(`invalid send rate for ${phoneNumberId}: ${options.ratePerSecond}`);
    const intervalMs = 1000 / rate;
    const toleranceMs = Math.max(0, (options.burst ?? 1) - 1) * intervalMs;
    await this.db.insertInto('send_pacers').values({ phone_number_id: phoneNumberId }).onConflict((oc) => oc.doNothing()).execute();
    // new_tat = max(tat, now) + T ; allowed_at = new_tat - T - tolerance.
    const row = await sql<{ wait_ms: number }>`
      with now_ as (select clock_timestamp() as t),
      upd as (
        update send_pacers p
           set tat = greatest(p.tat, (select t from now_)) + make_interval(secs => ${intervalMs / 1000}),
               updated_at = (select t from now_)
         where p.phone_number_id = ${phoneNumberId}
     returning p.tat
      )
      select greatest(0, extract(epoch from ((select tat from upd) - make_interval(secs => ${(intervalMs + toleranceMs) / 1000}) - (select t from now_))) * 1000)::float8 as wait_ms`.execute(this.db);
    return Number(row.rows[0]?.wait_ms ?? 0);
  }

  /** Reserves a slot and waits for it. */
  async acquire(phoneNumberId: string, options: PaceOptions, signal?: AbortSignal): Promise<void> {
    const wait = await this.reserve(phoneNumberId, options);
    if (wait > 0) await sleep(wait, signal);
  }

  /**
   * Pushes every later send of the number back (130429 / 80007: Meta says we are too fast), so all
   * processes slow down, not only the one that was told.
   */
  async penalize(phoneNumberId: string, delayMs: number): Promise<void> {
    await sql`update send_pacers set tat = greatest(tat, clock_timestamp()) + make_interval(secs => ${delayMs / 1000}) where phone_number_id = ${phoneNumberId}`.execute(this.db);
  }
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason ?? new Error('aborted'));
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason ?? new Error('aborted'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
