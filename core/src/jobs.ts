import { fromKysely, type Job, type JobWithMetadata, type PgBoss, type Queue } from 'pg-boss';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Database } from './db/schema.js';

/** A pg-boss queue a capability owns: its name and options (retries, expiry, policy). */
export interface QueueSpec {
  name: string;
  options: Omit<Queue, 'name'>;
}

export interface EnqueueOptions {
  trx?: Kysely<Database>;
  startAfterSeconds?: number;
  singletonKey?: string;
}

/** How soon a job of a dead worker is noticed (pg-boss's minimum is 10). */
export const JOB_HEARTBEAT_SECONDS = 15;

/**
 * Follow-up work after a delivery is applied, on pg-boss queues. Each capability declares its own
 * queues (`QueueSpec`: name and options, in its `capability.ts`); the root creates them all at
 * start-up. Jobs are enqueued inside the transaction that applied a delivery (`trx`), so they exist
 * exactly when the data they refer to does. Handlers are idempotent: pg-boss delivers at least once.
 */
export class Jobs {
  constructor(private readonly boss: PgBoss, private readonly logger: Logger) {}

  /** Creates the queues (an existing queue keeps its options; only its heartbeat is brought up to date). */
  async init(queues: readonly QueueSpec[]): Promise<void> {
    for (const { name, options } of queues) {
      // Heartbeats: a job held by a process that died (kill -9) is retried within about a
      // heartbeat, instead of blocking its singleton key (CRM connection) until expireInSeconds.
      const withHeartbeat = { ...options, heartbeatSeconds: JOB_HEARTBEAT_SECONDS };
      await this.boss.createQueue(name, withHeartbeat).catch(async (error: unknown) => {
        if (!(error instanceof Error && /exist/i.test(error.message))) throw error;
        await this.boss.updateQueue(name, { heartbeatSeconds: JOB_HEARTBEAT_SECONDS }).catch(() => undefined);
      });
    }
  }

  async enqueue(queue: QueueSpec, data: object, opts: EnqueueOptions = {}): Promise<void> {
    await this.boss.send(queue.name, data, {
      ...(opts.trx ? { db: fromKysely(opts.trx) } : {}),
      ...(opts.startAfterSeconds ? { startAfter: opts.startAfterSeconds } : {}),
      ...(opts.singletonKey ? { singletonKey: opts.singletonKey } : {}),
    });
  }

  /** Many jobs of one queue in one statement (a history chunk's media: hundreds), with the queue's options. */
  async enqueueMany(queue: QueueSpec, data: readonly object[], opts: Pick<EnqueueOptions, 'trx'> = {}): Promise<void> {
    if (data.length === 0) return;
    await this.boss.insert(queue.name, data.map((d) => ({ data: d })), opts.trx ? { db: fromKysely(opts.trx) } : {});
  }

  /**
   * Runs a handler per job. `lastAttempt` tells the handler this is its final try, so it can record a
   * visible failure instead of leaving the item pending forever.
   */
  async work<T extends object>(queue: QueueSpec, handler: (data: T, ctx: { lastAttempt: boolean; jobId: string }) => Promise<void>, concurrency = 2): Promise<string> {
    const { name } = queue;
    return this.boss.work<T>(name, { batchSize: 1, localConcurrency: concurrency, pollingIntervalSeconds: 0.5, includeMetadata: true }, async (jobs: JobWithMetadata<T>[] | Job<T>[]) => {
      for (const job of jobs as JobWithMetadata<T>[]) {
        const lastAttempt = job.retryCount >= job.retryLimit;
        try {
          await handler(job.data, { lastAttempt, jobId: job.id });
        } catch (error) {
          this.logger.warn({ queue: name, jobId: job.id, retry: job.retryCount, lastAttempt, err: error instanceof Error ? error.message : String(error) }, 'job failed');
          throw error;
        }
      }
    });
  }
}
