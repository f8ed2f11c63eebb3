import { createHash } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import { HISTORY_PARTITION_PATTERN } from '../whatsapp/normalize.js';

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

/** Most group statements in flight at once (each holds a pooled connection). */
const DEFAULT_MAX_IN_FLIGHT = 4;

/**
 * A second group starts beside the one in flight only once that one has taken this long (a group
 * waiting on a lock, a stalled flush). Under load a group's commit takes a few to tens of ms while
 * the worker shares the cores; at 5 ms the extra groups started then were small and costly (100
 * numbers: acknowledgements 0.53–0.59× the hand-rolled server, against 0.94–1.10× at 100 ms).
 */
const DEFAULT_OVERLAP_AFTER_MS = 100;

/** Channel a worker LISTENs on; notified in the transaction that makes deliveries durable. */
export const INBOX_CHANNEL = 'coex_inbox';

/**
 * The notification's payload: a history partition's key (a worker whose history lane holds it need
 * not look: queue.ts), else empty. PostgreSQL sends identical notifications of a transaction once, so
 * a group commit sends one for its live rows and at most one per history lane.
 */
const NOTIFY_PAYLOAD = sql`case when partition_key ~ ${HISTORY_PARTITION_PATTERN} then partition_key else '' end`;

/**
 * Durable webhook inbox with group commit: deliveries that arrive while the database is busy wait
 * and are written together by the next statement. Each caller is answered only after its rows are
 * committed, so a 200 always means "on disk". One group is in flight while commits are quick; another
 * starts only once the group started last has been in flight `overlapAfterMs` (a slow WAL flush, a
 * group waiting on a lock), up to `maxInFlight`: a fixed four in flight split a burst of eight
 * requests into groups of one or two — a statement, a commit and a wake-up each — and cost more CPU
 * than the flush they overlapped (docs/decisions/inbox-group-commit.md). Deliveries whose requests
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
  /** When the group started last began (performance.now()). */
  private lastStartedAt = 0;
  /** A pump scheduled for when the group in flight becomes slow enough to start another beside it. */
  private overlapTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly options: { maxRowsPerInsert?: number; maxInFlight?: number; overlapAfterMs?: number } = {},
  ) {}

  /** Resolves with the partition keys that received a new row (for waking workers). */
  write(delivery: InboxDelivery): Promise<string[]> {
    return new Promise((resolve, reject) => {
      this.queue.push({ delivery, sha256: createHash('sha256').update(delivery.rawBody).digest('hex'), resolve, reject });
      this.pump();
    });
  }

  /**
   * Starts the next group when nothing is in flight, or beside the ones in flight once the group
   * started last has taken `overlapAfterMs` (up to `maxInFlight`); a finished group starts the next.
   */
  private pump(): void {
    const maxInFlight = this.options.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT;
    const overlapAfterMs = this.options.overlapAfterMs ?? DEFAULT_OVERLAP_AFTER_MS;
    while (this.inFlight < maxInFlight && this.queue.length > 0) {
      const waited = performance.now() - this.lastStartedAt;
      if (this.inFlight > 0 && waited < overlapAfterMs) {
        this.overlapTimer ??= setTimeout(() => {
          this.overlapTimer = undefined;
          this.pump();
        }, overlapAfterMs - waited);
        return;
      }
      const group = this.takeGroup();
      this.inFlight += 1;
      this.lastStartedAt = performance.now();
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
   * a foreign-key check per acknowledgement bought nothing for it. Each body's bytes are a parameter
   * of their own (`t`), not an element of a text array: an array literal is escaped quote by quote by
   * the driver and unescaped again by the server, and a webhook body is mostly quotes.
   */
  private async insert(group: Waiter[]): Promise<Set<string>> {
    const shared = new Map<string, number>();
    const texts: string[] = [];
    const items = new Map<string, { key: string; sha: string; text: number | null }>();
    for (const w of group) {
      const alone = w.delivery.partitionKeys.length === 1;
      const text = texts.push(w.delivery.rawBody);
      if (!alone) shared.set(w.sha256, text);
      for (const key of w.delivery.partitionKeys) items.set(`${key}\u0001${w.sha256}`, { key, sha: w.sha256, text: alone ? text : null });
    }
    // In one order (by hash, then number) so that two groups in flight that share a retried body
    // take its unique-index entries in the same order and cannot deadlock. (Whether a body is shared
    // follows from its bytes, so a body is in the same list in every group.)
    const bodies = [...shared].sort(byKey);
    const rows = [...items.entries()].sort(byKey).map(([, i]) => i);
    if (bodies.length === 0) return this.insertAlone(rows.map((r) => ({ key: r.key, sha: r.sha, raw: texts[r.text! - 1]! })));
    // `do update` on an existing body (a retry) only so that `returning` yields its id.
    const result = await sql<{ partition_key: string; body_sha256: string }>`
      with t(text, raw_body) as (values ${sql.join(texts.map((raw, i) => sql`(${i + 1}::int, ${raw}::text)`))}),
      b as (
        insert into webhook_bodies (body_sha256, raw_body)
        select s.body_sha256, t.raw_body
        from unnest(${bodies.map(([sha]) => sha)}::text[], ${bodies.map(([, text]) => text)}::int[]) with ordinality as s(body_sha256, text, n)
        join t using (text)
        order by s.n
        on conflict (body_sha256) do update set body_sha256 = excluded.body_sha256
        returning id, body_sha256
      ), i as (
        insert into webhook_inbox (partition_key, body_sha256, body_id, raw_body)
        select v.partition_key, v.body_sha256, b.id, t.raw_body
        from unnest(${rows.map((r) => r.key)}::text[], ${rows.map((r) => r.sha)}::text[], ${rows.map((r) => r.text)}::int[]) with ordinality
          as v(partition_key, body_sha256, text, n)
        left join b using (body_sha256)
        left join t using (text)
        order by v.n
        on conflict (partition_key, body_sha256) do nothing
        returning partition_key, body_sha256
      )
      select partition_key, body_sha256, pg_notify(${INBOX_CHANNEL}, ${NOTIFY_PAYLOAD}) is null as n from i`.execute(this.db);
    return new Set(result.rows.map((r) => `${r.partition_key}\u0001${r.body_sha256}`));
  }

  /**
   * The same for a group in which every delivery names one number (nearly every group): one INSERT of
   * the rows with their bytes, and the notification. PostgreSQL plans a statement each time it is sent,
   * and planning the three-part statement above was most of its cost for a small group (statement-only
   * probe: PostgreSQL's CPU per delivery ~40 % lower alone and in groups of four, docs/benchmarks.md).
   */
  private async insertAlone(rows: Array<{ key: string; sha: string; raw: string }>): Promise<Set<string>> {
    const result = await sql<{ partition_key: string; body_sha256: string }>`
      with i as (
        insert into webhook_inbox (partition_key, body_sha256, raw_body)
        values ${sql.join(rows.map((r) => sql`(${r.key}, ${r.sha}, ${r.raw}::text)`))}
        on conflict (partition_key, body_sha256) do nothing
        returning partition_key, body_sha256
      )
      select partition_key, body_sha256, pg_notify(${INBOX_CHANNEL}, ${NOTIFY_PAYLOAD}) is null as n from i`.execute(this.db);
    return new Set(result.rows.map((r) => `${r.partition_key}\u0001${r.body_sha256}`));
  }
}
