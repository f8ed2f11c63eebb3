import { createHash } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';

export interface InboxRow {
  partitionKey: string;
  rawBody: string;
}

interface Waiter {
  rows: InboxRow[];
  resolve: (newKeys: string[]) => void;
  reject: (error: unknown) => void;
}

/**
 * Durable webhook inbox with group commit: while one INSERT is in flight, the deliveries that arrive
 * meanwhile wait and are written together by the next one. Each caller is answered only after its
 * rows are committed, so a 200 always means "on disk". Duplicate deliveries (same partition, same
 * bytes: Meta's retries) are absorbed by the unique key.
 */
export class InboxWriter {
  private queue: Waiter[] = [];
  private flushing = false;

  constructor(private readonly db: Kysely<Database>, private readonly maxRowsPerInsert = 500) {}

  /** Resolves with the partition keys that received a new row (for waking workers). */
  write(rows: InboxRow[]): Promise<string[]> {
    return new Promise((resolve, reject) => {
      this.queue.push({ rows, resolve, reject });
      if (!this.flushing) void this.flush();
    });
  }

  private async flush(): Promise<void> {
    this.flushing = true;
    try {
      while (this.queue.length > 0) {
        const waiters: Waiter[] = [];
        let count = 0;
        while (this.queue.length > 0 && (count === 0 || count + this.queue[0]!.rows.length <= this.maxRowsPerInsert)) {
          const w = this.queue.shift()!;
          waiters.push(w);
          count += w.rows.length;
        }
        try {
          const values = waiters.flatMap((w) =>
            w.rows.map((r) => ({
              partition_key: r.partitionKey,
              body_sha256: createHash('sha256').update(r.rawBody).digest('hex'),
              raw_body: r.rawBody,
              processed_at: null,
              last_error: null,
              outcome: null,
            })),
          );
          const inserted = await this.db
            .insertInto('webhook_inbox')
            .values(values)
            .onConflict((oc) => oc.columns(['partition_key', 'body_sha256']).doNothing())
            .returning('partition_key')
            .execute();
          const fresh = new Set(inserted.map((r) => r.partition_key));
          for (const w of waiters) w.resolve(w.rows.map((r) => r.partitionKey).filter((k) => fresh.has(k)));
        } catch (error) {
          for (const w of waiters) w.reject(error);
        }
      }
    } finally {
      this.flushing = false;
    }
  }
}
