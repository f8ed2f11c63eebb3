import { createHash } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/schema.js';

/** One acknowledged delivery: its bytes, and the partitions (numbers) it names. */
export interface InboxDelivery {
  rawBody: string;
  partitionKeys: string[];
}

interface Waiter {
  delivery: InboxDelivery;
  sha256: string;
  resolve: (newKeys: string[]) => void;
  reject: (error: unknown) => void;
}

/** Orders `[key, value]` entries by key (code units: hex hashes and digits, no locale). */
const byKey = ([a]: readonly [string, unknown], [b]: readonly [string, unknown]): number => (a < b ? -1 : a > b ? 1 : 0);

/** Tells a caller which of its delivery's numbers received a new row (`fresh`: number \u0001 hash). */
const answer = (w: Waiter, fresh: Set<string>): void => w.resolve(w.delivery.partitionKeys.filter((k) => fresh.has(`${k}\u0001${w.sha256}`)));

/** Channel a worker LISTENs on; notified in the transaction that makes deliveries durable. */
export const INBOX_CHANNEL = 'coex_inbox';

/**
 * Durable webhook inbox with group commit: deliveries that arrive while the database is busy wait
 * and are written together by the next statement. Each caller is answered only after its rows are
 * committed, so a 200 always means "on disk". Several groups are in flight at once (`maxInFlight`):
 * with one, every acknowledgement waited for the previous group's WAL flush, and the database's own
 * group flush (which covers concurrent commits) had nothing to combine. Deliveries whose requests
 * overlap have no order between them, so committing their groups in any order changes nothing.
 * One inbox row per number a delivery names; the bytes of a delivery naming several numbers are
 * stored once (`webhook_bodies`), those of one naming a single number in its row. Duplicates (Meta's
 * retries: same bytes) are absorbed by the unique keys. If a group's statement fails, its deliveries
 * are written one by one, so one bad delivery is refused alone and never fails the others committed
 * with it.
 */
export class InboxWriter {
  private queue: Waiter[] = [];
  private inFlight = 0;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly options: { maxRowsPerInsert?: number; maxInFlight?: number } = {},
  ) {}

  /** Resolves with the partition keys that received a new row (for waking workers). */
  write(delivery: InboxDelivery): Promise<string[]> {
    return new Promise((resolve, reject) => {
      this.queue.push({ delivery, sha256: createHash('sha256').update(delivery.rawBody).digest('hex'), resolve, reject });
      this.pump();
    });
  }

  /** Starts a group for each free slot; a finished group frees its slot and starts the next. */
  private pump(): void {
    const maxInFlight = this.options.maxInFlight ?? 4;
    while (this.inFlight < maxInFlight && this.queue.length > 0) {
      const group = this.takeGroup();
      this.inFlight += 1;
      void this.commit(group).finally(() => {
        this.inFlight -= 1;
        this.pump();
      });
    }
  }

  private takeGroup(): Waiter[] {
    const maxRows = this.options.maxRowsPerInsert ?? 500;
    const group: Waiter[] = [];
    let rows = 0;
    while (this.queue.length > 0 && (rows === 0 || rows + this.queue[0]!.delivery.partitionKeys.length <= maxRows)) {
      const w = this.queue.shift()!;
      group.push(w);
      rows += w.delivery.partitionKeys.length;
    }
    return group;
  }

  private async commit(group: Waiter[]): Promise<void> {
    try {
      const fresh = await this.insert(group);
      for (const w of group) answer(w, fresh);
    } catch (error) {
      if (group.length === 1) {
        group[0]!.reject(error);
        return;
      }
      // Find the culprit: each delivery alone. Only the one that cannot be stored is refused (503).
      for (const w of group) {
        try {
          answer(w, await this.insert([w]));
        } catch (single) {
          w.reject(single);
        }
      }
    }
  }

  /**
   * One statement: the inbox rows, the bytes of deliveries naming several numbers (once each, in
   * `webhook_bodies`), and a notification delivered at commit. A delivery naming one number — nearly
   * every delivery — carries its bytes in its own inbox row: a second row, its two index entries and
   * a foreign-key check per acknowledgement bought nothing for it.
   */
  private async insert(group: Waiter[]): Promise<Set<string>> {
    const shared = new Map<string, string>();
    const items = new Map<string, { key: string; sha: string; raw: string | null }>();
    for (const w of group) {
      const alone = w.delivery.partitionKeys.length === 1;
      if (!alone) shared.set(w.sha256, w.delivery.rawBody);
      for (const key of w.delivery.partitionKeys) items.set(`${key}\u0001${w.sha256}`, { key, sha: w.sha256, raw: alone ? w.delivery.rawBody : null });
    }
    // In one order (by hash, then number) so that two groups in flight that share a retried body
    // take its unique-index entries in the same order and cannot deadlock. (Whether a body is shared
    // follows from its bytes, so a body is in the same list in every group.)
    const bodies = [...shared].sort(byKey);
    const rows = [...items.entries()].sort(byKey).map(([, i]) => i);
    // `do update` on an existing body (a retry) only so that `returning` yields its id.
    const result = await sql<{ partition_key: string; body_sha256: string }>`
      with b as (
        insert into webhook_bodies (body_sha256, raw_body)
        select * from unnest(${bodies.map(([sha]) => sha)}::text[], ${bodies.map(([, raw]) => raw)}::text[])
        on conflict (body_sha256) do update set body_sha256 = excluded.body_sha256
        returning id, body_sha256
      ), i as (
        insert into webhook_inbox (partition_key, body_sha256, body_id, raw_body)
        select v.partition_key, v.body_sha256, b.id, v.raw_body
        from unnest(${rows.map((r) => r.key)}::text[], ${rows.map((r) => r.sha)}::text[], ${rows.map((r) => r.raw)}::text[]) with ordinality
          as v(partition_key, body_sha256, raw_body, n)
        left join b using (body_sha256)
        order by v.n
        on conflict (partition_key, body_sha256) do nothing
        returning partition_key, body_sha256
      )
      select partition_key, body_sha256, pg_notify(${INBOX_CHANNEL}, '') is null as n from i`.execute(this.db);
    return new Set(result.rows.map((r) => `${r.partition_key}\u0001${r.body_sha256}`));
  }
}
